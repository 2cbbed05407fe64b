"""Moves the SQLite store's WAL checkpoints off the request path.

In WAL mode a commit only appends pages to the log; a *checkpoint* copies them back into the
database file and syncs both to disk. SQLite runs one inline, in whichever commit crosses
``wal_autocheckpoint`` pages, and that caller waits for the fsyncs: with four commits per
issue+revoke pair, that was a fifth of the core's time. A thread with its own connection runs
passive checkpoints instead, which never block writers; one that finds the log past
``RESTART_FRAMES`` restarts it, so a store under constant writes keeps a bounded log.
The inline checkpoint stays as a backstop at ``BACKSTOP_PAGES``, should this thread fall behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("scaivault.store")

BACKSTOP_PAGES = 8192  # 32 MiB of 4 KiB pages: the writer checkpoints inline only past this
RESTART_FRAMES = 2048  # 8 MiB: a log this long is restarted, briefly holding writers back
JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024  # a restarted log file is truncated to at most this
BUSY_INTERVAL, IDLE_INTERVAL = 0.05, 1.0  # seconds between checks while writes arrive / while idle


class Checkpointer:
    """A daemon thread checkpointing ``path``'s WAL until ``stop()``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scaivault-sqlite-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            interval, last = BUSY_INTERVAL, -1
            while not self._stopping.wait(interval):
                try:
                    frames = self.checkpoint(conn)
                except sqlite3.Error as exc:  # a locked or busy file: the next round, or the backstop, catches up
                    log.warning("WAL checkpoint of %s failed: %s", self._path, exc)
                    frames = -1
                interval, last = (IDLE_INTERVAL if frames == last else BUSY_INTERVAL), frames
        finally:
            conn.close()

    @staticmethod
    def checkpoint(conn: sqlite3.Connection) -> int:
        """One round; returns the log's length in frames (unchanged since the last round: nothing was written)."""
        _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if frames > RESTART_FRAMES:
            conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        return frames
