"""Vaults for a test: opened on one store with the test's defaults, all closed when it ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from ..plugin_manager import make_plugin_manager
from ..vault import Vault


class VaultFactory:
    """``factory(**overrides)`` opens a Vault on ``store``; ``close_all()`` closes every one opened.

    ``plugins`` (modules or objects with hookimpls) replaces entry-point discovery, so a plugin's
    tests see only that plugin; any other keyword is a default for ``Vault(...)``.
    """

    def __init__(self, store: Any, *, plugins: Iterable[object] | None = None, **defaults: Any) -> None:
        self.store, self.plugins, self.defaults = store, plugins, defaults
        self.opened: list[Vault] = []

    def __call__(self, **overrides: Any) -> Vault:
        kwargs = {**self.defaults, **overrides}
        if self.plugins is not None:
            kwargs.setdefault("plugin_manager", make_plugin_manager(load_entrypoints=False, plugins=list(self.plugins)))
        vault = Vault(self.store, **kwargs)
        self.opened.append(vault)
        return vault

    def close_all(self) -> None:
        for vault in self.opened:
            with contextlib.suppress(Exception):  # a test may have closed it, or left it half-open on purpose
                vault.close()
        self.opened.clear()
