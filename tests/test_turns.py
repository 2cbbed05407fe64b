"""The root connection's lock (``kits.turns``): whoever waits with a higher priority goes first, so an
expiring lease's revocation does not wait behind queued issues, nor an issue behind a pool's refill."""

from __future__ import annotations

import threading

from scaivault_core.kits.turns import ISSUE, REFILL, REVOKE, TurnLock
from scaivault_core.testing import wait_until

BOUND = 60.0


def test_waiters_go_in_by_priority_then_in_any_order_within_one():
    lock = TurnLock()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with lock.hold(ISSUE):
            order.append("holder")
            release.wait(BOUND)

    def waiter(name: str, priority: int) -> None:
        with lock.hold(priority):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    assert wait_until(lambda: order == ["holder"], timeout=BOUND)
    waiters = [
        threading.Thread(target=waiter, args=(name, priority))
        for name, priority in (("refill", REFILL), ("issue", ISSUE), ("revoke", REVOKE))
    ]
    for thread in waiters:  # the lowest priority queues first, the highest last
        thread.start()
    assert wait_until(lambda: lock._waiting == [1, 1, 1], timeout=BOUND)
    release.set()
    for thread in [first, *waiters]:
        thread.join(BOUND)
    assert order == ["holder", "revoke", "issue", "refill"]


def test_an_exception_inside_releases_the_lock():
    lock = TurnLock()
    try:
        with lock.hold(REVOKE):
            raise RuntimeError("the statement failed")
    except RuntimeError:
        pass
    done = threading.Event()

    def take() -> None:
        with lock.hold(REFILL):
            done.set()

    threading.Thread(target=take).start()
    assert done.wait(BOUND)
