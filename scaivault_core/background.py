"""A daemon thread the vault starts and stops: the expiry worker and the pool worker share this life cycle."""

from __future__ import annotations

import threading


class BackgroundThread:
    """``_run`` in a daemon thread named ``thread_name``; ``_wake`` interrupts its sleep, ``_stop`` ends it."""

    thread_name = "scaivault-worker"

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
