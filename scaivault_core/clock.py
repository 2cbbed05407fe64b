"""Time, injectable: the expiry worker and TTL arithmetic read it here so tests never sleep for TTLs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What the core needs of time: the current instant, as epoch seconds."""

    def time(self) -> float: ...

    def on_advance(self, callback: Callable[[], None]) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        import time

        return time.time()

    def on_advance(self, callback: Callable[[], None]) -> None:
        """Real time advances by itself; nobody needs waking."""


class ManualClock:
    """A clock that moves only when told to; advancing it wakes the expiry worker."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def time(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake whoever waits on it."""
        with self._lock:
            self._now += seconds
        for callback in list(self._callbacks):
            callback()

    def on_advance(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)


def to_datetime(epoch: float) -> datetime:
    """An aware UTC datetime for epoch seconds."""
    return datetime.fromtimestamp(epoch, tz=UTC)


def iso(epoch: float | None) -> str | None:
    """The guide's timestamp form: ``2026-04-23T16:00:00Z`` (whole seconds)."""
    if epoch is None:
        return None
    return to_datetime(int(epoch)).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(text: str | None) -> float | None:
    """The inverse of ``iso``: epoch seconds for the guide's timestamp form (None stays None)."""
    if text is None:
        return None
    return datetime.fromisoformat(text).timestamp()
