"""Snapshots of a SQLite store: a consistent copy taken while it serves, and putting one back.

``save`` uses SQLite's online backup API, which copies a consistent state of the database even while
other connections (a running server) write to it. ``restore`` copies a snapshot over the store through
the same API, and only when no process has the store open: every ``SQLiteStore`` holds a shared
``flock`` on its file while open, and restore takes it exclusively, so a running server makes it stop
with a message rather than have its database changed underneath it. Snapshot files are created 0600:
they hold everything the store holds (sealed under the vault key, which is not in them).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from ..errors import Conflict, InvalidConfig
from ..private_files import check_private_file, create_private_file, private_directory
from . import schema


def hold_shared(path: Path) -> int:
    """An open descriptor of ``path`` holding a shared lock (a store in use); waits while a restore runs."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


def save(store: Path, snapshot: Path) -> dict[str, object]:
    """Copy ``store`` (open or not) to the new file ``snapshot``, 0600."""
    if not store.is_file():
        raise InvalidConfig(f"No SQLite store at {store}.", field="store")
    if os.path.lexists(snapshot):
        raise Conflict(f"{snapshot} already exists; a snapshot never overwrites a file: give a new name.")
    if not snapshot.parent.is_dir():
        raise InvalidConfig(f"No directory {snapshot.parent} to write the snapshot in.", field="snapshot")
    create_private_file(snapshot)
    source = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    target = sqlite3.connect(snapshot)
    try:
        source.backup(target)
        version = _version(target, str(snapshot))
    except BaseException:
        target.close()
        snapshot.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    target.close()
    return {"snapshot": str(snapshot), "store": str(store), "schema_version": version, "bytes": snapshot.stat().st_size}


def restore(snapshot: Path, store: Path) -> dict[str, object]:
    """Put ``snapshot`` in place of ``store`` (created 0600 if missing); refused while a process has the store open."""
    source = _open_snapshot(snapshot)
    try:
        version = _version(source, str(snapshot))
        private_directory(store.parent, "The store's directory")
        create_private_file(store)
        check_private_file(store, "The store file")
        fd = os.open(store, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Conflict(
                    f"A running process (a server?) has the store {store} open: stop it "
                    "(`systemctl stop scaivault`), then restore."
                ) from None
            target = sqlite3.connect(store)
            try:
                source.backup(target)
                target.execute("PRAGMA journal_mode=WAL")
            finally:
                target.close()
        finally:
            os.close(fd)  # after the connection, which took SQLite's own locks through another descriptor
    finally:
        source.close()
    return {"snapshot": str(snapshot), "store": str(store), "schema_version": version}


def _open_snapshot(snapshot: Path) -> sqlite3.Connection:
    if not snapshot.is_file():
        raise InvalidConfig(f"No snapshot at {snapshot}.", field="snapshot")
    source = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        if source.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            raise InvalidConfig(
                f"{snapshot} is damaged (SQLite's quick_check fails); restore another snapshot.", field="snapshot"
            )
    except sqlite3.DatabaseError:
        source.close()
        raise InvalidConfig(
            f"{snapshot} is not a SQLite database, so not a ScaiVault snapshot.", field="snapshot"
        ) from None
    except BaseException:
        source.close()
        raise
    return source


def _version(conn: sqlite3.Connection, where: str) -> int:
    """The snapshot's schema version; one no release made, or a newer release's, is refused."""
    from .sqlite_migrations import MIGRATIONS, applied

    names = [name for name, _ in applied(conn)]
    if not names:
        raise InvalidConfig(f"{where} is not a ScaiVault store (it has no _migrations table).", field="snapshot")
    schema.pending(names, [fn.__name__ for fn in MIGRATIONS], where)
    return schema.version(names)
