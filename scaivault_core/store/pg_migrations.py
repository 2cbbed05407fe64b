"""PostgreSQL schema, as a list of small migrations applied in order (each runs once).

Several processes may start at once against an empty database: a session advisory lock (keyed by
the schema name) lets one of them migrate while the others wait, then find nothing left to do.
The tables mirror ``sqlite_migrations`` column for column, so both stores share the core's code.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

import psycopg
from psycopg import sql

from .schema import iso, pending

Migration = Callable[[psycopg.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def applied(conn: psycopg.Connection, schema: str) -> list[tuple[str, str | None]]:
    """The migrations ``schema`` has had, and when (nothing if it does not exist yet); changes nothing."""
    exists = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = '_migrations'", (schema,)
    ).fetchone()
    if not exists:
        return []
    rows = conn.execute(
        sql.SQL("SELECT name, applied_at FROM {}._migrations ORDER BY name").format(sql.Identifier(schema))
    )
    return [(name, iso(at)) for name, at in rows.fetchall()]


def lock_key(schema: str) -> int:
    """The advisory lock id for migrating ``schema``: a stable signed 64-bit number."""
    digest = hashlib.sha256(f"scaivault/migrate/{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def migrate(conn: psycopg.Connection, schema: str, store: str) -> None:
    """Create ``schema`` if needed and apply the migrations it has not seen (``conn`` is autocommit); a schema
    migrated by a newer release is refused."""
    conn.execute("SELECT pg_advisory_lock(%s)", (lock_key(schema),))
    try:
        # Under the lock: CREATE SCHEMA IF NOT EXISTS still races with itself in PostgreSQL.
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _migrations (name text PRIMARY KEY, applied_at double precision NOT NULL)"
        )
        done = [row[0] for row in conn.execute("SELECT name FROM _migrations").fetchall()]
        todo = pending(done, [fn.__name__ for fn in MIGRATIONS], store)
        for fn in MIGRATIONS:
            if fn.__name__ in todo:
                with conn.transaction():
                    fn(conn)
                    conn.execute(
                        "INSERT INTO _migrations (name, applied_at) VALUES (%s, %s)", (fn.__name__, time.time())
                    )
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (lock_key(schema),))


# Text keys that are paged through or prefix-matched use the "C" collation, so ordering (and
# therefore ``after=`` paging) is byte order whatever the database's locale, as in SQLite.


@migration
def m001_initial(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE meta (key text PRIMARY KEY, value text)")
    conn.execute(
        """CREATE TABLE engines (
            name text PRIMARY KEY, type text NOT NULL, plugin text NOT NULL, config text NOT NULL,
            root_credentials_path text, default_ttl bigint, max_ttl bigint, max_leases bigint,
            created_at double precision, updated_at double precision)"""
    )
    conn.execute(
        """CREATE TABLE roles (
            engine text NOT NULL, name text NOT NULL, params text NOT NULL, default_ttl bigint, max_ttl bigint,
            max_leases bigint, created_at double precision, updated_at double precision,
            PRIMARY KEY (engine, name))"""
    )
    conn.execute(
        """CREATE TABLE secrets (
            path text COLLATE "C" NOT NULL, version integer NOT NULL, sealed bytea, secret_type text,
            created_at double precision, created_by text, reason text, retired_at double precision,
            PRIMARY KEY (path, version))"""
    )
    conn.execute("CREATE TABLE policies (name text PRIMARY KEY, rules text NOT NULL, description text)")
    conn.execute("CREATE TABLE bindings (policy text NOT NULL, identity text NOT NULL, PRIMARY KEY (policy, identity))")
    conn.execute("CREATE INDEX bindings_identity ON bindings (identity)")
    conn.execute(
        """CREATE TABLE tokens (
            accessor text PRIMARY KEY, token_hash text NOT NULL, identity text NOT NULL,
            created_at double precision, expires_at double precision, revoked boolean NOT NULL DEFAULT false,
            display_name text)"""
    )
    conn.execute("CREATE UNIQUE INDEX tokens_hash ON tokens (token_hash)")
    conn.execute(
        """CREATE TABLE leases (
            lease_id text COLLATE "C" PRIMARY KEY, engine text NOT NULL, role text NOT NULL,
            identity text NOT NULL, state text NOT NULL, issued_at double precision NOT NULL,
            expires_at double precision NOT NULL, max_expires_at double precision NOT NULL,
            due_at double precision NOT NULL, renewable boolean NOT NULL, subject text NOT NULL, metadata text,
            sealed_handle bytea NOT NULL, attempts integer NOT NULL, last_error text, claimed_by text,
            claim_deadline double precision, revoked_at double precision)"""
    )
    # The expiry worker's query path: due live leases in order. Finished leases leave the index.
    conn.execute("CREATE INDEX leases_due ON leases (due_at) WHERE state IN ('intent', 'active', 'revoking')")
    conn.execute("CREATE INDEX leases_engine ON leases (engine, role, state)")
    conn.execute("CREATE INDEX leases_claimed ON leases (claimed_by) WHERE claimed_by IS NOT NULL")
    conn.execute(
        """CREATE TABLE audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time double precision NOT NULL,
            identity text, operation text NOT NULL, path text, outcome text, lease_id text, details text)"""
    )
    conn.execute("CREATE INDEX audit_lease ON audit (lease_id)")


@migration
def m002_rotation(conn: psycopg.Connection) -> None:
    # A rotation in flight: the new credential is sealed here before the target is changed.
    conn.execute(
        """CREATE TABLE rotations (
            path text PRIMARY KEY, engine text, sealed_new bytea NOT NULL, identity text, reason text,
            grace_period bigint, started_at double precision)"""
    )
    conn.execute("ALTER TABLE secrets ADD COLUMN retire_at double precision")  # end of a grace period
    conn.execute("CREATE INDEX secrets_retire ON secrets (retire_at) WHERE retire_at IS NOT NULL")
    conn.execute(
        "CREATE TABLE rotation_schedule (path text PRIMARY KEY, period bigint NOT NULL, next_at double precision)"
    )


@migration
def m003_rotation_grace(conn: psycopg.Connection) -> None:
    # A scheduled rotation keeps the previous credential for this long (an SSH CA must stay trusted).
    conn.execute("ALTER TABLE rotation_schedule ADD COLUMN grace_period bigint")


@migration
def m004_token_lineage(conn: psycopg.Connection) -> None:
    # Who minted a token (revoking it revokes the tokens it minted) and whose grants bound it (JSON list).
    conn.execute("ALTER TABLE tokens ADD COLUMN parent text, ADD COLUMN ceilings text")
    conn.execute("CREATE INDEX tokens_parent ON tokens (parent)")


@migration
def m005_audit_chain(conn: psycopg.Connection) -> None:
    # The audit chain (audit_chain.py): each entry's position, MAC and signing key, and the chain's head,
    # whose row appenders lock. Entries written before this migration keep NULLs: the unverified prefix.
    conn.execute("ALTER TABLE audit ADD COLUMN seq bigint, ADD COLUMN mac text, ADD COLUMN key_id text")
    conn.execute(
        """CREATE TABLE audit_head (
            id integer PRIMARY KEY CHECK (id = 1), seq bigint NOT NULL, mac text NOT NULL, key_id text,
            head_mac text, resign_seq bigint NOT NULL DEFAULT 0, resign_mac text NOT NULL DEFAULT '')"""
    )
    conn.execute("INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '')")


@migration
def m006_identity_quotas(conn: psycopg.Connection) -> None:
    # Per-identity lease quotas, and the index that counts one identity's live leases of an engine.
    conn.execute("ALTER TABLE engines ADD COLUMN max_leases_per_identity bigint")
    conn.execute("ALTER TABLE roles ADD COLUMN max_leases_per_identity bigint")
    conn.execute(
        "CREATE INDEX leases_identity ON leases (engine, identity) WHERE state IN ('intent', 'active', 'revoking')"
    )


@migration
def m007_jobs(conn: psycopg.Connection) -> None:
    # Long admin work run in the background (jobs.py): kept here so it outlives its process and any
    # process sharing the store can take it over. JSON in params, ceilings, result and error.
    conn.execute(
        """CREATE TABLE jobs (
            job_id text PRIMARY KEY, operation text NOT NULL, params text NOT NULL, identity text NOT NULL,
            ceilings text NOT NULL, state text NOT NULL, done bigint NOT NULL, total bigint, result text,
            error text, created_at double precision NOT NULL, updated_at double precision NOT NULL,
            finished_at double precision, claimed_by text, claim_deadline double precision)"""
    )
    conn.execute("CREATE INDEX jobs_running ON jobs (claim_deadline) WHERE state = 'running'")
