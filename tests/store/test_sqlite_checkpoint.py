"""The SQLite store's checkpoints happen beside the requests: commits reach the database file, the log stays bounded."""

from __future__ import annotations

import sqlite3
import struct

from scaivault_core.store.sqlite import SQLiteStore
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


def _log_fully_checkpointed(path) -> bool:
    """Whether every frame of the log is in the database file, read from the WAL index (the -shm file).

    Its layout is documented in https://www.sqlite.org/walformat.html: two copies of the index
    header (``mxFrame``, the log's last frame, at byte 16), then ``nBackfill``, the frames already
    checkpointed, at byte 96, all in native byte order. A writer starts the log over only once
    the two are equal; rows seen in the database file can come a moment before ``nBackfill``.
    """
    header = path.with_name(path.name + "-shm").read_bytes()[:100]
    (last_frame,), (checkpointed,) = struct.unpack_from("=I", header, 16), struct.unpack_from("=I", header, 96)
    return last_frame == checkpointed


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
    path, log = tmp_path / "vault.db", tmp_path / "vault.db-wal"
    store = SQLiteStore(path)
    try:
        store.migrate()
        for round_ in range(6):  # 40 commits of a few pages each per round: ~0.9 MB of log
            for i in range(40):
                store.set_meta(f"test-{round_}-{i}", "x" * 3000)
            assert wait_until(lambda: _log_fully_checkpointed(path), timeout=10, interval=0.02)
            if round_ == 0:
                one_round = log.stat().st_size
        # Had it never started over, six rounds long. Its file keeps its longest length, so one
        # round, or a little more where the checkpoint thread briefly held a lock the restart needs.
        assert log.stat().st_size < 2 * one_round
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
