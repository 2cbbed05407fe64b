"""The store's schema version, shared by both backends' migrations.

A store records each migration it has had (``_migrations``: name and when). Its version is the number
of its newest migration (``m006_...`` is version 6); this release's is the number of its newest. A
store holding migrations this release does not know was upgraded by a newer release: opening it is
refused, since this code would misread what those migrations changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from ..errors import InvalidConfig

_NUMBER = re.compile(r"m(\d+)_")


def number(name: str) -> int:
    """The version a migration brings a store to (``m006_identity_quotas`` -> 6)."""
    match = _NUMBER.match(name)
    return int(match.group(1)) if match else 0


def version(names: Iterable[str]) -> int:
    return max((number(n) for n in names), default=0)


def now() -> str:
    """When a migration is applied, as recorded by the SQLite store (the PostgreSQL store records epoch seconds)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def pending(applied: Iterable[str], known: list[str], store: str) -> list[str]:
    """The migrations of ``known`` that ``applied`` lacks; refused if the store has any this release does not know."""
    done = set(applied)
    newer = sorted(done - set(known), key=number)
    if newer:
        raise InvalidConfig(
            f"The store {store} has schema version {version(done)} ({newer[-1]}), newer than this release's "
            f"version {version(known)}: a newer ScaiVault upgraded it. Run that release or a later one "
            "(`pip install -U scaivault`), or restore a snapshot taken before the upgrade (docs/deploy.md).",
            field="store",
        )
    return [name for name in known if name not in done]


@attrs.frozen
class SchemaStatus:
    """What ``scaivault store status`` and ``scaivault migrate --dry-run`` report."""

    store: str
    version: int  # the store's
    release_version: int  # this release's
    applied: list[dict[str, str | None]]  # name, applied_at (ISO 8601; None where an old release wrote none)
    pending: list[str]


def status(store: str, applied: list[tuple[str, str | None]], known: list[str]) -> SchemaStatus:
    todo = pending([name for name, _ in applied], known, store)
    return SchemaStatus(
        store,
        version(name for name, _ in applied),
        version(known),
        [{"name": name, "applied_at": at} for name, at in applied],
        todo,
    )


def iso(value: object) -> str | None:
    """An ``applied_at`` as recorded (epoch seconds, ISO text, or the placeholder ``"now"`` of old releases)."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds")
    if isinstance(value, str) and value[:1].isdigit():
        return value
    return None
