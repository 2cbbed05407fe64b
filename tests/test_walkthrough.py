"""README's first command runs examples/walkthrough.py: the guide's steps on the embedded default store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg

WALKTHROUGH = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.py"
GUIDE_LOCK = 0x5CA1_0001  # the guide test's lock: both use the fixed database `support`


def test_walkthrough_runs_on_the_default_store(tmp_path, pg_admin):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env["SCAIVAULT_HOME"] = str(tmp_path / "home")  # the default store, but not the developer's own
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (GUIDE_LOCK,))
        made_db = pg_admin.execute("SELECT 1 FROM pg_database WHERE datname = 'support'").fetchone() is None
        try:
            done = subprocess.run([sys.executable, str(WALKTHROUGH)], env=env, capture_output=True, text=True,
                                  timeout=300)
        finally:
            if made_db:
                pg_admin.execute("DROP DATABASE IF EXISTS support WITH (FORCE)")
            lock.execute("SELECT pg_advisory_unlock(%s)", (GUIDE_LOCK,))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert f"vault: sqlite:///{tmp_path / 'home' / 'vault.db'}" in out
    assert "the new user reads: [('printer on fire',)]" in out
    assert re.search(r"^v_readonly_\w+ can no longer log in$", out, re.M) and "still logs in" not in out
    assert re.search(r"^lease_db_\w+: revoked$", out, re.M)  # the 3-second lease, revoked by the worker
    assert "'revoked': 3" in out and "'failed': []" in out
    assert "REDACTED" not in out and "<hidden>" in out
