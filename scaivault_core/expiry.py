"""The expiry worker: sleeps until the next lease is due, then revokes due leases in batches.

It never loads all leases: it asks the store for the earliest due time (an index lookup) and
claims due leases a batch at a time, so start-up and steady-state cost do not grow with the
number of leases. Claims carry a deadline; a process that dies mid-revocation leaves its claims
to whoever looks next.

The worker keeps a heartbeat for readiness (``health``): before each sleep it promises to be back
by the sleep's end, and during a pass, after each batch, within the claim timeout. One that misses
its promise is stuck (its claims have lapsed meanwhile), and the process is not ready.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from .background import BackgroundThread
from .leases import LeaseManager
from .store import Store

log = logging.getLogger("scaivault.expiry")


class ExpiryWorker(BackgroundThread):
    thread_name = "scaivault-expiry"

    def __init__(
        self,
        leases: LeaseManager,
        store: Store,
        clock: Any,
        *,
        batch_size: int = 500,
        max_sleep: float = 30.0,
        scheduled: Callable[[], object] = lambda: None,
    ) -> None:
        self._leases, self._store, self._clock, self._scheduled = leases, store, clock, scheduled
        super().__init__()
        self.batch_size, self.max_sleep = batch_size, max_sleep
        self._next_wake = float("inf")
        self.heartbeat = time.monotonic()  # the last sign of life, on the real clock (not the vault's)
        self._back_by = float("inf")  # when the next one is due at the latest
        clock.on_advance(self.wake)
        leases.on_new_due = self.due_at

    def wake(self) -> None:
        self._wake.set()

    def due_at(self, when: float) -> None:
        """A lease became due at ``when``: wake early if that is before the planned wake-up."""
        if when < self._next_wake:
            self._wake.set()

    def stuck(self) -> bool:
        """Not running, or past the time its heartbeat promised (see the module's docstring)."""
        running = self._thread is not None and self._thread.is_alive()
        return not running or time.monotonic() > self._back_by

    def _beat(self, back_within: float) -> None:
        self.heartbeat = time.monotonic()
        self._back_by = self.heartbeat + back_within

    def run_pending(self) -> int:
        """Revoke everything due now, batch by batch; returns how many leases were handled."""
        handled = 0
        while not self._stop.is_set():
            self._beat(self._leases.options.claim_timeout)
            now = self._clock.time()
            claimed = self._store.claim_due(
                now, self.batch_size, self._leases.instance, now + self._leases.options.claim_timeout
            )
            if not claimed:
                return handled
            self._leases.revoke_claimed(claimed)
            handled += len(claimed)
        return handled

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_pending()
                self._beat(self._leases.options.claim_timeout)
                self._scheduled()  # retirements, scheduled rotations and job take-overs share this thread
                due = [t for t in (self._store.next_due_at(), self._store.next_scheduled_at()) if t is not None]
                next_due = min(due) if due else None
            except Exception:  # a store hiccup must not kill expiry; try again shortly
                log.exception("expiry pass failed")
                next_due = self._clock.time() + 1
            now = self._clock.time()
            timeout = self.max_sleep if next_due is None else min(max(next_due - now, 0.0), self.max_sleep)
            self._next_wake = now + timeout
            self._beat(timeout + self._leases.options.claim_timeout)
            self._wake.wait(timeout)
            self._wake.clear()


def instance_id() -> str:
    """Names this process in claims: host and pid let a restart on the same host spot its dead predecessors."""
    return f"{socket.gethostname()}/{os.getpid()}/{os.urandom(4).hex()}"


def release_dead_claims(store: Store, clock: Any, me: str) -> int:
    """Hand claims of dead processes on this host (an interrupted issue or revocation) to the worker now."""
    released = 0
    for claimant in store.claimants():
        if claimant != me and dead_on_this_host(claimant):
            released += store.release_claims(claimant, clock.time())
    return released


def dead_on_this_host(claimant: str | None) -> bool:
    """Whether ``claimant`` (an ``instance_id``) names a process of this host that is no longer running."""
    parts = (claimant or "").split("/")
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not _alive(int(parts[1]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
