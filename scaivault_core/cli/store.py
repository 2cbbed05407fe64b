"""``scaivault store status``, ``scaivault migrate`` and ``scaivault snapshot``: the store itself, for upgrades and
backups (docs/deploy.md). They work on the local store (``--store``), never through a server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import InvalidConfig, InvalidRequest
from .output import done, emit
from .state import current, output


def _local_store(command: str, *, migrated: bool = False) -> Any:
    """The store, opened without migrating it (no key needed); closed at exit."""
    from ..plugin_manager import make_plugin_manager
    from ..store import open_store
    from ..store.sqlite import is_sqlite_url, path_from_url

    state = current()
    if state.address:
        raise InvalidRequest(
            f"`{command}` works on the store itself: run it with --store (SCAIVAULT_STORE), not against a server.",
            field="address",
        )
    url = state.store_url()
    if is_sqlite_url(url) and not path_from_url(url).exists():
        raise InvalidConfig(
            f"No vault at {path_from_url(url)}; run `scaivault init` first, or give --store (SCAIVAULT_STORE).",
            field="store",
        )
    state.pm = state.pm or make_plugin_manager()
    store = open_store(url, state.pm)
    state._closers.append(store.close)
    return store


@click.group("store")
def store_group() -> None:
    """The store: its schema version, pending migrations and leases."""


@store_group.command("status")
@output
def store_status() -> None:
    """The store's schema version, the migrations this release would apply, and its unfinished leases."""
    store = _local_store("store status")
    status = store.schema_status()
    body: dict[str, Any] = {
        "store": status.store,
        "schema_version": status.version,
        "release_schema_version": status.release_version,
        "pending_migrations": status.pending,
        "last_migrated_at": max((m["applied_at"] or "" for m in status.applied), default="") or None,
    }
    body["leases"] = _lease_counts(store) if status.version and not status.pending else None
    emit(body)


def _lease_counts(store: Any) -> dict[str, int]:
    """Unfinished leases by state (intent, active, revoking, irrevocable)."""
    counts: dict[str, int] = {}
    for _engine, _role, state, count in store.lease_counts():
        counts[state] = counts.get(state, 0) + count
    return counts


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="Say what an upgrade would do, and do nothing.")
@output
def migrate(dry_run: bool) -> None:
    """Apply the store's pending migrations (a server does this when it starts); --dry-run only lists them.

    Take a snapshot first (`scaivault snapshot save`, or pg_dump): a migrated store cannot be opened
    by an older release.
    """
    store = _local_store("migrate")
    before = store.schema_status()
    if not dry_run and before.pending:
        store.migrate()
    after = before if dry_run else store.schema_status()
    body = {
        "store": before.store,
        "dry_run": dry_run,
        "schema_version": before.version,
        "to_schema_version": before.release_version,
        "migrations": before.pending,
        "now_schema_version": after.version,
    }
    if current().format == "json":
        emit(body)
    elif not before.pending:
        done(f"The store is at schema version {before.version}, this release's: nothing to migrate.")
    else:
        verb = "would apply" if dry_run else "applied"
        done(
            f"Schema version {before.version} -> {before.release_version}: {verb} "
            f"{len(before.pending)} migration(s): {', '.join(before.pending)}."
        )


@click.group()
def snapshot() -> None:
    """Back up and restore a SQLite store (for PostgreSQL, pg_dump and pg_restore: docs/deploy.md)."""


def _sqlite_path(command: str) -> Path:
    from ..store.sqlite import is_sqlite_url, path_from_url

    state = current()
    if state.address:
        raise InvalidRequest(
            f"`{command}` works on the store itself: run it with --store, not against a server.", field="address"
        )
    url = state.store_url()
    if not is_sqlite_url(url):
        raise InvalidRequest(
            f"`{command}` is for a SQLite store; back up a PostgreSQL store with pg_dump and "
            "restore it with pg_restore (docs/deploy.md, Backups).",
            field="store",
        )
    return path_from_url(url)


@snapshot.command("save")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@output
def snapshot_save(file: Path) -> None:
    """Write a consistent copy of the store to FILE (new, 0600), even while a server runs on it.

    The copy is sealed under the vault key, which it does not hold: back the key up too, apart.
    """
    from ..store.sqlite_snapshot import save

    body = save(_sqlite_path("snapshot save"), file)
    if current().format == "json":
        emit(body)
    else:
        done(f"Saved {body['store']} (schema version {body['schema_version']}) to {file}.")


@snapshot.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@output
def snapshot_restore(file: Path) -> None:
    """Put the snapshot FILE in place of the store. Stop the server first: a store in use is refused.

    Open it with the vault key it was saved under. Leases that ended since the snapshot are revoked
    again (idempotently) when their expiry comes round; leases issued since it are unknown to it:
    `scaivault reconcile ENGINE` finds their users on the target.
    """
    from ..store.sqlite_snapshot import restore

    body = restore(file, _sqlite_path("snapshot restore"))
    if current().format == "json":
        emit(body)
    else:
        done(f"Restored {file} (schema version {body['schema_version']}) to {body['store']}.")
