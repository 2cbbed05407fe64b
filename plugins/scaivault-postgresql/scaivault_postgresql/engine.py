"""The PostgreSQL engine: roles created and dropped with the role's templated statements."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from scaivault_core import Engine, InvalidConfig, InvalidRequest, Issued, IssueRequest, Renewed, random_password
from scaivault_core.kits.connection_urls import check_connection_url, render_connection_url, root_connection_url
from scaivault_core.kits.sql import (
    STATEMENT_FIELDS,
    StatementRole,
    check_statement_role,
    plan_revocation,
    render_renewal,
)
from scaivault_core.kits.turns import REFILL, REVOKE

from .connection import RootConnection

if TYPE_CHECKING:
    import psycopg

# Used when a role gives no revocation statements: end the user's sessions, drop what it owns, drop it.
# Never REASSIGN OWNED to the root: a SECURITY DEFINER function or a view the user left behind would
# then run with the root's rights, so a lease's user could plant code for anyone to run as the root.
DEFAULT_REVOCATION = [
    "DROP OWNED BY {{name|quote}}",
    "DROP ROLE IF EXISTS {{name|quote}}",
]
DEFAULT_RENEW = ["ALTER ROLE {{name|quote}} VALID UNTIL '{{expiration}}'"]
MARK = "scaivault engine={}"  # COMMENT ON ROLE of each user an engine creates: reconcile reads it back
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL cuts longer identifiers, which could then name another role


@attrs.define
class Config:
    connection_url: str
    connect_timeout: int = 5
    username_prefix: str = "v_"


class PostgreSQLEngine(Engine):
    """A lease is a PostgreSQL role; revocation ends its sessions and runs the revocation statements."""

    type = "database"
    plugin = "postgresql"
    lease_prefix = "db"
    Config = Config
    Role = StatementRole
    template_fields = STATEMENT_FIELDS
    username_max_length = MAX_IDENTIFIER_BYTES
    marks_subjects = True  # COMMENT ON ROLE

    def __init__(self, context) -> None:
        super().__init__(context)
        check_connection_url(self.config.connection_url, require_credentials=True)
        self._root = RootConnection(context.name, lambda: root_connection_url(self), self.config.connect_timeout)

    def close(self) -> None:
        self._root.close()

    def verify(self) -> None:
        """Log in, and check the root may create and drop roles (SUPERUSER or CREATEROLE)."""
        if not self._root.run(lambda conn: self._root.rights.create_role):
            raise InvalidConfig(
                "The root role has neither SUPERUSER nor CREATEROLE, so it cannot create or drop lease roles: "
                "ALTER ROLE ... CREATEROLE (see the PostgreSQL engine's page for the rights it needs).",
                field="root_credentials",
                missing_right="CREATEROLE",
            )

    def validate_role(self, role: StatementRole) -> None:
        check_statement_role(role)

    def quote(self, value: str) -> str:
        """``{{ name|quote }}``: a quoted identifier (``"`` doubled), so any text stays one name."""
        from psycopg import sql  # imported at first use: start-up loads every installed plugin

        value = str(value)
        if "\x00" in value:
            raise InvalidRequest("A PostgreSQL identifier cannot hold a NUL character.")
        if len(value.encode()) > MAX_IDENTIFIER_BYTES:
            raise InvalidRequest(
                f"A PostgreSQL identifier holds at most {MAX_IDENTIFIER_BYTES} bytes; "
                "a longer one would be cut and could name another role."
            )
        return sql.Identifier(value).as_string(None)

    def format_expiration(self, expires_at: float) -> str:
        """A PostgreSQL timestamp literal, e.g. ``2026-04-23 16:00:00+00``."""
        return datetime.fromtimestamp(int(expires_at), tz=UTC).strftime("%Y-%m-%d %H:%M:%S+00")

    # -- leases ---------------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        return plan_revocation(self, request, DEFAULT_REVOCATION)

    def create(self, request: IssueRequest) -> Issued:
        """The creation statements, and the engine's mark on the new role, in one transaction."""
        statements = request.render(request.role.creation_statements, self.context.render)
        self._root.execute_atomically([*statements, self._mark(request.username)])
        return Issued(data=self._credential_data(request.username, request.password))

    def create_pooled(self, requests: list[IssueRequest]) -> list[Issued]:
        """The creation statements of each user, then NOLOGIN and no password, in one transaction for the batch:
        no session ever sees one of them able to log in.

        ``{{password}}`` is rendered as an MD5 secret of random bytes, which PostgreSQL stores as it is
        (no password has it, and it is cleared in the same transaction): a plain throwaway password, or a
        SCRAM secret, each cost a SCRAM hash of 4,096 iterations (about 3 ms) per user while issues
        waited for the connection. Issues go first.
        """
        from psycopg import sql

        statements: list[str] = []
        for request in requests:
            variables = {**request.variables, "password": "md5" + os.urandom(16).hex()}
            statements += [self.context.render(s, variables) for s in request.role.creation_statements]
            statements.append(
                sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD NULL").format(sql.Identifier(request.username)).as_string(None)
            )
            statements.append(self._mark(request.username))
        self._root.execute_atomically(statements, REFILL)
        return [Issued(data={}) for _ in requests]

    def activate(self, handle: dict[str, Any], request: IssueRequest) -> Issued:
        """One statement: LOGIN, the lease's password and its VALID UNTIL.

        The password goes in plain, for PostgreSQL to hash: handing it a SCRAM secret made here costs
        more, since the server then runs the same 4,096 iterations to check the secret is not the
        empty password's.
        """
        from psycopg import sql

        statement = sql.SQL("ALTER ROLE {} LOGIN PASSWORD {} VALID UNTIL {}").format(
            sql.Identifier(request.username),
            sql.Literal(request.password),
            sql.Literal(self.format_expiration(request.expires_at)),
        )
        self._root.execute_atomically([statement.as_string(None)])
        return Issued(data=self._credential_data(request.username, request.password))

    def _mark(self, username: str) -> str:
        from psycopg import sql

        return (
            sql.SQL("COMMENT ON ROLE {} IS {}")
            .format(sql.Identifier(username), sql.Literal(MARK.format(self.context.name)))
            .as_string(None)
        )

    def _credential_data(self, username: str, password: str) -> dict[str, Any]:
        url = render_connection_url(self.config.connection_url, username, password)
        parts = urlsplit(url)
        return {
            "username": username,
            "password": password,
            "connection_url": url,
            "host": parts.hostname,
            "port": parts.port or 5432,
            "database": parts.path.lstrip("/") or None,
        }

    def renew(self, handle: dict[str, Any], role: StatementRole | None, expires_at: float) -> Renewed | None:
        templates = (role.renew_statements if role else []) or DEFAULT_RENEW
        statements = render_renewal(self, templates, handle["username"], expires_at)
        existing = self._existing([handle["username"]])
        if handle["username"] in existing:
            self._root.execute_atomically(statements)
        return None

    def revoke(self, handle: dict[str, Any]) -> None:
        error = self.revoke_many([handle])[0]
        if error is not None:
            raise error

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """One round trip drops them all. If that fails, one finds which users are already gone (which
        counts as revoked), one drops the rest, and if that fails too, one by one.

        Looking first cost a round trip on every revocation, although users are rarely gone already.
        """
        try:
            self._root.execute_atomically(self._revocation(handles), REVOKE)
            return [None] * len(handles)
        except Exception as exc:  # the batch is one transaction: nothing of it happened
            failed = exc
        existing = self._existing([h["username"] for h in handles])
        todo = [h for h in handles if h["username"] in existing]
        if not todo:
            return [None] * len(handles)
        if len(todo) == len(handles) == 1:
            raise failed
        if len(todo) < len(handles):
            try:
                self._root.execute_atomically(self._revocation(todo))
                return [None] * len(handles)
            except Exception:
                if len(todo) == 1:
                    raise
        results: list[BaseException | None] = []
        for handle in handles:
            if handle["username"] not in existing:
                results.append(None)
                continue
            try:
                self._root.execute_atomically(self._revocation([handle]))
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    def _revocation(self, handles: list[dict[str, Any]]) -> list[str]:
        """End the users' sessions, then their revocation statements.

        A root that is not a superuser first makes itself a member of each user: REASSIGN OWNED, DROP
        OWNED and pg_terminate_backend act only on roles whose privileges one has (PostgreSQL 15 gives
        CREATEROLE no such right; 16+ give it ADMIN on the roles it created, which allows this grant).
        DROP ROLE removes the membership again.

        One scan of the sessions for the whole batch: scanning per user was most of the time of
        revoking a batch. It reads ``pg_stat_get_activity`` by role oid, looked up with
        ``to_regrole``: dropping one user took 0.72 ms with the ``pg_stat_activity`` view, 0.54 ms
        with a ``pg_roles`` subquery, 0.41 ms this way and 0.32 ms with no scan at all.
        """
        from psycopg import sql  # imported at first use: start-up loads every installed plugin

        # quote_ident: to_regrole parses its text as an identifier, which would fold unquoted capitals.
        oids = sql.SQL(", ").join(
            sql.SQL("to_regrole(quote_ident({}))").format(sql.Literal(h["username"])) for h in handles
        )
        terminate = sql.SQL(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_get_activity(NULL) WHERE usesysid IN ({})"
        ).format(oids)
        memberships = (
            []
            if self._root.run(lambda conn: self._root.rights.superuser, REVOKE)
            else [
                sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(h["username"])).as_string(None)
                for h in handles
            ]
        )
        return [*memberships, terminate.as_string(None), *(s for h in handles for s in h["revocation"])]

    def _existing(self, usernames: list[str]) -> set[str]:
        def work(conn: psycopg.Connection) -> set[str]:
            rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (usernames,)).fetchall()
            return {r[0] for r in rows}

        return self._root.run(work)

    # -- reconcile and rotation ---------------------------------------------------------------

    def list_subjects(self) -> list[str]:
        """Roles this engine marked as its own, and unmarked ones (made before marks) the store knows as its leases."""
        prefix = self.config.username_prefix.replace("\\", "\\\\").replace("_", r"\_").replace("%", r"\%")
        rows = self._root.run(
            lambda conn: conn.execute(
                "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles "
                "WHERE rolname LIKE %s AND rolname <> current_user AND NOT rolsuper ORDER BY rolname",
                (prefix + "%",),
            ).fetchall()
        )
        mark = MARK.format(self.context.name)
        marked = [name for name, comment in rows if comment == mark]
        unmarked = [name for name, comment in rows if comment is None]
        known = self.context.known_subjects(unmarked) if unmarked and self.context.known_subjects else set()
        return sorted(marked + [name for name in unmarked if name in known])

    def revoke_subject(self, subject: str) -> None:
        """Drop the role and what it owns. Never REASSIGN to the root here: a role that no lease accounts for
        may own anything (a SECURITY DEFINER function, say), and the root must not become its owner."""
        from psycopg import sql

        statements = [
            sql.SQL("DROP OWNED BY {}").format(sql.Identifier(subject)),
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(subject)),
        ]
        self.revoke({"username": subject, "revocation": [s.as_string(None) for s in statements]})

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "password": random_password(32)}

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        from psycopg import sql

        statement = sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
            sql.Identifier(current["username"]), sql.Literal(new["password"])
        )
        self._root.run(lambda conn: conn.execute(statement))
        self._root.close()  # later connections authenticate with the new password
