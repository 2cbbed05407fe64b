"""The MySQL/MariaDB engine: users created and dropped with the role's templated statements."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from scaivault_core import Engine, InvalidConfig, InvalidRequest, Issued, IssueRequest, Renewed
from scaivault_core.kits.connection_urls import check_connection_url, render_connection_url, root_connection_url
from scaivault_core.kits.sql import (
    STATEMENT_FIELDS,
    StatementRole,
    check_statement_role,
    plan_revocation,
    render_renewal,
)
from scaivault_core.kits.turns import ISSUE, REFILL

from .connection import RootConnection, classify, error_code, is_lost, parse_url

if TYPE_CHECKING:
    import pymysql

# Used when a role gives no revocation statements.
DEFAULT_REVOCATION = ["DROP USER IF EXISTS {{name|quote}}@'%'"]
# PREPARE answers these when the text itself is wrong. Other answers (an unknown role, a user not
# yet granted a role) depend on what earlier statements of the role will have done by then.
_SYNTAX_ERRORS = {1064, 1065, 1149}  # parse error, empty query, syntax error
_UNKNOWN_THREAD = 1094  # KILL of a session that ended meanwhile
_BATCH = 500  # user names per IN (...) list or DROP USER
_LONE_DROP = re.compile(
    r"^\s*DROP\s+USER\s+IF\s+EXISTS\s+(?P<account>'(?P<name>[A-Za-z0-9_]+)'@'[^'\\]*')\s*;?\s*$", re.IGNORECASE
)


@attrs.define
class Config:
    connection_url: str
    connect_timeout: int = 5
    statement_timeout: int = 30
    username_prefix: str = "v_"


class MySQLEngine(Engine):
    """A lease is a MySQL user; revocation runs the revocation statements and kills its open sessions."""

    type = "database"
    plugin = "mysql"
    lease_prefix = "db"
    Config = Config
    Role = StatementRole
    template_fields = STATEMENT_FIELDS
    username_max_length = 32  # MySQL's limit; MariaDB allows more, but a role should work on both

    def __init__(self, context) -> None:
        super().__init__(context)
        check_connection_url(self.config.connection_url, require_credentials=True)
        self._target = parse_url(render_connection_url(self.config.connection_url, "", ""))
        self._root = RootConnection(
            lambda: root_connection_url(self), self.config.connect_timeout, self.config.statement_timeout
        )

    def close(self) -> None:
        self._root.close()

    def verify(self) -> None:
        self._root.run(_select_one)

    # -- roles ------------------------------------------------------------------------------------

    def validate_role(self, role: StatementRole) -> None:
        """Each statement is rendered with sample values and parsed by the server (PREPARE), not run."""
        check_statement_role(role)
        sample = {
            "name": "v_check_000000000000",
            "password": "Sample-password-0",
            "expiration": self.format_expiration(self.context.clock.time() + 3600),
            "ttl_seconds": 3600,
        }
        rendered = [
            (f"{field}[{i}]", self.context.render(text, sample))
            for field in self.template_fields
            for i, text in enumerate(getattr(role, field))
        ]
        self._root.run(lambda conn: _check_syntax(conn, rendered))

    def quote(self, value: str) -> str:
        """``{{ name|quote }}``: a string literal, the form an account's user name takes (``'v_x'@'%'``).

        ``'`` is doubled, which every sql_mode reads the same way; ``\\`` is escaped as the default
        sql_mode reads it (under NO_BACKSLASH_ESCAPES a backslash would stay doubled: still one literal).
        The root connection is utf8mb4, where no multi-byte character can hide a quote.
        """
        value = str(value)
        if "\x00" in value:
            raise InvalidRequest("A MySQL user name cannot hold a NUL character.")
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"

    def format_expiration(self, expires_at: float) -> str:
        """A MySQL DATETIME literal in UTC, e.g. ``2026-04-23 16:00:00``."""
        return datetime.fromtimestamp(int(expires_at), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")

    # -- leases -----------------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        return plan_revocation(self, request, DEFAULT_REVOCATION)

    def create(self, request: IssueRequest) -> Issued:
        """Run the creation statements; if one fails, revoke what the earlier ones made, then raise."""
        statements = request.render(request.role.creation_statements, self.context.render)
        try:
            self._root.run(lambda conn: _execute(conn, statements))
        except Exception:
            # DDL has committed statement by statement, so undo by revoking the planned user. The
            # core revokes the planned handle again if this fails, so a failure here is not fatal.
            try:
                self.revoke(self.plan(request))
            except Exception as cleanup:
                self.log.warning("cleaning up after a failed create of %s failed: %s", request.username, cleanup)
            raise
        return Issued(data=self._credential_data(request.username, request.password))

    def create_pooled(self, requests: list[IssueRequest]) -> list[Issued]:
        """Each user made by the creation statements, then its accounts locked; all of the batch or none.

        MySQL's DDL commits statement by statement, so between its CREATE USER and the lock a user
        exists for a moment with the throwaway password, which nobody was ever given; once locked,
        no password logs in (error 4151). The accounts' hosts go into the handle for ``activate``.
        """

        def work(conn: pymysql.connections.Connection) -> list[Issued]:
            made = []
            for request in requests:
                _execute(conn, request.render(request.role.creation_statements, self.context.render))
                hosts = _hosts(conn, request.username)
                with conn.cursor() as cur:
                    cur.execute(
                        f"ALTER USER {', '.join(['%s@%s'] * len(hosts))} ACCOUNT LOCK",
                        [v for host in hosts for v in (request.username, host)],
                    )
                made.append(Issued(data={}, handle={"hosts": hosts}))
            return made

        try:
            return self._root.run(work, REFILL)
        except Exception:
            try:  # like create: undo the whole batch now; the core revokes the planned handles again if this fails
                self.revoke_many([self.plan(request) for request in requests])
            except Exception as cleanup:
                self.log.warning("cleaning up after a failed pool refill failed: %s", cleanup)
            raise

    def activate(self, handle: dict[str, Any], request: IssueRequest) -> Issued:
        """One statement: each account of the user gets the lease's password and is unlocked."""
        hosts = handle["hosts"]

        def work(conn: pymysql.connections.Connection) -> None:
            with conn.cursor() as cur:
                cur.execute(
                    f"ALTER USER {', '.join(['%s@%s IDENTIFIED BY %s'] * len(hosts))} ACCOUNT UNLOCK",
                    [v for host in hosts for v in (request.username, host, request.password)],
                )

        self._root.run(work)
        return Issued(data=self._credential_data(request.username, request.password))

    def _credential_data(self, username: str, password: str) -> dict[str, Any]:
        url = render_connection_url(self.config.connection_url, username, password)
        return {
            "username": username,
            "password": password,
            "connection_url": url,
            "host": self._target.host,
            "port": self._target.port,
            "database": self._target.database,
        }

    def renew(self, handle: dict[str, Any], role: StatementRole | None, expires_at: float) -> Renewed | None:
        """Nothing to do in the target (MySQL users have no expiry) unless the role gives renew statements."""
        templates = role.renew_statements if role else []
        if not templates:
            return None
        statements = render_renewal(self, templates, handle["username"], expires_at)

        def work(conn: pymysql.connections.Connection) -> None:
            if _existing(conn, [handle["username"]]):
                _execute(conn, statements)

        self._root.run(work)
        return None

    def revoke(self, handle: dict[str, Any]) -> None:
        error = self.revoke_many([handle])[0]
        if error is not None:
            raise error

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """One root session: find which users remain, run their revocations, kill all their sessions.

        Leases whose revocation is a lone ``DROP USER IF EXISTS 'name'@'host'`` (the default) are
        dropped together in one statement: MariaDB takes about 5 ms per DROP USER statement, and
        0.1 ms per user within one.
        """
        names = [h["username"] for h in handles]

        def work(conn: pymysql.connections.Connection) -> list[BaseException | None]:
            import pymysql  # imported at first use: start-up loads every installed plugin

            existing = _existing(conn, names)
            results: list[BaseException | None] = [None] * len(handles)  # already gone counts as revoked
            todo = [i for i, h in enumerate(handles) if h["username"] in existing]
            together = {i: account for i in todo if (account := _lone_drop(handles[i])) is not None}
            if len(together) > 1:
                try:
                    for chunk in _chunks(list(together.values())):
                        _execute(conn, [f"DROP USER IF EXISTS {', '.join(chunk)}"])
                    todo = [i for i in todo if i not in together]
                except pymysql.MySQLError as exc:
                    if is_lost(exc):
                        raise  # otherwise each one on its own below, to find the one that fails
            for i in todo:
                try:
                    _execute(conn, handles[i]["revocation"])
                except pymysql.MySQLError as exc:
                    if is_lost(exc):
                        raise
                    results[i] = classify(exc, connecting=False)
            # After the DROP no new session can log in; end the ones still open (DROP USER leaves them).
            _kill_sessions(conn, names)
            return results

        return self._root.run(work, ISSUE)  # not REVOKE: waiting, expiring leases gather into cheaper batches

    # -- reconcile --------------------------------------------------------------------------------

    def list_subjects(self) -> list[str]:
        """Users named like ours that the store knows as this engine's leases.

        MySQL and MariaDB keep no mark of who made a user that this engine could rely on (MariaDB has
        no user comment or attribute), so the store decides; the root account is never listed.
        """
        pattern = self.config.username_prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"

        def work(conn: pymysql.connections.Connection) -> list[str]:
            with conn.cursor() as cur:
                cur.execute("SELECT CURRENT_USER()")
                root = cur.fetchone()[0].rsplit("@", 1)[0]
                cur.execute("SELECT DISTINCT User FROM mysql.user WHERE User LIKE %s ORDER BY User", (pattern,))
                return [row[0] for row in cur.fetchall() if row[0] != root]

        candidates = self._root.run(work)
        known = self.context.known_subjects(candidates) if candidates and self.context.known_subjects else set()
        return [name for name in candidates if name in known]

    def revoke_subject(self, subject: str) -> None:
        """Drop the user at every host it exists for, and kill its sessions (the name is a bound value)."""

        def work(conn: pymysql.connections.Connection) -> None:
            with conn.cursor() as cur:
                cur.execute("SELECT Host FROM mysql.user WHERE User = %s", (subject,))
                for (host,) in cur.fetchall():
                    cur.execute("DROP USER IF EXISTS %s@%s", (subject, host))
            _kill_sessions(conn, [subject])

        self._root.run(work)

    # -- root credential rotation ---------------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        """The same account with a new random password (URL-safe characters, nothing to quote)."""
        return {**current, "password": secrets.token_urlsafe(24)}

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """``ALTER USER`` of the account the engine logs in as: the old password stops working at once."""

        def work(conn: pymysql.connections.Connection) -> None:
            with conn.cursor() as cur:
                # Named explicitly: MariaDB 10.11 accepts ALTER USER CURRENT_USER() but leaves the password as it was.
                cur.execute("SELECT CURRENT_USER()")
                user, host = cur.fetchone()[0].rsplit("@", 1)
                cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, new["password"]))

        self._root.run(work)
        self._root.close()  # later connections authenticate with the new password


def _select_one(conn: pymysql.connections.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT 1")


def _execute(conn: pymysql.connections.Connection, statements: list[str]) -> None:
    # No parameters: PyMySQL leaves the text alone (a '%' host needs no escaping).
    with conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def _check_syntax(conn: pymysql.connections.Connection, rendered: list[tuple[str, str]]) -> None:
    """PREPARE parses a statement without running it; only a statement it cannot parse is refused."""
    import pymysql

    with conn.cursor() as cur:
        for where, statement in rendered:
            try:
                cur.execute("PREPARE scaivault_check FROM %s", (statement,))
            except pymysql.MySQLError as exc:
                if is_lost(exc):
                    raise
                if error_code(exc) not in _SYNTAX_ERRORS:  # not preparable, or depends on state: running it will tell
                    continue
                raise InvalidConfig(
                    f"{where} was refused by the server: {classify(exc, connecting=False).message}", field=where
                ) from None
            cur.execute("DEALLOCATE PREPARE scaivault_check")


def _lone_drop(handle: dict[str, Any]) -> str | None:
    """The ``'name'@'host'`` of a revocation that is one plain DROP USER IF EXISTS of the lease's user."""
    statements = handle["revocation"]
    match = _LONE_DROP.match(statements[0]) if len(statements) == 1 else None
    return match["account"] if match and match["name"] == handle["username"] else None


def _chunks(items: list[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(items))
    return [unique[i : i + _BATCH] for i in range(0, len(unique), _BATCH)]


def _hosts(conn: pymysql.connections.Connection, name: str) -> list[str]:
    """The hosts of every account of user ``name`` (the creation statements chose them)."""
    with conn.cursor() as cur:
        cur.execute("SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host", (name,))
        return [row[0] for row in cur.fetchall()]


def _existing(conn: pymysql.connections.Connection, names: list[str]) -> set[str]:
    found: set[str] = set()
    with conn.cursor() as cur:
        for chunk in _chunks(names):
            cur.execute(f"SELECT DISTINCT User FROM mysql.user WHERE User IN ({', '.join(['%s'] * len(chunk))})", chunk)
            found.update(row[0] for row in cur.fetchall())
    return found


def _kill_sessions(conn: pymysql.connections.Connection, names: list[str]) -> None:
    import pymysql

    with conn.cursor() as cur:
        for chunk in _chunks(names):
            cur.execute(
                f"SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN ({', '.join(['%s'] * len(chunk))})", chunk
            )
            for (thread_id,) in cur.fetchall():
                try:
                    cur.execute("KILL CONNECTION %s", (thread_id,))
                except pymysql.MySQLError as exc:
                    if error_code(exc) != _UNKNOWN_THREAD:
                        raise
