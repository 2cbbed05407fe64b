"""Who goes first on a target's one root connection: revocations, then issues, then a warm pool's refill.

Database engines send every statement batch through one root connection under a lock (concurrent
account DDL conflicts, or commits statement by statement). With several clients issuing, an expiring
lease otherwise waited behind every queued issue, and its user outlived its lease by as many
creations; and a pool's refill, made to spare issues the cost of creating users, must not make them
wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Who goes first when several wait (higher first).
REVOKE, ISSUE, REFILL = 2, 1, 0


class TurnLock:
    """A lock whose waiters go in by priority: a holder waits while anyone of a higher priority waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._waiting = [0, 0, 0]  # per priority

    @contextmanager
    def hold(self, priority: int = ISSUE) -> Iterator[None]:
        with self._cond:
            self._waiting[priority] += 1
            try:
                while self._held or any(self._waiting[priority + 1 :]):
                    self._cond.wait()
            finally:
                self._waiting[priority] -= 1
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()
