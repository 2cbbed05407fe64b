"""Due times between the processes that share one PostgreSQL store, over LISTEN/NOTIFY.

When a lease becomes due within the next minute, the process that made it so sends a ``NOTIFY``;
every process listening hands it to its expiry worker, so it learns of leases issued elsewhere
without scanning the table. Later due times need no message: a worker never sleeps longer than
that, and then looks at the store itself.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from ..redaction import redact

log = logging.getLogger("scaivault.pg_store")

NOTIFY_WITHIN = 60.0  # seconds; must be at least the expiry worker's longest sleep


class DueChannel:
    """The notification channel of one store schema: ``announce`` due times, ``subscribe`` to everyone's."""

    def __init__(self, conninfo: str, schema: str, pool: ConnectionPool, credentials: list[str]) -> None:
        self.name = f"scaivault_due_{schema}"[:63]
        self._conninfo, self._pool, self._credentials = conninfo, pool, credentials
        self._callbacks: list[Any] = []
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None

    def subscribe(self, callback: Any) -> None:
        """Call ``callback(due_at)`` whenever any process makes a lease due at ``due_at`` (from a LISTEN thread).

        After (re)connecting it is called with ``-inf``: anything announced meanwhile was missed.
        """
        self._callbacks.append(callback)
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen, name="scaivault-listen", daemon=True)
            self._listener.start()

    def announce(self, due_at: float, pending: list[float] | None = None) -> None:
        """Tell other processes a lease is due at ``due_at``, if that is soon enough to matter.

        ``pending`` is the open transaction's list: what it holds is sent once committed
        (``send``), since listeners must find in the store what they are told of.
        """
        # A worker sleeps at most ExpiryWorker.max_sleep (30 s) and then looks at the store itself,
        # so only due times inside that horizon are worth waking anyone for.
        if due_at > time.time() + NOTIFY_WITHIN:
            return
        if pending is not None:
            pending.append(due_at)
        else:
            self.send([due_at])

    def send(self, due_times: list[float]) -> None:
        if not due_times:
            return
        # In a transaction of its own with asynchronous commit: PostgreSQL serialises the commits of
        # notifying transactions, so one that waited for a WAL flush would queue every other process
        # behind it. A notification lost in a server crash costs at most one worker sleep.
        notify = sql.SQL("; ").join(
            sql.SQL("SELECT pg_notify({}, {})").format(sql.Literal(self.name), sql.Literal(repr(t))) for t in due_times
        )
        try:
            with self._pool.connection() as conn:
                conn.execute(sql.SQL("BEGIN; SET LOCAL synchronous_commit TO off; {}; COMMIT").format(notify))
        except psycopg.Error as exc:
            log.warning(
                "announcing a due lease failed (other processes find it within a worker sleep): %s", type(exc).__name__
            )

    def _tell(self, due_at: float) -> None:
        for callback in list(self._callbacks):
            try:
                callback(due_at)
            except Exception:
                log.exception("a due-time subscriber failed")

    def _listen(self) -> None:
        backoff = 0.5
        while not self._closed.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.name)))
                    backoff = 0.5
                    self._tell(float("-inf"))
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=0.5):
                            try:
                                self._tell(float(note.payload))
                            except ValueError:
                                continue
            except psycopg.Error as exc:
                if self._closed.is_set():
                    return
                log.warning(
                    "listening for new leases failed, reconnecting in %.1fs: %s",
                    backoff,
                    redact(str(exc).strip(), self._credentials),
                )
                self._closed.wait(backoff)
                backoff = min(backoff * 2, 30.0)
