"""The shared store: PostgreSQL, so several vault processes (on several hosts) work on one state.

Same semantics as ``store.sqlite``: every lease change is a compare-and-set ``UPDATE``, so of two
processes racing for a lease exactly one wins. Due leases are claimed with ``FOR UPDATE SKIP
LOCKED`` plus a claim deadline, so each expiry is revoked by one process and a dead process's
claims pass to the next once their deadline is over. When a lease becomes due within the next
minute the store sends a ``NOTIFY``; ``subscribe`` hands those to the expiry worker, so a process
learns of leases issued elsewhere without scanning the table (later ones it finds itself, since
a worker never sleeps longer than that).

Tables live in their own schema (``?schema=``, default ``scaivault``); connections come from a
pool (``?pool_min=``, ``?pool_max=``). Everything else in the URL goes to libpq unchanged.
Needs the ``postgres-store`` extra (psycopg and psycopg-pool).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from ..audit_chain import CHAIN_COLUMNS, ChainHead, ChainRow
from ..errors import Conflict, InvalidConfig, InvalidRequest
from ..models import AuditEvent, EngineRecord, Lease, Policy, RoleRecord, SecretVersion, Token
from .pg_migrations import migrate
from ..redaction import redact
from .rows import (ENGINE_COLUMNS, LEASE_LIST_COLUMNS, ROLE_COLUMNS, SECRET_COLUMNS, TOKEN_COLUMNS, TOKEN_TREE,
                   engine_from_row, engine_row, lease_from_row, policy_from_row, role_from_row, role_row,
                   rules_json, secret_from_row, token_from_row, token_row)
from . import LEASE_COLUMNS

log = logging.getLogger("scaivault.pg_store")

DEFAULT_SCHEMA = "scaivault"
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_LIVE = "('intent', 'active', 'revoking')"  # literal, so the planner can use the partial index leases_due
_ANY_STATE = ("intent", "active", "revoking", "irrevocable")
_COLS = ", ".join(LEASE_COLUMNS)
_INSERT_RETRIES = 20
NOTIFY_WITHIN = 60.0  # seconds; must be at least the expiry worker's longest sleep


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def parse_url(url: str) -> tuple[str, str, dict[str, int], str]:
    """(libpq URL, schema, pool sizes, the URL with any password masked) from a store URL."""
    parts = urlsplit(url)
    ours = {"schema": DEFAULT_SCHEMA, "pool_min": "1", "pool_max": "10"}
    passed = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ours:
            ours[key] = value
        else:
            passed.append((key, value))
    if not _SCHEMA.fullmatch(ours["schema"]):
        raise InvalidConfig("The store URL's schema= must be a plain identifier (letters, digits, _).", field="schema")
    try:
        pool = {"min_size": int(ours["pool_min"]), "max_size": int(ours["pool_max"])}
    except ValueError:
        raise InvalidConfig("pool_min and pool_max in the store URL are numbers.", field="pool_max") from None
    if not 0 <= pool["min_size"] <= pool["max_size"] or pool["max_size"] < 1:
        raise InvalidConfig("The store URL needs 0 <= pool_min <= pool_max and pool_max >= 1.", field="pool_max")
    # quote, not quote_plus: libpq decodes %20 but reads '+' as itself (options=-c%20... must survive)
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(passed, quote_via=quote)))
    return conninfo, ours["schema"], pool, mask_url(url)


# libpq parameters that carry a credential (the password, the client key's passphrase).
_CREDENTIAL_PARAMETERS = frozenset({"password", "sslpassword"})


def mask_url(url: str) -> str:
    """``url`` as it may be shown (repr, logs, errors, the CLI): every credential in it replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, at, hosts = netloc.rpartition("@")
        netloc = userinfo.split(":", 1)[0] + ":***" + at + hosts
    items = []
    for item in parts.query.split("&") if parts.query else []:
        key, sep, _ = item.partition("=")
        items.append(f"{key}=***" if sep and unquote_plus(key).lower() in _CREDENTIAL_PARAMETERS else item)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(items)))


def url_credentials(url: str) -> list[str]:
    """The credentials in ``url``, as written and decoded, to mask wherever a driver might quote them."""
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [value for key, value in parse_qsl(parts.query, keep_blank_values=True)
              if key.lower() in _CREDENTIAL_PARAMETERS and value]
    return sorted({*found, *(unquote(v) for v in found)}, key=len, reverse=True)




class PostgresStore:
    """All state in one PostgreSQL schema, shared by every process that opens the same URL."""

    def __init__(self, url: str) -> None:
        self._conninfo, self.schema, pool_sizes, self.url = parse_url(url)
        self._credentials = url_credentials(url)
        self.channel = f"scaivault_due_{self.schema}"[:63]
        self._pool = ConnectionPool(self._conninfo, kwargs={"autocommit": True}, configure=self._configure,
                                    open=False, name=f"scaivault-{self.schema}", **pool_sizes)
        self._opened = False
        self._open_lock = threading.Lock()
        self._local = threading.local()  # the connection of this thread's open transaction, if any
        self._callbacks: list[Any] = []
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()

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
            raise InvalidConfig(f"Cannot connect to the PostgreSQL store {self.url}: {message}", field="store") from None

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
                raise InvalidRequest("A value in the request cannot be stored: it holds a NUL character "
                                     "or a number out of range.") from None

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
            migrate(conn, self.schema)
        finally:
            conn.close()
        self._ensure_open()

    def close(self) -> None:
        self._closed.set()
        if self._listener is not None:
            self._listener.join(timeout=5)
            self._listener = None
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
        with self._pool.connection() as conn:
            with conn.transaction():
                local.conn, local.depth = conn, 1
                try:
                    yield
                finally:
                    local.conn, local.depth = None, 0
        self._notify(local.announce)  # only once committed: listeners must find what they are told of

    # -- notifications -------------------------------------------------------------------------

    def subscribe(self, callback: Any) -> None:
        """Call ``callback(due_at)`` whenever any process makes a lease due at ``due_at`` (from a LISTEN thread).

        After (re)connecting it is called with ``-inf``: anything announced meanwhile was missed.
        """
        self._callbacks.append(callback)
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen, name="scaivault-listen", daemon=True)
            self._listener.start()

    def _announce(self, due_at: float) -> None:
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
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    backoff = 0.5
                    self._announce(float("-inf"))
                    while not self._closed.is_set():
                        for note in conn.notifies(timeout=0.5):
                            try:
                                self._announce(float(note.payload))
                            except ValueError:
                                continue
            except psycopg.Error as exc:
                if self._closed.is_set():
                    return
                log.warning("listening for new leases failed, reconnecting in %.1fs: %s", backoff,
                            redact(str(exc).strip(), self._credentials))
                self._closed.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _announce_due(self, due_at: float) -> None:
        """Tell other processes a lease is due at ``due_at``, if that is soon enough to matter (after commit)."""
        # A worker sleeps at most ExpiryWorker.max_sleep (30 s) and then looks at the store itself,
        # so only due times inside that horizon are worth waking anyone for.
        if due_at > time.time() + NOTIFY_WITHIN:
            return
        if getattr(self._local, "conn", None) is not None:
            self._local.announce.append(due_at)
        else:
            self._notify([due_at])

    def _notify(self, due_times: list[float]) -> None:
        if not due_times:
            return
        # In a transaction of its own with asynchronous commit: PostgreSQL serialises the commits of
        # notifying transactions, so one that waited for a WAL flush would queue every other process
        # behind it. A notification lost in a server crash costs at most one worker sleep.
        notify = sql.SQL("; ").join(sql.SQL("SELECT pg_notify({}, {})").format(sql.Literal(self.channel), sql.Literal(repr(t)))
                                    for t in due_times)
        try:
            with self._pool.connection() as conn:
                conn.execute(sql.SQL("BEGIN; SET LOCAL synchronous_commit TO off; {}; COMMIT").format(notify))
        except psycopg.Error as exc:
            log.warning("announcing a due lease failed (other processes find it within a worker sleep): %s",
                        type(exc).__name__)

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._exec("INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                   (key, value))

    # -- engines and roles ---------------------------------------------------------------------

    def insert_engine(self, engine: EngineRecord) -> None:
        self._insert(f"INSERT INTO engines ({', '.join(ENGINE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(ENGINE_COLUMNS))})",
                     engine_row(engine), f"Engine {engine.name!r}")

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
        self._insert(f"INSERT INTO roles ({', '.join(ROLE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(ROLE_COLUMNS))})",
                     role_row(role), f"Role {role.name!r}")

    def update_role(self, role: RoleRecord) -> None:
        sets = ", ".join(f"{c} = %s" for c in ROLE_COLUMNS[2:])
        self._exec(f"UPDATE roles SET {sets} WHERE engine = %s AND name = %s",
                   (*role_row(role)[2:], role.engine, role.name))

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
                (version.path, sealed, version.secret_type, version.created_at, version.created_by, version.reason,
                 version.path),
            )
            if row:
                return row[0]
        raise Conflict(f"The secret at {version.path!r} is being written by others; retry.", path=version.path)

    def get_secret_version(self, path: str, version: int | None = None) -> tuple[SecretVersion, bytes | None] | None:
        cols = ", ".join(SECRET_COLUMNS)
        if version is None:
            row = self._one(f"SELECT {cols}, sealed FROM secrets WHERE path = %s AND sealed IS NOT NULL "
                            "ORDER BY version DESC LIMIT 1", (path,))
        else:
            row = self._one(f"SELECT {cols}, sealed FROM secrets WHERE path = %s AND version = %s", (path, version))
        if not row:
            return None
        return secret_from_row(row[:-1]), row[-1]

    def list_secret_versions(self, path: str) -> list[SecretVersion]:
        rows = self._all(f"SELECT {', '.join(SECRET_COLUMNS)} FROM secrets WHERE path = %s ORDER BY version", (path,))
        return [secret_from_row(r) for r in rows]

    def list_secret_paths(self, prefix: str = "") -> list[str]:
        rows = self._all("SELECT DISTINCT path FROM secrets WHERE left(path, %s) = %s ORDER BY path", (len(prefix), prefix))
        return [r[0] for r in rows]

    def reseal_secret_version(self, path: str, version: int, sealed: bytes) -> None:
        # Never bring back a value retired meanwhile.
        self._exec("UPDATE secrets SET sealed = %s WHERE path = %s AND version = %s AND sealed IS NOT NULL",
                   (sealed, path, version))

    def delete_secret(self, path: str) -> bool:
        return self._exec("DELETE FROM secrets WHERE path = %s", (path,)) > 0

    def schedule_retirement(self, path: str, version: int, retire_at: float) -> None:
        self._exec("UPDATE secrets SET retire_at = %s WHERE path = %s AND version = %s AND sealed IS NOT NULL",
                   (retire_at, path, version))

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
        self._exec("UPDATE secrets SET sealed = NULL, retired_at = %s, retire_at = NULL WHERE path = %s AND version = %s",
                   (retired_at, path, version))

    # -- rotations -----------------------------------------------------------------------------

    _ROTATION = ("path", "engine", "sealed_new", "identity", "reason", "grace_period", "started_at")

    def begin_rotation(self, path: str, engine: str | None, sealed_new: bytes, identity: str, reason: str | None,
                       grace_period: int, now: float) -> None:
        self._insert(f"INSERT INTO rotations ({', '.join(self._ROTATION)}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                     (path, engine, sealed_new, identity, reason, grace_period, now), f"A rotation of {path!r}")

    def pending_rotations(self) -> list[dict[str, Any]]:
        return [dict(zip(self._ROTATION, r)) for r in self._all(f"SELECT {', '.join(self._ROTATION)} FROM rotations")]

    def reseal_rotation(self, path: str, sealed_new: bytes) -> None:
        self._exec("UPDATE rotations SET sealed_new = %s WHERE path = %s", (sealed_new, path))

    def end_rotation(self, path: str) -> None:
        self._exec("DELETE FROM rotations WHERE path = %s", (path,))

    def set_rotation_period(self, path: str, period: int | None, next_at: float | None, grace_period: int = 0) -> None:
        if period is None:
            self._exec("DELETE FROM rotation_schedule WHERE path = %s", (path,))
        else:
            self._exec("INSERT INTO rotation_schedule (path, period, next_at, grace_period) VALUES (%s, %s, %s, %s) "
                       "ON CONFLICT (path) DO UPDATE SET period = excluded.period, next_at = excluded.next_at, "
                       "grace_period = excluded.grace_period", (path, period, next_at, grace_period))

    def claim_due_rotations(self, now: float) -> list[tuple[str, int]]:
        """(path, grace period) of each scheduled rotation now due; each is pushed to its next slot so one process takes it."""
        rows = self._all(
            "WITH due AS (SELECT path FROM rotation_schedule WHERE next_at <= %s FOR UPDATE SKIP LOCKED) "
            "UPDATE rotation_schedule r SET next_at = %s + r.period FROM due WHERE r.path = due.path "
            "RETURNING r.path, r.grace_period",
            (now, now),
        )
        return [(r[0], r[1] or 0) for r in rows]

    def next_scheduled_at(self) -> float | None:
        row = self._one("SELECT LEAST((SELECT MIN(next_at) FROM rotation_schedule), "
                        "(SELECT MIN(retire_at) FROM secrets WHERE retire_at IS NOT NULL))")
        return row[0] if row else None

    # -- policies, bindings, tokens -------------------------------------------------------------

    def put_policy(self, policy: Policy, *, create: bool) -> None:
        rules = rules_json(policy)
        if create:
            self._insert("INSERT INTO policies (name, rules, description) VALUES (%s, %s, %s)",
                         (policy.name, rules, policy.description), f"Policy {policy.name!r}")
        else:
            self._exec("UPDATE policies SET rules = %s, description = %s WHERE name = %s",
                       (rules, policy.description, policy.name))

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
        clauses, params = self._filters((("policy", policy), ("identity", identity)))
        rows = self._all(f"SELECT policy, identity FROM bindings{_where(clauses)} ORDER BY policy, identity", params)
        return [tuple(r) for r in rows]

    def policies_for(self, identity: str) -> list[Policy]:
        rows = self._all("SELECT p.name, p.rules, p.description FROM policies p JOIN bindings b ON b.policy = p.name "
                         "WHERE b.identity = %s", (identity,))
        return [policy_from_row(r) for r in rows]

    def insert_token(self, token: Token) -> None:
        self._insert(f"INSERT INTO tokens ({', '.join(TOKEN_COLUMNS)}) VALUES ({', '.join(['%s'] * len(TOKEN_COLUMNS))})",
                     token_row(token), "Token")

    def token_by_hash(self, token_hash: str) -> Token | None:
        row = self._one(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE token_hash = %s", (token_hash,))
        return token_from_row(row) if row else None

    def list_tokens(self, identity: str | None = None) -> list[Token]:
        clauses, params = self._filters((("identity", identity),))
        rows = self._all(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens{_where(clauses)} ORDER BY created_at", params)
        return [token_from_row(r) for r in rows]

    def revoke_token(self, accessor: str) -> bool:
        """Revoke the token and every token minted from it, however far down."""
        return self._exec(f"UPDATE tokens SET revoked = true WHERE accessor IN {TOKEN_TREE.format(param='%s')}",
                          (accessor,)) > 0

    def token_by_accessor(self, accessor: str) -> Token | None:
        row = self._one(f"SELECT {', '.join(TOKEN_COLUMNS)} FROM tokens WHERE accessor = %s", (accessor,))
        return token_from_row(row) if row else None

    def set_token_expiry(self, accessor: str, expires_at: float) -> bool:
        return self._exec("UPDATE tokens SET expires_at = %s WHERE accessor = %s AND revoked = false",
                          (expires_at, accessor)) > 0

    @staticmethod
    def _filters(pairs: Iterable[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
        """Conditions for the pairs whose value is given (PostgreSQL can't type ``%s IS NULL OR ...``)."""
        clauses, params = [], []
        for column, value in pairs:
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        return clauses, params

    # -- leases --------------------------------------------------------------------------------

    def insert_lease(self, lease: Lease, sealed_handle: bytes) -> None:
        values = {c: getattr(lease, c, None) for c in LEASE_COLUMNS}
        values["metadata"] = json.dumps(lease.metadata)
        values["renewable"] = bool(lease.renewable)
        values["sealed_handle"] = sealed_handle
        self._insert(f"INSERT INTO leases ({_COLS}) VALUES ({', '.join(['%s'] * len(LEASE_COLUMNS))})",
                     [values[c] for c in LEASE_COLUMNS], f"Lease {lease.lease_id!r}")
        self._announce_due(lease.due_at)

    def get_lease(self, lease_id: str) -> tuple[Lease, bytes] | None:
        row = self._one(f"SELECT {_COLS} FROM leases WHERE lease_id = %s", (lease_id,))
        return lease_from_row(row) if row else None

    def update_lease(self, lease_id: str, changes: dict[str, Any], expect: dict[str, Any]) -> bool:
        """Apply ``changes`` only if every ``expect`` column still holds its value (a tuple means one of)."""
        params: list[Any] = []
        sets = []
        for column, value in changes.items():
            _check_column(column)
            sets.append(f"{column} = %s")
            params.append(json.dumps(value) if column == "metadata" else value)
        where = ["lease_id = %s"]
        params.append(lease_id)
        for column, value in expect.items():
            _check_column(column)
            if isinstance(value, tuple):
                where.append(f"{column} = ANY(%s)")
                params.append(list(value))
            elif value is None:
                where.append(f"{column} IS NULL")
            else:
                where.append(f"{column} = %s")
                params.append(value)
        changed = self._exec(f"UPDATE leases SET {', '.join(sets)} WHERE {' AND '.join(where)}", params) == 1
        if changed and changes.get("due_at") is not None:  # other processes' workers may need to wake for it
            self._announce_due(changes["due_at"])
        return changed

    def claim_lease(self, lease_id: str, claimant: str, deadline: float, now: float, states: Iterable[str]) -> tuple[Lease, bytes] | None:
        row = self._one(
            f"UPDATE leases SET claimed_by = %s, claim_deadline = %s WHERE lease_id = %s AND state = ANY(%s) "
            f"AND (claimed_by IS NULL OR claim_deadline < %s) RETURNING {_COLS}",
            (claimant, deadline, lease_id, list(states), now),
        )
        return lease_from_row(row) if row else None

    def claim_due(self, now: float, limit: int, claimant: str, deadline: float) -> list[tuple[Lease, bytes]]:
        # SKIP LOCKED: processes claiming at the same moment take disjoint batches instead of queueing.
        rows = self._all(
            f"WITH due AS (SELECT lease_id FROM leases WHERE state IN {_LIVE} AND due_at <= %s "
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
            f"(SELECT due_at FROM leases WHERE state IN {_LIVE} AND claimed_by IS NULL ORDER BY due_at LIMIT 1), "
            f"(SELECT MIN(GREATEST(due_at, claim_deadline)) FROM leases WHERE claimed_by IS NOT NULL AND state IN {_LIVE}))"
        )
        return row[0] if row else None

    def list_leases(self, *, engine: str | None = None, role: str | None = None, identity: str | None = None,
                    states: Iterable[str] | None = None, prefix: str | None = None, after: str | None = None,
                    limit: int = 100) -> list[Lease]:
        clauses, params = self._filters((("engine", engine), ("role", role), ("identity", identity)))
        if states:
            clauses.append("state = ANY(%s)")
            params.append(list(states))
        if prefix:
            clauses.append("left(lease_id, %s) = %s")
            params.extend((len(prefix), prefix))
        if after:
            clauses.append("lease_id > %s")
            params.append(after)
        rows = self._all(f"SELECT {', '.join(LEASE_LIST_COLUMNS)} FROM leases{_where(clauses)} ORDER BY lease_id LIMIT %s",
                         (*params, limit))
        return [lease_from_row(r, LEASE_LIST_COLUMNS)[0] for r in rows]

    def count_live_leases(self, engine: str, role: str | None = None, identity: str | None = None) -> int:
        # Literal conditions rather than "%s IS NULL OR ...", so the planner picks the index that fits.
        where, params = ["engine = %s"], [engine]
        for column, value in (("role", role), ("identity", identity)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        row = self._one(f"SELECT COUNT(*) FROM leases WHERE {' AND '.join(where)} AND state IN {_LIVE}", tuple(params))
        return row[0]

    def leases_by_subject(self, subjects: Iterable[str]) -> list[tuple[str, str, str]]:
        """(subject, engine, state) of every lease, of any engine and state, whose subject is one of ``subjects``."""
        rows = self._all("SELECT subject, engine, state FROM leases WHERE subject = ANY(%s)", (list(set(subjects)),))
        return [tuple(r) for r in rows]

    def lease_counts(self) -> list[tuple[str, str, str, int]]:
        rows = self._all("SELECT engine, role, state, COUNT(*) FROM leases WHERE state = ANY(%s) "
                         "GROUP BY engine, role, state", (list(_ANY_STATE),))
        return [tuple(r) for r in rows]

    def claimants(self) -> list[str]:
        return [r[0] for r in self._all("SELECT DISTINCT claimed_by FROM leases WHERE claimed_by IS NOT NULL")]

    def release_claims(self, claimant: str, now: float) -> int:
        """Hand a dead process's claims (and intents) to the worker at once."""
        released = self._exec("UPDATE leases SET claim_deadline = %s, due_at = LEAST(due_at, %s) WHERE claimed_by = %s",
                              (now - 1, now, claimant))
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
                rows = self._all("SELECT lease_id, sealed_handle FROM leases WHERE lease_id > %s ORDER BY lease_id "
                                 "LIMIT %s FOR UPDATE", (after, batch))
                if not rows:
                    return count
                for lease_id, sealed in rows:
                    new = reseal(lease_id, sealed)
                    if new is not None:
                        self._exec("UPDATE leases SET sealed_handle = %s WHERE lease_id = %s", (new, lease_id))
                        count += 1
            after = rows[-1][0]

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
                (event.time, event.identity, event.operation, event.path, event.outcome, event.lease_id, details,
                 seq, mac, key_id, *_head_values(head)),
            )

    def list_audit(self, *, lease_id: str | None = None, operation: str | None = None, after: int = 0,
                   limit: int = 100, identity: str | None = None, path_prefix: str | None = None,
                   outcome: str | None = None, since: float | None = None,
                   until: float | None = None) -> list[tuple[int, AuditEvent]]:
        clauses, params = self._filters((("lease_id", lease_id), ("operation", operation), ("identity", identity),
                                         ("outcome", outcome)))
        for clause, value in (("left(path, %s) = %s", path_prefix or None), ("time >= %s", since),
                              ("time < %s", until)):
            if value is not None:
                clauses.append(clause)
                params.extend((len(value), value) if clause.startswith("left") else (value,))
        clauses.append("id > %s")
        rows = self._all(f"SELECT id, time, identity, operation, path, outcome, lease_id, details FROM audit"
                         f"{_where(clauses)} ORDER BY id LIMIT %s", (*params, after, limit))
        return [
            (r[0], AuditEvent(time=r[1], identity=r[2], operation=r[3], path=r[4], outcome=r[5], lease_id=r[6],
                              details=json.loads(r[7] or "{}")))
            for r in rows
        ]

    def audit_head(self, *, lock: bool = False) -> ChainHead:
        """The chain head; ``lock`` (in a transaction) holds it, so no other process appends until commit."""
        row = self._one("SELECT seq, mac, key_id, head_mac, resign_seq, resign_mac FROM audit_head WHERE id = 1"
                        + (" FOR UPDATE" if lock else ""))
        return ChainHead(*row) if row else ChainHead()

    def audit_chain_rows(self, after: int, limit: int) -> list[ChainRow]:
        rows = self._all(f"SELECT {', '.join(CHAIN_COLUMNS)} FROM audit WHERE id > %s ORDER BY id LIMIT %s",
                         (after, limit))
        return [ChainRow(*r) for r in rows]

    def find_audit_seq(self, seq: int) -> int | None:
        row = self._one("SELECT id FROM audit WHERE seq = %s ORDER BY id LIMIT 1", (seq,))
        return row[0] if row else None

    def resign_audit(self, links: list[tuple[int, str, str]], head: ChainHead) -> None:
        """New (mac, key id) for entries by id, and the head after them, in the caller's transaction."""
        with self.transaction():
            if links:
                with self._conn() as conn, conn.cursor() as cur:
                    cur.executemany("UPDATE audit SET mac = %s, key_id = %s WHERE id = %s",
                                    [(mac, key_id, entry_id) for entry_id, mac, key_id in links])
            self._exec(_SET_HEAD, _head_values(head))


_SET_HEAD = ("INSERT INTO audit_head (id, seq, mac, key_id, head_mac, resign_seq, resign_mac) "
             "VALUES (1, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
             "mac = excluded.mac, key_id = excluded.key_id, head_mac = excluded.head_mac, "
             "resign_seq = excluded.resign_seq, resign_mac = excluded.resign_mac")


def _head_values(head: ChainHead) -> tuple:
    return (head.seq, head.mac, head.key_id, head.head_mac, head.resign_seq, head.resign_mac)


def _where(clauses: list[str]) -> str:
    return " WHERE " + " AND ".join(clauses) if clauses else ""


def _check_column(column: str) -> None:
    if column not in LEASE_COLUMNS:
        raise ValueError(f"leases has no column {column!r}")
