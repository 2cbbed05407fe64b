"""The SQLite store's checkpoints happen beside the requests: commits reach the database file, the log stays bounded."""

from __future__ import annotations

import sqlite3

from scaivault_core.sqlite_store import SQLiteStore
from scaivault_core.testing import wait_until


def _rows_in_database_file(path) -> int:
    """Rows of ``meta`` in the main file alone: ``immutable=1`` makes SQLite ignore the WAL (and the locks)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM meta WHERE key LIKE 'test-%'").fetchone()[0]
    except sqlite3.DatabaseError:  # the table has not reached the file yet, or a checkpoint is writing it now
        return 0
    finally:
        conn.close()


def test_committed_writes_reach_the_database_file_without_a_caller_checkpointing(tmp_path):
    store = SQLiteStore(tmp_path / "vault.db")
    try:
        store.migrate()
        for i in range(50):  # far fewer pages than the inline backstop, so only the thread can copy them
            store.set_meta(f"test-{i}", "x")
        assert wait_until(lambda: _rows_in_database_file(tmp_path / "vault.db") == 50, timeout=10, interval=0.02)
    finally:
        store.close()


def test_the_log_starts_over_once_checkpointed(tmp_path):
    path = tmp_path / "vault.db"
    store = SQLiteStore(path)
    try:
        store.migrate()
        for round_ in range(6):  # 240 commits of a few pages each: ~2.5 MB of log if it never started over
            for i in range(40):
                store.set_meta(f"test-{round_}-{i}", "x" * 3000)
            assert wait_until(lambda: _rows_in_database_file(path) == 40 * (round_ + 1), timeout=10, interval=0.02)
        assert (tmp_path / "vault.db-wal").stat().st_size < 1_200_000  # about one round's pages: ~0.4 MB
    finally:
        store.close()


def test_the_thread_starts_with_the_schema_and_stops_with_the_store(tmp_path):
    store = SQLiteStore(tmp_path / "vault.db")
    assert store._checkpointer is None  # a new file is a WAL database only once written: see migrate()
    store.migrate()
    thread = store._checkpointer._thread
    assert thread.is_alive()
    store.close()
    assert not thread.is_alive()
