"""One pooled root connection per engine, serialised: concurrent role DDL on one server conflicts.

PostgreSQL answers concurrent GRANT/REVOKE from several connections with "tuple concurrently
updated", and retrying is slower than queueing, so every statement batch for a target goes
through one connection under a lock. Across processes, an advisory lock does the same.

Revocations go ahead of issues waiting for that lock, and issues ahead of a warm pool's refill
(``priority``, ``scaivault_core.kits.turns``).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig
from scaivault_core.kits.turns import ISSUE, TurnLock

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

# Messages that mean the server answered and refused us: a config problem, not an outage.
_REFUSED = (
    "password authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "authentication failed",
    "role is not permitted to log in",
    "invalid password",
)


def classify(exc: psycopg.Error, *, connecting: bool) -> Exception:
    """A driver error as the core's error: refused credentials, unreachable target, or a refused statement."""
    import psycopg  # imported at first use: start-up loads every installed plugin

    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.OperationalError) and connecting:
        if any(reason in message for reason in _REFUSED):
            return InvalidConfig(f"PostgreSQL refused the root credentials: {message}")
        return EngineUnreachable(f"Cannot reach PostgreSQL: {message}")
    if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) and not isinstance(
        exc, psycopg.errors.ProgramLimitExceeded
    ):
        return EngineUnreachable(f"Lost the connection to PostgreSQL: {message}")
    if "row is too big" in message:
        return EngineError(
            "PostgreSQL refused the statement: row is too big. Each user granted rights directly on a table adds "
            'to that table\'s ACL; grant a pre-made group role instead (GRANT readonly_group TO "{{name}}").',
        )
    return EngineError(f"PostgreSQL refused the statement: {message}")


class RootRights(NamedTuple):
    """What the root role may do, read at each login (an operator may change it between two)."""

    superuser: bool
    create_role: bool  # SUPERUSER or CREATEROLE: may create and drop roles


class RootConnection:
    """A lazily opened, self-healing root connection used under a lock."""

    def __init__(self, engine_name: str, url: Callable[[], str], connect_timeout: int) -> None:
        self._url, self._timeout = url, connect_timeout
        self._conn: psycopg.Connection | None = None
        self._lock = TurnLock()
        self.lock_key = zlib.crc32(f"scaivault:{engine_name}".encode())  # advisory lock id for this target
        self.rights = RootRights(superuser=False, create_role=False)  # of the open connection; read inside run()

    def _connect(self) -> psycopg.Connection:
        import psycopg

        try:
            conn = psycopg.connect(self._url(), autocommit=True, connect_timeout=self._timeout)
        except psycopg.Error as exc:
            raise classify(exc, connecting=True) from None
        try:
            row = conn.execute(
                "SELECT rolsuper, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise classify(exc, connecting=True) from None
        self.rights = RootRights(*(row or (False, False)))
        return conn

    def run(self, work: Callable[[psycopg.Connection], T], priority: int = ISSUE) -> T:
        """Run ``work`` on the root connection (before waiting work of a lower ``priority``); reconnect once
        if the pooled connection went stale."""
        import psycopg

        with self._lock.hold(priority):
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                try:
                    return work(self._conn)
                except psycopg.OperationalError as exc:
                    stale = self._conn.closed or self._conn.broken
                    self.close_unlocked()
                    if attempt == 2 or not stale:
                        raise classify(exc, connecting=False) from None
                except psycopg.Error as exc:
                    raise classify(exc, connecting=False) from None
            raise AssertionError("unreachable")

    def execute_atomically(self, statements: list[str], priority: int = ISSUE) -> None:
        """All ``statements`` in one round trip and one transaction, serialised with other processes."""
        # Plain text: composing an sql.SQL object per statement was a tenth of revoking a batch. Without
        # parameters, psycopg sends the text as it is, just as it did the composed statements.
        query = "; ".join([f"SELECT pg_advisory_xact_lock({int(self.lock_key)})", *statements])

        def work(conn: psycopg.Connection) -> None:
            # A multi-statement simple query runs as one implicit transaction: atomic, one round trip.
            conn.execute(query)  # type: ignore[arg-type]  # rendered role statements, not a literal

        self.run(work, priority)

    def close_unlocked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        with self._lock.hold():
            self.close_unlocked()
