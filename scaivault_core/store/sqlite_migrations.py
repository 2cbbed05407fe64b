"""SQLite schema, as a list of small migrations applied in order (each runs once)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING

from . import schema
from .schema import iso

if TYPE_CHECKING:  # imported only when a migration runs: with numpy installed, sqlite_utils takes ~0.3 s to import
    import sqlite_utils

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = []


def migration(fn: Callable[[sqlite_utils.Database], None]) -> Callable[[sqlite_utils.Database], None]:
    MIGRATIONS.append(fn)
    return fn


def applied(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    """The migrations this database has had, and when (plain sqlite3: no sqlite_utils needed)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone():
        return []
    return [(name, iso(at)) for name, at in conn.execute("SELECT name, applied_at FROM _migrations ORDER BY name")]


def pending(conn: sqlite3.Connection, store: str) -> list[str]:
    """The migrations this database lacks (an up-to-date store never loads sqlite_utils); a newer one is refused."""
    return schema.pending([name for name, _ in applied(conn)], [fn.__name__ for fn in MIGRATIONS], store)


def migrate(db: sqlite_utils.Database) -> None:
    """Apply the migrations this database has not seen yet."""
    db.table("_migrations").create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db.table("_migrations").rows}
    for fn in MIGRATIONS:
        if fn.__name__ not in done:
            with db.conn:
                fn(db)
                db.table("_migrations").insert({"name": fn.__name__, "applied_at": schema.now()})


@migration
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("engines").create(
        {
            "name": str,
            "type": str,
            "plugin": str,
            "config": str,
            "root_credentials_path": str,
            "default_ttl": int,
            "max_ttl": int,
            "max_leases": int,
            "created_at": float,
            "updated_at": float,
        },
        pk="name",
    )
    db.table("roles").create(
        {
            "engine": str,
            "name": str,
            "params": str,
            "default_ttl": int,
            "max_ttl": int,
            "max_leases": int,
            "created_at": float,
            "updated_at": float,
        },
        pk=("engine", "name"),
    )
    db.table("secrets").create(
        {
            "path": str,
            "version": int,
            "sealed": bytes,
            "secret_type": str,
            "created_at": float,
            "created_by": str,
            "reason": str,
            "retired_at": float,
        },
        pk=("path", "version"),
    )
    db.table("policies").create({"name": str, "rules": str, "description": str}, pk="name")
    db.table("bindings").create({"policy": str, "identity": str}, pk=("policy", "identity"))
    db.table("bindings").create_index(["identity"])
    db.table("tokens").create(
        {
            "accessor": str,
            "token_hash": str,
            "identity": str,
            "created_at": float,
            "expires_at": float,
            "revoked": int,
            "display_name": str,
        },
        pk="accessor",
    )
    db.table("tokens").create_index(["token_hash"], unique=True)
    db.execute(
        """CREATE TABLE leases (
            lease_id TEXT PRIMARY KEY, engine TEXT NOT NULL, role TEXT NOT NULL, identity TEXT NOT NULL,
            state TEXT NOT NULL, issued_at REAL NOT NULL, expires_at REAL NOT NULL,
            max_expires_at REAL NOT NULL, due_at REAL NOT NULL, renewable INTEGER NOT NULL,
            subject TEXT NOT NULL, metadata TEXT, sealed_handle BLOB NOT NULL, attempts INTEGER NOT NULL,
            last_error TEXT, claimed_by TEXT, claim_deadline REAL, revoked_at REAL
        ) WITHOUT ROWID"""
    )
    # The expiry worker's only query path: the next due live lease. Finished leases leave the index.
    db.execute("CREATE INDEX leases_due ON leases(due_at) WHERE state IN ('intent', 'active', 'revoking')")
    db.execute("CREATE INDEX leases_engine ON leases(engine, role, state)")
    db.execute("CREATE INDEX leases_claimed ON leases(claimed_by) WHERE claimed_by IS NOT NULL")
    db.table("audit").create(
        {
            "id": int,
            "time": float,
            "identity": str,
            "operation": str,
            "path": str,
            "outcome": str,
            "lease_id": str,
            "details": str,
        },
        pk="id",
    )
    db.table("audit").create_index(["lease_id"])


@migration
def m002_rotation(db: sqlite_utils.Database) -> None:
    # A rotation in flight: the new credential is sealed here before the target is changed.
    db.table("rotations").create(
        {
            "path": str,
            "engine": str,
            "sealed_new": bytes,
            "identity": str,
            "reason": str,
            "grace_period": int,
            "started_at": float,
        },
        pk="path",
    )
    db.table("secrets").add_column("retire_at", float)  # end of a grace period: the value is destroyed then
    db.execute("CREATE INDEX secrets_retire ON secrets(retire_at) WHERE retire_at IS NOT NULL")
    db.table("rotation_schedule").create({"path": str, "period": int, "next_at": float}, pk="path")


@migration
def m003_rotation_grace(db: sqlite_utils.Database) -> None:
    # A scheduled rotation keeps the previous credential for this long (an SSH CA must stay trusted).
    db.table("rotation_schedule").add_column("grace_period", int)


@migration
def m004_token_lineage(db: sqlite_utils.Database) -> None:
    # Who minted a token (revoking it revokes the tokens it minted) and whose grants bound it (JSON list).
    db.table("tokens").add_column("parent", str)
    db.table("tokens").add_column("ceilings", str)
    db.table("tokens").create_index(["parent"])


@migration
def m005_audit_chain(db: sqlite_utils.Database) -> None:
    # The audit chain (audit_chain.py): each entry's position, MAC and signing key, and the chain's head.
    # Entries written before this migration keep NULLs: they are the chain's unverified prefix.
    for column in ("seq", "mac", "key_id"):
        db.table("audit").add_column(column, int if column == "seq" else str)
    db.execute(
        """CREATE TABLE audit_head (
            id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, mac TEXT NOT NULL, key_id TEXT,
            head_mac TEXT, resign_seq INTEGER NOT NULL DEFAULT 0, resign_mac TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("INSERT INTO audit_head (id, seq, mac) VALUES (1, 0, '')")


@migration
def m006_identity_quotas(db: sqlite_utils.Database) -> None:
    # Per-identity lease quotas, and the index that counts one identity's live leases of an engine.
    db.table("engines").add_column("max_leases_per_identity", int)
    db.table("roles").add_column("max_leases_per_identity", int)
    db.execute(
        "CREATE INDEX leases_identity ON leases(engine, identity) WHERE state IN ('intent', 'active', 'revoking')"
    )


@migration
def m007_jobs(db: sqlite_utils.Database) -> None:
    # Long admin work run in the background (jobs.py): kept here so it outlives its process. JSON in
    # params, ceilings, result and error; claimed_by / claim_deadline as on leases.
    db.execute(
        """CREATE TABLE jobs (
            job_id TEXT PRIMARY KEY, operation TEXT NOT NULL, params TEXT NOT NULL, identity TEXT NOT NULL,
            ceilings TEXT NOT NULL, state TEXT NOT NULL, done INTEGER NOT NULL, total INTEGER, result TEXT,
            error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, finished_at REAL, claimed_by TEXT,
            claim_deadline REAL
        )"""
    )
    db.execute("CREATE INDEX jobs_running ON jobs(claim_deadline) WHERE state = 'running'")
