"""The embedded store: one SQLite file (WAL mode), created owner-only, shared safely by threads."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..audit_chain import CHAIN_COLUMNS, ChainHead, ChainRow
from ..errors import Conflict
from ..models import AuditEvent, EngineRecord, Job, Lease, LeaseState, Policy, RoleRecord, SecretVersion, Token
from ..private_files import check_private_file, create_private_file, private_directory
from . import LEASE_COLUMNS
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
)
from .schema import SchemaStatus, status
from .sqlite_checkpoint import BACKSTOP_PAGES, JOURNAL_SIZE_LIMIT, Checkpointer
from .sqlite_migrations import MIGRATIONS, applied, migrate, pending
from .sqlite_snapshot import hold_shared

_LEASE_SELECT = f"SELECT {', '.join(LEASE_COLUMNS)} FROM leases"
# Statements that leave ``_cached_rows`` valid: reads, and the writes of the lease lifecycle. Any
# other write (an engine, role, policy, binding or token above all) clears it.
_KEEPS_CACHE = ("SELECT", "INSERT INTO leases", "UPDATE leases", "INSERT INTO audit", "UPDATE audit")
_CACHE_ENTRIES = 4096  # a bound, so that unknown tokens tried one after another cannot fill memory


class _Result:
    """A finished statement: its rows and how many rows it changed."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchone(self) -> tuple | None:
        return self.rows[0] if self.rows else None

    def value(self) -> Any:
        """The first column of the one row an aggregate (COUNT, MAX) always returns."""
        return self.rows[0][0]

    def fetchall(self) -> list[tuple]:
        return self.rows


class SQLiteStore:
    """All state in one file; a lock serialises access so threads share one connection."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        private_directory(self.path.parent, "The store's directory")
        create_private_file(self.path)
        # SQLite follows links and opens whatever is there: it sees only files that passed these checks.
        for suffix in ("", "-wal", "-shm"):
            check_private_file(Path(f"{self.path}{suffix}"), "The store file")
        # Held while open, so `scaivault snapshot restore` can tell that a process (a server) has this store.
        self._held = hold_shared(self.path)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL survives a process crash (what crash safety needs); only power loss can drop the tail.
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
        self._conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
        self._lock = threading.RLock()
        self._depth = 0
        self._cache: dict[tuple, list[tuple]] = {}
        self._cache_version: int | None = None
        self._checkpointer: Checkpointer | None = None  # started by migrate(), once the file is a WAL database

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    def migrate(self) -> None:
        with self._lock:
            if pending(self._conn, str(self.path)):
                import sqlite_utils

                migrate(sqlite_utils.Database(self._conn))
            # Not before: a new file becomes a WAL database only with its first write, and a second
            # connection opened before that one can make it fail with "database is locked".
            if self._checkpointer is None:
                self._checkpointer = Checkpointer(self.path)

    def schema_status(self) -> SchemaStatus:
        """Its schema version and pending migrations; changes nothing."""
        with self._lock:
            return status(str(self.path), applied(self._conn), [fn.__name__ for fn in MIGRATIONS])

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        with self._lock:
            self._conn.close()
            held, self._held = self._held, -1  # closing twice must not close a descriptor reused since
        if held >= 0:
            os.close(held)  # after the connection: closing any descriptor of the file drops SQLite's own locks

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes; nested use joins the outer transaction."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    def _exec(self, sql: str, params: Iterable[Any] = ()) -> _Result:
        # Rows are fetched under the lock: a statement (UPDATE ... RETURNING above all) is not
        # finished until stepped to the end, and another thread's BEGIN in between would fail.
        with self._lock:
            if not sql.startswith(_KEEPS_CACHE):
                self._cache.clear()
            cursor = self._conn.execute(sql, tuple(params))
            return _Result(cursor.fetchall(), cursor.rowcount)

    def _cached_rows(self, key: tuple, sql: str, params: tuple) -> list[tuple]:
        """``sql``'s rows, remembered until anything but a lease or audit row is written.

        Every issue reads the engine, the role and the caller's policies, which change rarely: each
        write from this process clears the cache (``_exec``), and SQLite's ``data_version`` tells of a
        commit by any other connection. Inside a transaction nothing is remembered: a rollback would
        leave rows that were never committed.
        """
        with self._lock:
            if self._depth:
                return self._exec(sql, params).rows
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._cache_version or len(self._cache) > _CACHE_ENTRIES:
                self._cache.clear()
                self._cache_version = version
            rows = self._cache.get(key)
            if rows is None:
                rows = self._cache[key] = self._exec(sql, params).rows
            return rows

    def _remembered_rows(self, key: tuple) -> list[tuple] | None:
        """``_cached_rows`` without waiting: the rows if they are remembered and still valid, else None.

        Returns None at once if another thread holds the connection (a commit may take milliseconds)
        or is inside a transaction; ``data_version`` is asked as in ``_cached_rows``, which reads
        SQLite's shared memory, not the file.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._depth or key not in self._cache:
                return None
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
            if version != self._cache_version:
                return None  # another connection committed: _cached_rows starts over
            return self._cache[key]
        finally:
            self._lock.release()

    def _insert(self, sql: str, params: Iterable[Any], what: str) -> None:
        try:
            self._exec(sql, params)
        except sqlite3.IntegrityError:
            raise Conflict(f"{what} already exists.") from None

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- engines and roles ---------------------------------------------------------------------

    def insert_engine(self, engine: EngineRecord) -> None:
        self._insert(
            f"INSERT INTO engines ({', '.join(ENGINE_COLUMNS)}) VALUES ({', '.join('?' * len(ENGINE_COLUMNS))})",
            engine_row(engine),
            f"Engine {engine.name!r}",
        )

    def update_engine(self, engine: EngineRecord) -> None:
        sets = ", ".join(f"{c} = ?" for c in ENGINE_COLUMNS[1:])
        self._exec(f"UPDATE engines SET {sets} WHERE name = ?", (*engine_row(engine)[1:], engine.name))

    def get_engine(self, name: str) -> EngineRecord | None:
        rows = self._cached_rows(
            ("engine", name), f"SELECT {', '.join(ENGINE_COLUMNS)} FROM engines WHERE name = ?", (name,)
        )
        return engine_from_row(rows[0]) if rows else None

    def list_engines(self) -> list[EngineRecord]:
        rows = self._exec(f"SELECT {', '.join(ENGINE_COLUMNS)} FROM engines ORDER BY name").fetchall()
        return [engine_from_row(r) for r in rows]

    def delete_engine(self, name: str) -> bool:
        with self.transaction():
            self._exec("DELETE FROM roles WHERE engine = ?", (name,))
            return self._exec("DELETE FROM engines WHERE name = ?", (name,)).rowcount > 0

    def insert_role(self, role: RoleRecord) -> None:
        self._insert(
            f"INSERT INTO roles ({', '.join(ROLE_COLUMNS)}) VALUES ({', '.join('?' * len(ROLE_COLUMNS))})",
            role_row(role),
            f"Role {role.name!r}",
        )

    def update_role(self, role: RoleRecord) -> None:
        sets = ", ".join(f"{c} = ?" for c in ROLE_COLUMNS[2:])
        self._exec(
            f"UPDATE roles SET {sets} WHERE engine = ? AND name = ?", (*role_row(role)[2:], role.engine, role.name)
        )

    def get_role(self, engine: str, name: str) -> RoleRecord | None:
        rows = self._cached_rows(
            ("role", engine, name),
            f"SELECT {', '.join(ROLE_COLUMNS)} FROM roles WHERE engine = ? AND name = ?",
            (engine, name),
        )
        return role_from_row(rows[0]) if rows else None

    def list_roles(self, engine: str) -> list[RoleRecord]:
        rows = self._exec(
            f"SELECT {', '.join(ROLE_COLUMNS)} FROM roles WHERE engine = ? ORDER BY name", (engine,)
        ).fetchall()
        return [role_from_row(r) for r in rows]

    def delete_role(self, engine: str, name: str) -> bool:
        return self._exec("DELETE FROM roles WHERE engine = ? AND name = ?", (engine, name)).rowcount > 0

    # -- secrets -------------------------------------------------------------------------------

    def add_secret_version(self, version: SecretVersion, sealed: bytes) -> int:
        with self.transaction():
            latest = self._exec("SELECT COALESCE(MAX(version), 0) FROM secrets WHERE path = ?", (version.path,)).value()
            number = latest + 1
            self._exec(
                "INSERT INTO secrets (path, version, sealed, secret_type, created_at, created_by, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    version.path,
                    number,
                    sealed,
                    version.secret_type,
                    version.created_at,
                    version.created_by,
                    version.reason,
                ),
            )
            return number

    def get_secret_version(self, path: str, version: int | None = None) -> tuple[SecretVersion, bytes | None] | None:
        cols = ", ".join(SECRET_COLUMNS)
        if version is None:
            row = self._exec(
                f"SELECT {cols}, sealed FROM secrets WHERE path = ? AND sealed IS NOT NULL "
                "ORDER BY version DESC LIMIT 1",
                (path,),
            ).fetchone()
        else:
            row = self._exec(
                f"SELECT {cols}, sealed FROM secrets WHERE path = ? AND version = ?", (path, version)
            ).fetchone()
        if not row:
            return None
        return secret_from_row(row[:-1]), row[-1]

    def list_secret_versions(self, path: str) -> list[SecretVersion]:
        rows = self._exec(
            f"SELECT {', '.join(SECRET_COLUMNS)} FROM secrets WHERE path = ? ORDER BY version", (path,)
        ).fetchall()
        return [secret_from_row(r) for r in rows]

    def list_secret_paths(self, prefix: str = "") -> list[str]:
        rows = self._exec(
            "SELECT DISTINCT path FROM secrets WHERE substr(path, 1, ?) = ? ORDER BY path", (len(prefix), prefix)
        ).fetchall()
        return [r[0] for r in rows]

    def reseal_secret_version(self, path: str, version: int, sealed: bytes) -> None:
        # Never bring back a value retired meanwhile.
        self._exec(
            "UPDATE secrets SET sealed = ? WHERE path = ? AND version = ? AND sealed IS NOT NULL",
            (sealed, path, version),
        )

    def delete_secret(self, path: str) -> bool:
        return self._exec("DELETE FROM secrets WHERE path = ?", (path,)).rowcount > 0

    def schedule_retirement(self, path: str, version: int, retire_at: float) -> None:
        self._exec(
            "UPDATE secrets SET retire_at = ? WHERE path = ? AND version = ? AND sealed IS NOT NULL",
            (retire_at, path, version),
        )

    def due_retirements(self, now: float) -> list[tuple[str, int]]:
        rows = self._exec(
            "SELECT path, version FROM secrets WHERE retire_at IS NOT NULL AND retire_at <= ? AND sealed IS NOT NULL",
            (now,),
        ).fetchall()
        return [tuple(r) for r in rows]

    def retire_secret_version(self, path: str, version: int, retired_at: float) -> None:
        # The value is destroyed, not hidden: the row keeps only its history.
        self._exec(
            "UPDATE secrets SET sealed = NULL, retired_at = ?, retire_at = NULL WHERE path = ? AND version = ?",
            (retired_at, path, version),
        )

    # -- rotations -----------------------------------------------------------------------------

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
            "INSERT INTO rotations (path, engine, sealed_new, identity, reason, grace_period, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (path, engine, sealed_new, identity, reason, grace_period, now),
            f"A rotation of {path!r}",
        )

    def pending_rotations(self) -> list[dict[str, Any]]:
        cols = ("path", "engine", "sealed_new", "identity", "reason", "grace_period", "started_at")
        return [
            dict(zip(cols, r, strict=True)) for r in self._exec(f"SELECT {', '.join(cols)} FROM rotations").fetchall()
        ]

    def reseal_rotation(self, path: str, sealed_new: bytes) -> None:
        self._exec("UPDATE rotations SET sealed_new = ? WHERE path = ?", (sealed_new, path))

    def end_rotation(self, path: str) -> None:
        self._exec("DELETE FROM rotations WHERE path = ?", (path,))

    def set_rotation_period(self, path: str, period: int | None, next_at: float | None, grace_period: int = 0) -> None:
        if period is None:
            self._exec("DELETE FROM rotation_schedule WHERE path = ?", (path,))
        else:
            self._exec(
                "INSERT INTO rotation_schedule (path, period, next_at, grace_period) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET period = excluded.period, next_at = excluded.next_at, "
                "grace_period = excluded.grace_period",
                (path, period, next_at, grace_period),
            )

    def claim_due_rotations(self, now: float) -> list[tuple[str, int]]:
        """(path, grace period) of each scheduled rotation now due.

        Each is pushed to its next slot, so one process takes it.
        """
        with self.transaction():
            rows = self._exec(
                "SELECT path, period, grace_period FROM rotation_schedule WHERE next_at <= ?", (now,)
            ).fetchall()
            for path, period, _ in rows:
                self._exec("UPDATE rotation_schedule SET next_at = ? WHERE path = ?", (now + period, path))
        return [(path, grace or 0) for path, _, grace in rows]

    def next_scheduled_at(self) -> float | None:
        row = self._exec(
            "SELECT MIN(t) FROM (SELECT MIN(next_at) AS t FROM rotation_schedule "
            "UNION ALL SELECT MIN(retire_at) FROM secrets WHERE retire_at IS NOT NULL)"
        ).fetchone()
        return row[0] if row else None

    # -- policies, bindings, tokens -------------------------------------------------------------

    def put_policy(self, policy: Policy, *, create: bool) -> None:
        rules = rules_json(policy)
        if create:
            self._insert(
                "INSERT INTO policies (name, rules, description) VALUES (?, ?, ?)",
                (policy.name, rules, policy.description),
                f"Policy {policy.name!r}",
            )
        else:
            self._exec(
                "UPDATE policies SET rules = ?, description = ? WHERE name = ?",
                (rules, policy.description, policy.name),
            )

    def get_policy(self, name: str) -> Policy | None:
        row = self._exec("SELECT name, rules, description FROM policies WHERE name = ?", (name,)).fetchone()
        return policy_from_row(row) if row else None

    def list_policies(self) -> list[Policy]:
        return [
            policy_from_row(r)
            for r in self._exec("SELECT name, rules, description FROM policies ORDER BY name").fetchall()
        ]

    def delete_policy(self, name: str) -> bool:
        with self.transaction():
            self._exec("DELETE FROM bindings WHERE policy = ?", (name,))
            return self._exec("DELETE FROM policies WHERE name = ?", (name,)).rowcount > 0

    def add_binding(self, policy: str, identity: str) -> None:
        self._exec("INSERT OR IGNORE INTO bindings (policy, identity) VALUES (?, ?)", (policy, identity))

    def remove_binding(self, policy: str, identity: str) -> bool:
        return self._exec("DELETE FROM bindings WHERE policy = ? AND identity = ?", (policy, identity)).rowcount > 0

    def list_bindings(self, policy: str | None = None, identity: str | None = None) -> list[tuple[str, str]]:
        rows = self._exec(
            "SELECT policy, identity FROM bindings WHERE (? IS NULL OR policy = ?) AND (? IS NULL OR identity = ?) "
            "ORDER BY policy, identity",
            (policy, policy, identity, identity),
        ).fetchall()
        return [tuple(r) for r in rows]

    def policies_for(self, identity: str) -> list[Policy]:
        rows = self._cached_rows(
            ("policies", identity),
            "SELECT p.name, p.rules, p.description FROM policies p JOIN bindings b ON b.policy = p.name "
            "WHERE b.identity = ?",
            (identity,),
        )
        return [policy_from_row(r) for r in rows]

    def insert_token(self, token: Token) -> None:
        self._insert(
            f"INSERT INTO tokens ({', '.join(TOKEN_COLUMNS)}) VALUES ({', '.join('?' * len(TOKEN_COLUMNS))})",
            token_row(token),
            "Token",
        )

    def token_by_hash(self, token_hash: str) -> Token | None:
        rows = self._cached_rows(
            ("token", token_hash), f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE token_hash = ?", (token_hash,)
        )
        return token_from_row(rows[0]) if rows else None

    def token_if_remembered(self, token_hash: str) -> Token | None:
        rows = self._remembered_rows(("token", token_hash))
        return token_from_row(rows[0]) if rows else None

    def list_tokens(self, identity: str | None = None) -> list[Token]:
        rows = self._exec(
            f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE (? IS NULL OR identity = ?) ORDER BY created_at",
            (identity, identity),
        ).fetchall()
        return [token_from_row(r) for r in rows]

    def revoke_token(self, accessor: str) -> bool:
        """Revoke the token and every token minted from it, however far down."""
        return (
            self._exec(
                f"UPDATE tokens SET revoked = 1 WHERE accessor IN {TOKEN_TREE.format(param='?')}", (accessor,)
            ).rowcount
            > 0
        )

    def token_by_accessor(self, accessor: str) -> Token | None:
        rows = self._exec(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE accessor = ?", (accessor,)).fetchall()
        return token_from_row(rows[0]) if rows else None

    def set_token_expiry(self, accessor: str, expires_at: float) -> bool:
        return (
            self._exec(
                "UPDATE tokens SET expires_at = ? WHERE accessor = ? AND revoked = 0", (expires_at, accessor)
            ).rowcount
            > 0
        )

    # -- leases --------------------------------------------------------------------------------

    def insert_lease(self, lease: Lease, sealed_handle: bytes) -> None:
        values = {c: getattr(lease, c, None) for c in LEASE_COLUMNS}
        values["metadata"] = json.dumps(lease.metadata)
        values["renewable"] = int(lease.renewable)
        values["sealed_handle"] = sealed_handle
        self._insert(
            f"INSERT INTO leases ({', '.join(LEASE_COLUMNS)}) VALUES ({', '.join('?' * len(LEASE_COLUMNS))})",
            [values[c] for c in LEASE_COLUMNS],
            f"Lease {lease.lease_id!r}",
        )

    def get_lease(self, lease_id: str) -> tuple[Lease, bytes] | None:
        row = self._exec(f"{_LEASE_SELECT} WHERE lease_id = ?", (lease_id,)).fetchone()
        return lease_from_row(row) if row else None

    def update_lease(self, lease_id: str, changes: dict[str, Any], expect: dict[str, Any]) -> bool:
        """Apply ``changes`` only if every ``expect`` column still holds its value (a tuple means one of)."""
        return self._exec(*lease_update(lease_id, changes, expect, "?")).rowcount == 1

    def claim_lease(
        self, lease_id: str, claimant: str, deadline: float, now: float, states: Iterable[str]
    ) -> tuple[Lease, bytes] | None:
        states = tuple(states)
        row = self._exec(
            f"UPDATE leases SET claimed_by = ?, claim_deadline = ? WHERE lease_id = ? "
            f"AND state IN ({', '.join('?' * len(states))}) AND (claimed_by IS NULL OR claim_deadline < ?) "
            f"RETURNING {', '.join(LEASE_COLUMNS)}",
            (claimant, deadline, lease_id, *states, now),
        ).fetchone()
        return lease_from_row(row) if row else None

    def claim_leases(
        self, lease_ids: list[str], claimant: str, deadline: float, now: float, states: Iterable[str]
    ) -> list[tuple[Lease, bytes]]:
        """``claim_lease`` of many leases in one statement: the ones it could claim."""
        states = tuple(states)
        found: list[tuple[Lease, bytes]] = []
        for start in range(0, len(lease_ids), 500):  # SQLite allows a limited number of parameters
            chunk = lease_ids[start : start + 500]
            rows = self._exec(
                f"UPDATE leases SET claimed_by = ?, claim_deadline = ? "
                f"WHERE lease_id IN ({', '.join('?' * len(chunk))}) "
                f"AND state IN ({', '.join('?' * len(states))}) AND (claimed_by IS NULL OR claim_deadline < ?) "
                f"RETURNING {', '.join(LEASE_COLUMNS)}",
                (claimant, deadline, *chunk, *states, now),
            ).fetchall()
            found += [lease_from_row(r) for r in rows]
        return found

    def claim_due(self, now: float, limit: int, claimant: str, deadline: float) -> list[tuple[Lease, bytes]]:
        with self.transaction():
            rows = self._exec(
                f"UPDATE leases SET claimed_by = ?, claim_deadline = ? WHERE lease_id IN ("
                f"  SELECT lease_id FROM leases WHERE state IN {LIVE_STATES} AND due_at <= ?"
                f"  AND (claimed_by IS NULL OR claim_deadline < ?) ORDER BY due_at LIMIT ?"
                f") RETURNING {', '.join(LEASE_COLUMNS)}",
                (claimant, deadline, now, now, limit),
            ).fetchall()
        return [lease_from_row(r) for r in rows]

    def next_due_at(self) -> float | None:
        row = self._exec(f"SELECT due_at FROM leases WHERE state IN {LIVE_STATES} ORDER BY due_at LIMIT 1").fetchone()
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
            "?", engine=engine, role=role, identity=identity, states=states, prefix=prefix, after=after, limit=limit
        )
        return [listed_lease_from_row(r) for r in self._exec(sql, params).fetchall()]

    def count_live_leases(self, engine: str, role: str | None = None, identity: str | None = None) -> int:
        # Literal conditions rather than "? IS NULL OR ...", so the planner picks the index that fits.
        where, params = ["engine = ?"], [engine]
        for column, value in (("role", role), ("identity", identity)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        return self._exec(
            f"SELECT COUNT(*) FROM leases WHERE {' AND '.join(where)} AND state IN {LIVE_STATES}", params
        ).value()

    def leases_by_subject(self, subjects: Iterable[str]) -> list[tuple[str, str, str]]:
        """(subject, engine, state) of every lease, of any engine and state, whose subject is one of ``subjects``."""
        found: list[tuple[str, str, str]] = []
        subjects = list(dict.fromkeys(subjects))
        for start in range(0, len(subjects), 500):  # SQLite allows a limited number of parameters
            chunk = subjects[start : start + 500]
            rows = self._exec(
                f"SELECT subject, engine, state FROM leases WHERE subject IN ({', '.join('?' * len(chunk))})", chunk
            ).fetchall()
            found += [tuple(r) for r in rows]
        return found

    def lease_counts(self) -> list[tuple[str, str, str, int]]:
        rows = self._exec(
            f"SELECT engine, role, state, COUNT(*) FROM leases WHERE state IN {UNFINISHED_STATES} "
            "GROUP BY engine, role, state"
        ).fetchall()
        return [tuple(r) for r in rows]

    def add_to_pool(self, engine: str, role: str, size: int, items: list[tuple[Lease, bytes]]) -> int:
        """Record as many of ``items`` (pool intents) as fill the role's pool to ``size``; how many it recorded.

        Counting and inserting in one write transaction: two refills never overfill a pool.
        """
        with self.transaction():
            if self._exec("SELECT 1 FROM roles WHERE engine = ? AND name = ?", (engine, role)).fetchone() is None:
                return 0  # deleted meanwhile
            room = size - self._exec(pool_count_query("?"), (engine, role)).value()
            for lease, sealed in items[: max(room, 0)]:
                self.insert_lease(lease, sealed)
        return max(min(room, len(items)), 0)

    def count_pool(self, engine: str, role: str) -> int:
        return self._exec(pool_count_query("?"), (engine, role)).value()

    def claim_pooled(
        self, engine: str, role: str | None, limit: int, changes: dict[str, Any]
    ) -> list[tuple[Lease, bytes]]:
        """Take up to ``limit`` pooled users of ``engine`` (of ``role``, if given) out of the pool with ``changes``."""
        sets, params = lease_sets(changes, "?")
        select, select_params = pooled_query("?", engine, role, limit)
        rows = self._exec(
            f"UPDATE leases SET {sets} WHERE lease_id IN ({select}) AND state = '{LeaseState.POOLED}' "
            f"RETURNING {', '.join(LEASE_COLUMNS)}",
            [*params, *select_params],
        ).fetchall()
        return [lease_from_row(r) for r in rows]

    def claimants(self) -> list[str]:
        return [
            r[0] for r in self._exec("SELECT DISTINCT claimed_by FROM leases WHERE claimed_by IS NOT NULL").fetchall()
        ]

    def release_claims(self, claimant: str, now: float) -> int:
        """Hand a dead process's claims (and intents) to the worker at once."""
        return self._exec(
            "UPDATE leases SET claim_deadline = ?, due_at = MIN(due_at, ?) WHERE claimed_by = ?",
            (now - 1, now, claimant),
        ).rowcount

    def reseal_leases(self, reseal: Any, batch: int = 500) -> int:
        """Re-encrypt every lease's handle (finished ones too) with ``reseal(lease_id, sealed) -> sealed | None``."""
        count, after = 0, ""
        while True:
            with self.transaction():  # read and rewrite together, so a concurrent renewal's handle is never lost
                rows = self._exec(
                    "SELECT lease_id, sealed_handle FROM leases WHERE lease_id > ? ORDER BY lease_id LIMIT ?",
                    (after, batch),
                ).fetchall()
                if not rows:
                    return count
                for lease_id, sealed in rows:
                    new = reseal(lease_id, sealed)
                    if new is not None:
                        self._exec("UPDATE leases SET sealed_handle = ? WHERE lease_id = ?", (new, lease_id))
                        count += 1
            after = rows[-1][0]

    # -- jobs ----------------------------------------------------------------------------------

    def insert_job(self, job: Job) -> None:
        self._insert(
            f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join('?' * len(JOB_COLUMNS))})",
            job_row(job),
            f"Job {job.job_id!r}",
        )

    def get_job(self, job_id: str) -> Job | None:
        row = self._exec(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return job_from_row(row) if row else None

    def update_job(self, job_id: str, changes: dict[str, Any], expect: dict[str, Any]) -> bool:
        """Apply ``changes`` only if every ``expect`` column still holds its value."""
        return self._exec(*job_update(job_id, changes, expect, "?")).rowcount == 1

    def running_jobs(self) -> list[Job]:
        rows = self._exec(f"SELECT {', '.join(JOB_COLUMNS)} FROM jobs WHERE state = 'running' ORDER BY created_at")
        return [job_from_row(r) for r in rows.fetchall()]

    def delete_finished_jobs(self, before: float) -> int:
        return self._exec("DELETE FROM jobs WHERE state != 'running' AND finished_at < ?", (before,)).rowcount

    # -- audit ---------------------------------------------------------------------------------

    _chain_head: ChainHead | None = None  # the head as this process last wrote it (a guess, checked on use)

    def append_audit(self, event: AuditEvent, chain: Any) -> None:
        """Sign ``event`` onto the chain (``chain.link``) and store it; BEGIN IMMEDIATE serialises appenders."""
        details = json.dumps(event.details)
        with self.transaction():
            # Usually no other connection appended since this one did, so link to the head it wrote and
            # let the UPDATE check that (one statement less on the hot path); otherwise read it and link again.
            head = self._chain_head or self.audit_head()
            (seq, mac, key_id), new = chain.link(head, event, details)
            if (
                self._exec(
                    f"UPDATE audit_head SET {_HEAD_SET} WHERE id = 1 AND head_mac IS ?",
                    (*head_values(new), head.head_mac),
                ).rowcount
                != 1
            ):
                (seq, mac, key_id), new = chain.link(self.audit_head(), event, details)
                self._set_audit_head(new)
            self._exec(
                "INSERT INTO audit (time, identity, operation, path, outcome, lease_id, details, seq, mac, key_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                ),
            )
            self._chain_head = new  # a rollback makes it stale, which the next append's UPDATE notices

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
            "?",
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
        return [audit_from_row(r) for r in self._exec(sql, params).fetchall()]

    def audit_head(self, *, lock: bool = False) -> ChainHead:
        """The chain head (``lock``: a PostgreSQL notion; here the caller's transaction already excludes writers)."""
        row = self._exec(
            "SELECT seq, mac, key_id, head_mac, resign_seq, resign_mac FROM audit_head WHERE id = 1"
        ).fetchone()
        return ChainHead(*row) if row else ChainHead()

    def _set_audit_head(self, head: ChainHead) -> None:
        self._exec(
            "INSERT INTO audit_head (id, seq, mac, key_id, head_mac, resign_seq, resign_mac) "
            f"VALUES (1, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET {_HEAD_SET}",
            (*head_values(head), *head_values(head)),
        )

    def audit_chain_rows(self, after: int, limit: int) -> list[ChainRow]:
        rows = self._exec(
            f"SELECT {', '.join(CHAIN_COLUMNS)} FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ).fetchall()
        return [ChainRow(*r) for r in rows]

    def find_audit_seq(self, seq: int) -> int | None:
        row = self._exec("SELECT id FROM audit WHERE seq = ? ORDER BY id LIMIT 1", (seq,)).fetchone()
        return row[0] if row else None

    def resign_audit(self, links: list[tuple[int, str, str]], head: ChainHead) -> None:
        """New (mac, key id) for entries by id, and the head after them, in the caller's transaction."""
        with self.transaction():
            for entry_id, mac, key_id in links:
                self._exec("UPDATE audit SET mac = ?, key_id = ? WHERE id = ?", (mac, key_id, entry_id))
            self._set_audit_head(head)


_HEAD_SET = "seq = ?, mac = ?, key_id = ?, head_mac = ?, resign_seq = ?, resign_mac = ?"


def is_sqlite_url(url: str) -> bool:
    return url.startswith("sqlite:") or "://" not in url


def path_from_url(url: str) -> Path:
    return Path(url[len("sqlite:///") :] if url.startswith("sqlite:///") else url.removeprefix("sqlite:"))
