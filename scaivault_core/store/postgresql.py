"""The shared store: PostgreSQL, so several vault processes (on several hosts) work on one state.

Same semantics as ``store.sqlite``: every lease change is a compare-and-set ``UPDATE``, so of two
processes racing for a lease exactly one wins. Due leases are claimed with ``FOR UPDATE SKIP
LOCKED`` plus a claim deadline, so each expiry is revoked by one process and a dead process's
claims pass to the next once their deadline is over. Leases that become due soon are announced
to the other processes (``pg_notify``).

Tables live in their own schema (``?schema=``, default ``scaivault``); connections come from a
pool (``?pool_min=``, ``?pool_max=``). Everything else in the URL goes to libpq unchanged
(``pg_urls``).
Needs the ``postgres-store`` extra (psycopg and psycopg-pool).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from ..audit_chain import CHAIN_COLUMNS, ChainHead, ChainRow
from ..errors import Conflict, InvalidConfig, InvalidRequest
from ..models import AuditEvent, EngineRecord, Job, Lease, Policy, RoleRecord, SecretVersion, Token
from ..redaction import redact
from . import LEASE_COLUMNS
from .pg_migrations import MIGRATIONS, applied, migrate
from .pg_notify import DueChannel
from .pg_urls import parse_url, url_credentials
from .rows import (
    ENGINE_COLUMNS,
    JOB_COLUMNS,
    LIVE_STATES,
    ROLE_COLUMNS,
    SECRET_COLUMNS,
    TOKEN_COLUMNS,
    TOKEN_TREE,
    UNFINISHED_STATES,
    audit_from_row,
    audit_list_query,
    engine_from_row,
    engine_row,
    equal_to,
    head_values,
    job_from_row,
    job_row,
    job_update,
    lease_from_row,
    lease_list_query,
    lease_sets,
    lease_update,
    listed_lease_from_row,
    policy_from_row,
    pool_count_query,
    pooled_query,
    role_from_row,
    role_row,
    rules_json,
    secret_from_row,
    token_from_row,
    token_row,
    where,
)
from .schema import SchemaStatus, status

_COLS = ", ".join(LEASE_COLUMNS)
_INSERT_RETRIES = 20


class PostgresStore:
    """All state in one PostgreSQL schema, shared by every process that opens the same URL."""

    def __init__(self, url: str) -> None:
        self._conninfo, self.schema, pool_sizes, self.url = parse_url(url)
        self._credentials = url_credentials(url)
        self._pool = ConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name=f"scaivault-{self.schema}",
            min_size=pool_sizes["min_size"],
            max_size=pool_sizes["max_size"],
        )
        self._due = DueChannel(self._conninfo, self.schema, self._pool, self._credentials)
        self._opened = False
        self._open_lock = threading.Lock()
        self._local = threading.local()  # the connection of this thread's open transaction, if any

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    # -- connections ---------------------------------------------------------------------------

    def _configure(self, conn: psycopg.Connection) -> None:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def _connect(self) -> psycopg.Connection:
        """A connection outside the pool (migrations, LISTEN); unreachable is a clear config error."""
        try:
            return psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            message = redact(str(exc).strip(), self._credentials)
            raise InvalidConfig(
                f"Cannot connect to the PostgreSQL store {self.url}: {message}", field="store"
            ) from None

    def _ensure_open(self) -> None:
        if not self._opened:
            with self._open_lock:
                if not self._opened:
                    self._pool.open()
                    self._opened = True

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            yield conn
            return
        self._ensure_open()
        with self._pool.connection() as conn:
            yield conn

    @contextmanager
    def _cursor(self, query: Any, params: Iterable[Any]) -> Iterator[psycopg.Cursor]:
        with self._conn() as conn:
            try:
                yield conn.execute(query, tuple(params))
            except psycopg.DataError:
                # A NUL character or an out-of-range number: SQLite would store it, PostgreSQL can't.
                # The value is not quoted back: it came from a request and could be anything.
                raise InvalidRequest(
                    "A value in the request cannot be stored: it holds a NUL character or a number out of range."
                ) from None

    def _exec(self, query: Any, params: Iterable[Any] = ()) -> int:
        with self._cursor(query, params) as cur:
            return cur.rowcount

    def _one(self, query: Any, params: Iterable[Any] = ()) -> tuple | None:
        with self._cursor(query, params) as cur:
            return cur.fetchone()

    def _all(self, query: Any, params: Iterable[Any] = ()) -> list[tuple]:
        with self._cursor(query, params) as cur:
            return cur.fetchall()

    def _insert(self, query: str, params: Iterable[Any], what: str) -> None:
        # ON CONFLICT DO NOTHING rather than catching the error: a failed statement would abort an
        # enclosing transaction, where SQLite lets it continue.
        if self._exec(query + " ON CONFLICT DO NOTHING", params) == 0:
            raise Conflict(f"{what} already exists.")

    def migrate(self) -> None:
        conn = self._connect()
        try:
            migrate(conn, self.schema, self.url)
        finally:
            conn.close()
        self._ensure_open()

    def schema_status(self) -> SchemaStatus:
        """Its schema version and pending migrations; changes nothing."""
        conn = self._connect()
        try:
            return status(self.url, applied(conn, self.schema), [fn.__name__ for fn in MIGRATIONS])
        finally:
            conn.close()

    def close(self) -> None:
        self._due.close()
        if self._opened:
            self._pool.close()
            self._opened = False

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes on one connection held by this thread; nested use joins the outer transaction."""
        local = self._local
        if getattr(local, "conn", None) is not None:
            local.depth += 1
            try:
                yield
            finally:
                local.depth -= 1
            return
        self._ensure_open()
        local.announce = []
        with self._pool.connection() as conn, conn.transaction():
            local.conn, local.depth = conn, 1
            try:
                yield
            finally:
                local.conn, local.depth = None, 0
        self._due.send(local.announce)  # only once committed: listeners must find what they are told of

    # -- notifications -------------------------------------------------------------------------

    def subscribe(self, callback: Any) -> None:
        """Call ``callback(due_at)`` whenever any process makes a lease due at ``due_at`` (``DueChannel.subscribe``)."""
        self._due.subscribe(callback)

    def _announce_due(self, due_at: float) -> None:
        """Tell other processes a lease is due at ``due_at`` (after this thread's transaction, if one is open)."""
        in_transaction = getattr(self._local, "conn", None) is not None
        self._due.announce(due_at, self._local.announce if in_transaction else None)

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- engines and roles ---------------------------------------------------------------------

    def insert_engine(self, engine: EngineRecord) -> None:
        self._insert(
            f"INSERT INTO engines ({', '.join(ENGINE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(ENGINE_COLUMNS))})",
            engine_row(engine),
            f"Engine {engine.name!r}",
        )

    def update_engine(self, engine: EngineRecord) -> None:
        sets = ", ".join(f"{c} = %s" for c in ENGINE_COLUMNS[1:])
        self._exec(f"UPDATE engines SET {sets} WHERE name = %s", (*engine_row(engine)[1:], engine.name))

    def get_engine(self, name: str) -> EngineRecord | None:
        row = self._one(f"SELECT {', '.join(ENGINE_COLUMNS)} FROM engines WHERE name = %s", (name,))
        return engine_from_row(row) if row else None

    def list_engines(self) -> list[EngineRecord]:
        return [engine_from_row(r) for r in self._all(f"SELECT {', '.join(ENGINE_COLUMNS)} FROM engines ORDER BY name")]

    def delete_engine(self, name: str) -> bool:
        with self.transaction():
            self._exec("DELETE FROM roles WHERE engine = %s", (name,))
            return self._exec("DELETE FROM engines WHERE name = %s", (name,)) > 0

    def insert_role(self, role: RoleRecord) -> None:
        self._insert(
            f"INSERT INTO roles ({', '.join(ROLE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(ROLE_COLUMNS))})",
            role_row(role),
            f"Role {role.name!r}",
        )

    def update_role(self, role: RoleRecord) -> None:
        sets = ", ".join(f"{c} = %s" for c in ROLE_COLUMNS[2:])
        self._exec(
            f"UPDATE roles SET {sets} WHERE engine = %s AND name = %s", (*role_row(role)[2:], role.engine, role.name)
        )

    def get_role(self, engine: str, name: str) -> RoleRecord | None:
        row = self._one(f"SELECT {', '.join(ROLE_COLUMNS)} FROM roles WHERE engine = %s AND name = %s", (engine, name))
        return role_from_row(row) if row else None

    def list_roles(self, engine: str) -> list[RoleRecord]:
        rows = self._all(f"SELECT {', '.join(ROLE_COLUMNS)} FROM roles WHERE engine = %s ORDER BY name", (engine,))
        return [role_from_row(r) for r in rows]

    def delete_role(self, engine: str, name: str) -> bool:
        return self._exec("DELETE FROM roles WHERE engine = %s AND name = %s", (engine, name)) > 0

    # -- secrets -------------------------------------------------------------------------------

    def add_secret_version(self, version: SecretVersion, sealed: bytes) -> int:
        # Next number and insert in one statement; a concurrent writer that took the number first
        # makes ours conflict, and the retry (a fresh snapshot) takes the one after.
        for _ in range(_INSERT_RETRIES):
            row = self._one(
                "INSERT INTO secrets (path, version, sealed, secret_type, created_at, created_by, reason) "
                "SELECT %s, COALESCE(MAX(version), 0) + 1, %s, %s, %s, %s, %s FROM secrets WHERE path = %s "
                "ON CONFLICT DO NOTHING RETURNING version",
                (
                    version.path,
                    sealed,
                    version.secret_type,
                    version.created_at,
                    version.created_by,
                    version.reason,
                    version.path,
                ),
            )
            if row:
                return row[0]
        raise Conflict(f"The secret at {version.path!r} is being written by others; retry.", path=version.path)

    def get_secret_version(self, path: str, version: int | None = None) -> tuple[SecretVersion, bytes | None] | None:
        cols = ", ".join(SECRET_COLUMNS)
        if version is None:
            row = self._one(
                f"SELECT {cols}, sealed FROM secrets WHERE path = %s AND sealed IS NOT NULL "
                "ORDER BY version DESC LIMIT 1",
                (path,),
            )
        else:
            row = self._one(f"SELECT {cols}, sealed FROM secrets WHERE path = %s AND version = %s", (path, version))
        if not row:
            return None
        return secret_from_row(row[:-1]), row[-1]

    def list_secret_versions(self, path: str) -> list[SecretVersion]:
        rows = self._all(f"SELECT {', '.join(SECRET_COLUMNS)} FROM secrets WHERE path = %s ORDER BY version", (path,))
        return [secret_from_row(r) for r in rows]

    def list_secret_paths(self, prefix: str = "") -> list[str]:
        rows = self._all(
            "SELECT DISTINCT path FROM secrets WHERE left(path, %s) = %s ORDER BY path", (len(prefix), prefix)
        )
        return [r[0] for r in rows]

    def reseal_secret_version(self, path: str, version: int, sealed: bytes) -> None:
        # Never bring back a value retired meanwhile.
        self._exec(
            "UPDATE secrets SET sealed = %s WHERE path = %s AND version = %s AND sealed IS NOT NULL",
            (sealed, path, version),
        )

    def delete_secret(self, path: str) -> bool:
        return self._exec("DELETE FROM secrets WHERE path = %s", (path,)) > 0

    def schedule_retirement(self, path: str, version: int, retire_at: float) -> None:
        self._exec(
            "UPDATE secrets SET retire_at = %s WHERE path = %s AND version = %s AND sealed IS NOT NULL",
            (retire_at, path, version),
        )

    def due_retirements(self, now: float) -> list[tuple[str, int]]:
        """Versions whose grace period is over; each is pushed a minute on, so one process retires it."""
        rows = self._all(
            "WITH due AS (SELECT path, version FROM secrets WHERE retire_at IS NOT NULL AND retire_at <= %s "
            "  AND sealed IS NOT NULL FOR UPDATE SKIP LOCKED) "
            "UPDATE secrets s SET retire_at = %s FROM due WHERE s.path = due.path AND s.version = due.version "
            "RETURNING s.path, s.version",
            (now, now + 60),
        )
        return [tuple(r) for r in rows]

    def retire_secret_version(self, path: str, version: int, retired_at: float) -> None:
        # The value is destroyed, not hidden: the row keeps only its history.
        self._exec(
            "UPDATE secrets SET sealed = NULL, retired_at = %s, retire_at = NULL WHERE path = %s AND version = %s",
            (retired_at, path, version),
        )

    # -- rotations -----------------------------------------------------------------------------

    _ROTATION = ("path", "engine", "sealed_new", "identity", "reason", "grace_period", "started_at")

    def begin_rotation(
        self,
        path: str,
        engine: str | None,
        sealed_new: bytes,
        identity: str,
        reason: str | None,
        grace_period: int,
        now: float,
    ) -> None:
        self._insert(
            f"INSERT INTO rotations ({', '.join(self._ROTATION)}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (path, engine, sealed_new, identity, reason, grace_period, now),
            f"A rotation of {path!r}",
        )

    def pending_rotations(self) -> list[dict[str, Any]]:
        return [
            dict(zip(self._ROTATION, r, strict=True))
            for r in self._all(f"SELECT {', '.join(self._ROTATION)} FROM rotations")
        ]

    def reseal_rotation(self, path: str, sealed_new: bytes) -> None:
        self._exec("UPDATE rotations SET sealed_new = %s WHERE path = %s", (sealed_new, path))

    def end_rotation(self, path: str) -> None:
        self._exec("DELETE FROM rotations WHERE path = %s", (path,))

    def set_rotation_period(self, path: str, period: int | None, next_at: float | None, grace_period: int = 0) -> None:
        if period is None:
            self._exec("DELETE FROM rotation_schedule WHERE path = %s", (path,))
        else:
            self._exec(
                "INSERT INTO rotation_schedule (path, period, next_at, grace_period) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (path) DO UPDATE SET period = excluded.period, next_at = excluded.next_at, "
                "grace_period = excluded.grace_period",
                (path, period, next_at, grace_period),
            )

    def claim_due_rotations(self, now: float) -> list[tuple[str, int]]:
        """(path, grace period) of each scheduled rotation now due.

        Each is pushed to its next slot, so one process takes it.
        """
        rows = self._all(
            "WITH due AS (SELECT path FROM rotation_schedule WHERE next_at <= %s FOR UPDATE SKIP LOCKED) "
            "UPDATE rotation_schedule r SET next_at = %s + r.period FROM due WHERE r.path = due.path "
            "RETURNING r.path, r.grace_period",
            (now, now),
        )
        return [(r[0], r[1] or 0) for r in rows]

    def next_scheduled_at(self) -> float | None:
        row = self._one(
            "SELECT LEAST((SELECT MIN(next_at) FROM rotation_schedule), "
            "(SELECT MIN(retire_at) FROM secrets WHERE retire_at IS NOT NULL))"
        )
        return row[0] if row else None

    # -- policies, bindings, tokens -------------------------------------------------------------

    def put_policy(self, policy: Policy, *, create: bool) -> None:
        rules = rules_json(policy)
        if create:
            self._insert(
                "INSERT INTO policies (name, rules, description) VALUES (%s, %s, %s)",
                (policy.name, rules, policy.description),
                f"Policy {policy.name!r}",
            )
        else:
            self._exec(
                "UPDATE policies SET rules = %s, description = %s WHERE name = %s",
                (rules, policy.description, policy.name),
            )

    def get_policy(self, name: str) -> Policy | None:
        row = self._one("SELECT name, rules, description FROM policies WHERE name = %s", (name,))
        return policy_from_row(row) if row else None

    def list_policies(self) -> list[Policy]:
        return [policy_from_row(r) for r in self._all("SELECT name, rules, description FROM policies ORDER BY name")]

    def delete_policy(self, name: str) -> bool:
        with self.transaction():
            self._exec("DELETE FROM bindings WHERE policy = %s", (name,))
            return self._exec("DELETE FROM policies WHERE name = %s", (name,)) > 0

    def add_binding(self, policy: str, identity: str) -> None:
        self._exec("INSERT INTO bindings (policy, identity) VALUES (%s, %s) ON CONFLICT DO NOTHING", (policy, identity))

    def remove_binding(self, policy: str, identity: str) -> bool:
        return self._exec("DELETE FROM bindings WHERE policy = %s AND identity = %s", (policy, identity)) > 0

    def list_bindings(self, policy: str | None = None, identity: str | None = None) -> list[tuple[str, str]]:
        clauses, params = equal_to((("policy", policy), ("identity", identity)), "%s")
        rows = self._all(f"SELECT policy, identity FROM bindings{where(clauses)} ORDER BY policy, identity", params)
        return [tuple(r) for r in rows]

    def policies_for(self, identity: str) -> list[Policy]:
        rows = self._all(
            "SELECT p.name, p.rules, p.description FROM policies p JOIN bindings b ON b.policy = p.name "
            "WHERE b.identity = %s",
            (identity,),
        )
        return [policy_from_row(r) for r in rows]

    def insert_token(self, token: Token) -> None:
        self._insert(
            f"INSERT INTO tokens ({', '.join(TOKEN_COLUMNS)}) VALUES ({', '.join(['%s'] * len(TOKEN_COLUMNS))})",
            token_row(token),
            "Token",
        )

    def token_by_hash(self, token_hash: str) -> Token | None:
        row = self._one(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE token_hash = %s", (token_hash,))
        return token_from_row(row) if row else None

    def token_if_remembered(self, token_hash: str) -> Token | None:
        return None  # every lookup is a query: another process may have revoked the token

    def list_tokens(self, identity: str | None = None) -> list[Token]:
        clauses, params = equal_to((("identity", identity),), "%s")
        rows = self._all(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens{where(clauses)} ORDER BY created_at", params)
        return [token_from_row(r) for r in rows]

    def revoke_token(self, accessor: str) -> bool:
        """Revoke the token and every token minted from it, however far down."""
        return (
            self._exec(
                f"UPDATE tokens SET revoked = true WHERE accessor IN {TOKEN_TREE.format(param='%s')}", (accessor,)
            )
            > 0
        )

    def token_by_accessor(self, accessor: str) -> Token | None:
        row = self._one(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE accessor = %s", (accessor,))
        return token_from_row(row) if row else None

    def set_token_expiry(self, accessor: str, expires_at: float) -> bool:
        return (
            self._exec(
                "UPDATE tokens SET expires_at = %s WHERE accessor = %s AND revoked = false", (expires_at, accessor)
            )
            > 0
        )

    # -- leases --------------------------------------------------------------------------------

    def insert_lease(self, lease: Lease, sealed_handle: bytes) -> None:
        values = {c: getattr(lease, c, None) for c in LEASE_COLUMNS}
        values["metadata"] = json.dumps(lease.metadata)
        values["renewable"] = bool(lease.renewable)
        values["sealed_handle"] = sealed_handle
        self._insert(
            f"INSERT INTO leases ({_COLS}) VALUES ({', '.join(['%s'] * len(LEASE_COLUMNS))})",
            [values[c] for c in LEASE_COLUMNS],
            f"Lease {lease.lease_id!r}",
        )
        self._announce_due(lease.due_at)

    def get_lease(self, lease_id: str) -> tuple[Lease, bytes] | None:
        row = self._one(f"SELECT {_COLS} FROM leases WHERE lease_id = %s", (lease_id,))
        return lease_from_row(row) if row else None

    def update_lease(self, lease_id: str, changes: dict[str, Any], expect: dict[str, Any]) -> bool:
        """Apply ``changes`` only if every ``expect`` column still holds its value (a tuple means one of)."""
        changed = self._exec(*lease_update(lease_id, changes, expect, "%s")) == 1
        if changed and changes.get("due_at") is not None:  # other processes' workers may need to wake for it
            self._announce_due(changes["due_at"])
        return changed

    def claim_lease(
        self, lease_id: str, claimant: str, deadline: float, now: float, states: Iterable[str]
    ) -> tuple[Lease, bytes] | None:
        row = self._one(
            f"UPDATE leases SET claimed_by = %s, claim_deadline = %s WHERE lease_id = %s AND state = ANY(%s) "
            f"AND (claimed_by IS NULL OR claim_deadline < %s) RETURNING {_COLS}",
            (claimant, deadline, lease_id, list(states), now),
        )
        return lease_from_row(row) if row else None

    def claim_leases(
        self, lease_ids: list[str], claimant: str, deadline: float, now: float, states: Iterable[str]
    ) -> list[tuple[Lease, bytes]]:
        """``claim_lease`` of many leases in one statement: the ones it could claim."""
        rows = self._all(
            f"UPDATE leases SET claimed_by = %s, claim_deadline = %s WHERE lease_id = ANY(%s) AND state = ANY(%s) "
            f"AND (claimed_by IS NULL OR claim_deadline < %s) RETURNING {_COLS}",
            (claimant, deadline, list(lease_ids), list(states), now),
        )
        return [lease_from_row(r) for r in rows]

    def claim_due(self, now: float, limit: int, claimant: str, deadline: float) -> list[tuple[Lease, bytes]]:
        # SKIP LOCKED: processes claiming at the same moment take disjoint batches instead of queueing.
        rows = self._all(
            f"WITH due AS (SELECT lease_id FROM leases WHERE state IN {LIVE_STATES} AND due_at <= %s "
            f"  AND (claimed_by IS NULL OR claim_deadline < %s) ORDER BY due_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE leases l SET claimed_by = %s, claim_deadline = %s FROM due WHERE l.lease_id = due.lease_id "
            f"RETURNING {', '.join('l.' + c for c in LEASE_COLUMNS)}",
            (now, now, limit, claimant, deadline),
        )
        return [lease_from_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        """When the worker next has something to claim: a claimed lease counts from its claim deadline.

        (Counting it from ``due_at`` would have every other process spin while one revokes a batch.)
        """
        row = self._one(
            f"SELECT LEAST("
            f"(SELECT due_at FROM leases WHERE state IN {LIVE_STATES} AND claimed_by IS NULL ORDER BY due_at LIMIT 1), "
            f"(SELECT MIN(GREATEST(due_at, claim_deadline)) FROM leases "
            f"WHERE claimed_by IS NOT NULL AND state IN {LIVE_STATES}))"
        )
        return row[0] if row else None

    def list_leases(
        self,
        *,
        engine: str | None = None,
        role: str | None = None,
        identity: str | None = None,
        states: Iterable[str] | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Lease]:
        sql, params = lease_list_query(
            "%s", engine=engine, role=role, identity=identity, states=states, prefix=prefix, after=after, limit=limit
        )
        return [listed_lease_from_row(r) for r in self._all(sql, params)]

    def count_live_leases(self, engine: str, role: str | None = None, identity: str | None = None) -> int:
        # Literal conditions rather than "%s IS NULL OR ...", so the planner picks the index that fits.
        where, params = ["engine = %s"], [engine]
        for column, value in (("role", role), ("identity", identity)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        return self._all(
            f"SELECT COUNT(*) FROM leases WHERE {' AND '.join(where)} AND state IN {LIVE_STATES}", tuple(params)
        )[0][0]

    def leases_by_subject(self, subjects: Iterable[str]) -> list[tuple[str, str, str]]:
        """(subject, engine, state) of every lease, of any engine and state, whose subject is one of ``subjects``."""
        rows = self._all("SELECT subject, engine, state FROM leases WHERE subject = ANY(%s)", (list(set(subjects)),))
        return [tuple(r) for r in rows]

    def lease_counts(self) -> list[tuple[str, str, str, int]]:
        rows = self._all(
            f"SELECT engine, role, state, COUNT(*) FROM leases WHERE state IN {UNFINISHED_STATES} "
            "GROUP BY engine, role, state"
        )
        return [tuple(r) for r in rows]

    def add_to_pool(self, engine: str, role: str, size: int, items: list[tuple[Lease, bytes]]) -> int:
        """Record as many of ``items`` (pool intents) as fill the role's pool to ``size``; how many it recorded.

        The role's row is locked while counting and inserting, so processes refilling the same pool
        at once take turns and never overfill it.
        """
        with self.transaction():
            if self._one("SELECT 1 FROM roles WHERE engine = %s AND name = %s FOR UPDATE", (engine, role)) is None:
                return 0  # deleted meanwhile
            room = size - self._all(pool_count_query("%s"), (engine, role))[0][0]
            for lease, sealed in items[: max(room, 0)]:
                self.insert_lease(lease, sealed)
        return max(min(room, len(items)), 0)

    def count_pool(self, engine: str, role: str) -> int:
        return self._all(pool_count_query("%s"), (engine, role))[0][0]

    def claim_pooled(
        self, engine: str, role: str | None, limit: int, changes: dict[str, Any]
    ) -> list[tuple[Lease, bytes]]:
        """Take up to ``limit`` pooled users of ``engine`` (of ``role``, if given) out of the pool with ``changes``.

        SKIP LOCKED: processes issuing at the same moment take different users instead of queueing.
        """
        sets, params = lease_sets(changes, "%s")
        select, select_params = pooled_query("%s", engine, role, limit)
        rows = self._all(
            f"WITH taken AS ({select} FOR UPDATE SKIP LOCKED) UPDATE leases l SET {sets} FROM taken "
            f"WHERE l.lease_id = taken.lease_id RETURNING {', '.join('l.' + c for c in LEASE_COLUMNS)}",
            [*select_params, *params],
        )
        return [lease_from_row(r) for r in rows]

    def claimants(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT claimed_by FROM leases WHERE claimed_by IS NOT NULL")]

    def release_claims(self, claimant: str, now: float) -> int:
        """Hand a dead process's claims (and intents) to the worker at once."""
        released = self._exec(
            "UPDATE leases SET claim_deadline = %s, due_at = LEAST(due_at, %s) WHERE claimed_by = %s",
            (now - 1, now, claimant),
        )
        if released:
            self._announce_due(now)
        return released

    def reseal_leases(self, reseal: Any, batch: int = 500) -> int:
        """Re-encrypt every lease's handle with ``reseal(lease_id, sealed) -> sealed | None``.

        Each batch is locked while it is resealed, so a concurrent renewal's new handle is never overwritten.
        """
        count, after = 0, ""
        while True:
            with self.transaction():
                rows = self._all(
                    "SELECT lease_id, sealed_handle FROM leases WHERE lease_id > %s ORDER BY lease_id "
                    "LIMIT %s FOR UPDATE",
                    (after, batch),
                )
                if not rows:
                    return count
                for lease_id, sealed in rows:
                    new = reseal(lease_id, sealed)
                    if new is not None:
                        self._exec("UPDATE leases SET sealed_handle = %s WHERE lease_id = %s", (new, lease_id))
                        count += 1
            after = rows[-1][0]

    # -- jobs ----------------------------------------------------------------------------------

    def insert_job(self, job: Job) -> None:
        self._insert(
            f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join(['%s'] * len(JOB_COLUMNS))})",
            job_row(job),
            f"Job {job.job_id!r}",
        )

    def get_job(self, job_id: str) -> Job | None:
        row = self._one(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE job_id = %s", (job_id,))
        return job_from_row(row) if row else None

    def update_job(self, job_id: str, changes: dict[str, Any], expect: dict[str, Any]) -> bool:
        """Apply ``changes`` only if every ``expect`` column still holds its value."""
        return self._exec(*job_update(job_id, changes, expect, "%s")) == 1

    def running_jobs(self) -> list[Job]:
        rows = self._all(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE state = 'running' ORDER BY created_at")
        return [job_from_row(r) for r in rows]

    def delete_finished_jobs(self, before: float) -> int:
        return self._exec("DELETE FROM jobs WHERE state != 'running' AND finished_at < %s", (before,))

    # -- audit ---------------------------------------------------------------------------------

    def append_audit(self, event: AuditEvent, chain: Any) -> None:
        """Sign ``event`` onto the chain (``chain.link``) and store it; the locked head row serialises appenders."""
        details = json.dumps(event.details)
        with self.transaction():
            (seq, mac, key_id), head = chain.link(self.audit_head(lock=True), event, details)
            # One statement for the entry and the new head: a round trip less while the head is locked.
            self._exec(
                "WITH entry AS (INSERT INTO audit (time, identity, operation, path, outcome, lease_id, details, seq, "
                "mac, key_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)) " + _SET_HEAD,
                (
                    event.time,
                    event.identity,
                    event.operation,
                    event.path,
                    event.outcome,
                    event.lease_id,
                    details,
                    seq,
                    mac,
                    key_id,
                    *head_values(head),
                ),
            )

    def list_audit(
        self,
        *,
        lease_id: str | None = None,
        operation: str | None = None,
        after: int = 0,
        limit: int = 100,
        identity: str | None = None,
        path_prefix: str | None = None,
        outcome: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[tuple[int, AuditEvent]]:
        sql, params = audit_list_query(
            "%s",
            lease_id=lease_id,
            operation=operation,
            after=after,
            limit=limit,
            identity=identity,
            path_prefix=path_prefix,
            outcome=outcome,
            since=since,
            until=until,
        )
        return [audit_from_row(r) for r in self._all(sql, params)]

    def audit_head(self, *, lock: bool = False) -> ChainHead:
        """The chain head; ``lock`` (in a transaction) holds it, so no other process appends until commit."""
        row = self._one(
            "SELECT seq, mac, key_id, head_mac, resign_seq, resign_mac FROM audit_head WHERE id = 1"
            + (" FOR UPDATE" if lock else "")
        )
        return ChainHead(*row) if row else ChainHead()

    def audit_chain_rows(self, after: int, limit: int) -> list[ChainRow]:
        rows = self._all(
            f"SELECT {', '.join(CHAIN_COLUMNS)} FROM audit WHERE id > %s ORDER BY id LIMIT %s", (after, limit)
        )
        return [ChainRow(*r) for r in rows]

    def find_audit_seq(self, seq: int) -> int | None:
        row = self._one("SELECT id FROM audit WHERE seq = %s ORDER BY id LIMIT 1", (seq,))
        return row[0] if row else None

    def resign_audit(self, links: list[tuple[int, str, str]], head: ChainHead) -> None:
        """New (mac, key id) for entries by id, and the head after them, in the caller's transaction."""
        with self.transaction():
            if links:
                with self._conn() as conn, conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE audit SET mac = %s, key_id = %s WHERE id = %s",
                        [(mac, key_id, entry_id) for entry_id, mac, key_id in links],
                    )
            self._exec(_SET_HEAD, head_values(head))


_SET_HEAD = (
    "INSERT INTO audit_head (id, seq, mac, key_id, head_mac, resign_seq, resign_mac) "
    "VALUES (1, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
    "mac = excluded.mac, key_id = excluded.key_id, head_mac = excluded.head_mac, "
    "resign_seq = excluded.resign_seq, resign_mac = excluded.resign_mac"
)
