"""Polling for something another process or thread makes true."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.05) -> bool:
    """Whether ``condition()`` became true within ``timeout`` seconds.

    It is asked every ``interval``, and once more at the end.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
