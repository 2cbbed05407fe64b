"""Observers: in-process listeners the core tells what it makes, for checks that watch a whole process.

The test suite's leak watch (``conftest.py`` at the repository root) is one: it collects every
secret as it is born and fails a test whose log records, audit entries, errors or reprs show one
in clear. An observer runs in the thread that made the value; it must be quick and must not raise.
With none added, telling costs a call and an empty loop.

Events, and the value each carries:

- ``secret``: values just born that must never be shown: an issued credential's data, a stored
  secret's data (a dict, or the whole text), a minted token (``{"token": ...}``).
- ``shown``: an object handed to a caller, whose ``repr`` must not show a secret (an issued
  credential and its lease, a stored secret's version).
- ``audit``: an ``AuditEvent`` as recorded (secret values in it only as keyed hashes).
- ``error``: a ``ScaiVaultError`` just made (its message may yet be masked before it is raised).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Observer = Callable[[str, Any], None]

_observers: tuple[Observer, ...] = ()  # replaced, never changed in place: telling needs no lock


def add_observer(observer: Observer) -> None:
    """Call ``observer(event, value)`` for every event from now on, in every vault of this process."""
    global _observers
    _observers = (*_observers, observer)


def remove_observer(observer: Observer) -> None:
    global _observers
    _observers = tuple(o for o in _observers if o is not observer)


def tell(event: str, value: Any) -> None:
    """Hand ``value`` to every observer as ``event``."""
    for observer in _observers:
        observer(event, value)
