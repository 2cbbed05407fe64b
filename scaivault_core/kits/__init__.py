"""Kits for engine plugins: pieces several plugins share, kept out of the core's top-level API.

- ``kits.sql``: a role made of statement templates, its checks, revocation and renewal rendering.
- ``kits.connection_urls``: root credentials substituted into a target's connection URL, as values.
- ``kits.service_urls``: the check of a REST endpoint an engine calls (https, or http to this machine).
- ``kits.turns``: the root connection's lock, letting revocations go before issues, issues before refills.
- ``kits.http``: an HTTPS client for REST targets: TLS trust, bounded retries, error mapping (imports httpx).

A submodule is imported at its first use (``kits.http.response_error(...)``), so a plugin that
names the kit at start-up does not pay for httpx until it calls a target.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("sql", "connection_urls", "service_urls", "turns", "http")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
