"""Readiness: can this process do its work now? Liveness (``GET /v1/health``) only says it answers.

Three parts, each ``ok`` or ``failing``: the ``store`` answers a cheap question within
``STORE_DEADLINE`` (a hung store is failing, not a hung probe); the ``expiry_worker`` runs and is
not stuck (its heartbeat, ``expiry``); every installed ``plugins`` loaded. It is served without a
token, so it names the parts and nothing else: why one fails is in the log and in ``scaivault plugins``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from .errors import Unavailable

STORE_DEADLINE = 2.0  # seconds the store may take to answer the probe
OK, FAILING = "ok", "failing"


class NotReady(Unavailable):
    """``503 unavailable``, naming the failing parts in ``details.failing``."""

    def __init__(self, checks: dict[str, str]) -> None:
        failing = [part for part, state in checks.items() if state != OK]
        super().__init__(
            f"Not ready: {', '.join(failing)} failing; the server's log says why.", failing=failing, checks=checks
        )


class StoreProbe:
    """Asks the store one question in a thread of its own and waits at most ``deadline`` for the answer.

    At most one probe is in flight: while one hangs, later checks wait on it rather than pile up threads.
    """

    def __init__(self, store: Any, deadline: float = STORE_DEADLINE) -> None:
        self._store, self._deadline = store, deadline
        self._lock = threading.Lock()
        self._probe: tuple[threading.Thread, float, dict[str, bool]] | None = None

    def answers(self) -> bool:
        with self._lock:
            if self._probe is None or not self._probe[0].is_alive():
                outcome: dict[str, bool] = {}
                thread = threading.Thread(target=self._ask, args=(outcome,), name="scaivault-store-probe", daemon=True)
                self._probe = (thread, time.monotonic(), outcome)
                thread.start()
            thread, started, outcome = self._probe
        thread.join(max(0.0, started + self._deadline - time.monotonic()))
        return outcome.get("ok", False)

    def _ask(self, outcome: dict[str, bool]) -> None:
        try:
            self._store.next_due_at()  # an index lookup, in every store
            outcome["ok"] = True
        except Exception:  # unreachable, locked, broken: failing, whatever the reason
            outcome["ok"] = False


def readiness(store: StoreProbe, worker: Any, load_errors: dict[str, str]) -> dict[str, str]:
    """Each part's state, ``ok`` or ``failing``."""
    return {
        "store": OK if store.answers() else FAILING,
        "expiry_worker": FAILING if worker.stuck() else OK,
        "plugins": FAILING if load_errors else OK,
    }
