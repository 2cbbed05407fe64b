"""The engine's root connection: one per engine, opened lazily, used under a lock, re-opened when stale.

MySQL commits every account statement (CREATE USER, GRANT, DROP USER) on its own, so there is no
transaction to batch them in; one autocommit connection under a lock keeps a process's creations
and revocations from interleaving and saves a login per lease. Issues and revocations go ahead of a
warm pool's refill waiting for it (``scaivault_core.kits.turns``); revocations do not go ahead of issues,
unlike PostgreSQL's: expiring leases then wait to be dropped in batches, which MariaDB does far more
cheaply than one by one (docs/engines/mysql.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote, urlsplit

import attrs

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig
from scaivault_core.kits.turns import ISSUE, TurnLock

if TYPE_CHECKING:
    import pymysql

T = TypeVar("T")

SCHEMES = ("mysql", "mariadb")
DEFAULT_PORT = 3306
# Client-side codes for a connection that broke (gone away, lost during a query, ...).
LOST = {2006, 2013, 2014, 2055}
# Server codes at login that mean the credentials, the account or the database are wrong: a
# configuration problem the operator must fix, not an outage.
REFUSED = {
    1044: "access denied to the database",
    1045: "access denied",
    1049: "unknown database",
    1130: "host not allowed",
    1251: "authentication method not supported",
    1698: "access denied",
    1820: "password expired",
    1862: "password expired",
    3118: "account locked",
    4151: "account locked",
}


@attrs.frozen
class Target:
    """Where the server is, parsed from a rendered ``connection_url``."""

    host: str
    port: int
    database: str | None
    username: str = attrs.field(repr=False)
    password: str = attrs.field(repr=False)


def parse_url(url: str) -> Target:
    """A ``mysql://user:password@host:port/database`` URL as a ``Target``; ``invalid_config`` if malformed."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise InvalidConfig(
            "config.connection_url must start with mysql:// (or mariadb://).", field="config.connection_url"
        )
    if parts.query or parts.fragment:
        raise InvalidConfig("config.connection_url takes no query parameters.", field="config.connection_url")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise InvalidConfig("config.connection_url has an invalid port.", field="config.connection_url") from None
    if not parts.hostname:
        raise InvalidConfig("config.connection_url needs a host.", field="config.connection_url")
    database = unquote(parts.path.lstrip("/")) or None
    return Target(parts.hostname, port, database, unquote(parts.username or ""), unquote(parts.password or ""))


def error_code(exc: BaseException) -> int | None:
    """The MySQL error number of a PyMySQL error, if it has one."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection itself broke (the statement's fate is unknown)."""
    import pymysql  # imported at first use: start-up loads every installed plugin

    return isinstance(exc, pymysql.err.InterfaceError) or (
        isinstance(exc, pymysql.err.OperationalError) and error_code(exc) in LOST
    )


def _reason(exc: BaseException) -> str:
    code = error_code(exc)
    text = str(exc.args[1]) if len(exc.args) > 1 else (str(exc) or type(exc).__name__)
    return f"({code}) {text}" if code is not None else text


def classify(exc: BaseException, *, connecting: bool) -> Exception:
    """A driver error as the core's error: refused credentials, unreachable target, or a refused statement."""
    if connecting and error_code(exc) in REFUSED:
        return InvalidConfig(
            f"MySQL refused the root credentials: {_reason(exc)}", field="root_credentials", mysql_error=error_code(exc)
        )
    if connecting or is_lost(exc):
        return EngineUnreachable(f"Cannot reach MySQL: {_reason(exc)}")
    return EngineError(f"MySQL refused the statement: {_reason(exc)}", mysql_error=error_code(exc))


class RootConnection:
    """A lazily opened, self-healing root connection used under a lock."""

    def __init__(self, url: Callable[[], str], connect_timeout: int, statement_timeout: int) -> None:
        self._url, self._connect_timeout, self._statement_timeout = url, connect_timeout, statement_timeout
        self._conn: pymysql.connections.Connection | None = None
        self._lock = TurnLock()

    def _connect(self) -> pymysql.connections.Connection:
        import pymysql

        target = parse_url(self._url())
        try:
            return pymysql.connect(
                host=target.host,
                port=target.port,
                user=target.username,
                password=target.password,
                database=target.database,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=self._connect_timeout,
                read_timeout=self._statement_timeout,
                write_timeout=self._statement_timeout,
            )
        except pymysql.MySQLError as exc:
            raise classify(exc, connecting=True) from None
        except OSError as exc:  # socket errors PyMySQL does not wrap
            raise EngineUnreachable(f"Cannot reach MySQL: {type(exc).__name__}: {exc}") from None

    def run(self, work: Callable[[pymysql.connections.Connection], T], priority: int = ISSUE) -> T:
        """Run ``work`` on the root connection (before waiting work of a lower ``priority``); on a broken
        connection, reconnect and run it once more.

        Running ``work`` again is safe for our callers: revocation is idempotent, and a creation that
        half ran fails on its repeated CREATE USER and is then revoked.
        """
        import pymysql

        with self._lock.hold(priority):
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = self._connect()
                try:
                    return work(self._conn)
                except pymysql.MySQLError as exc:
                    if not is_lost(exc):
                        raise classify(exc, connecting=False) from None
                    self._close_unlocked()
                    if attempt == 2:
                        raise classify(exc, connecting=False) from None
            raise AssertionError("unreachable")

    def thread_id(self) -> int | None:
        """The server's id of the current root session (tests use it to break the connection)."""
        return self._conn.thread_id() if self._conn is not None else None

    def _close_unlocked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # already broken: nothing to close politely
                pass
            finally:
                self._conn = None

    def close(self) -> None:
        with self._lock.hold():
            self._close_unlocked()
