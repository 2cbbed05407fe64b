"""README's first command runs examples/walkthrough.py: the guide's steps on the embedded default store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

WALKTHROUGH = Path(__file__).resolve().parents[1] / "examples" / "walkthrough.py"


def test_walkthrough_runs_on_the_default_store(tmp_path, pg_admin, guide_names_lock):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env["SCAIVAULT_HOME"] = str(tmp_path / "home")  # the default store, but not the developer's own
    made_db = pg_admin.execute("SELECT 1 FROM pg_database WHERE datname = 'support'").fetchone() is None
    try:
        done = subprocess.run([sys.executable, str(WALKTHROUGH)], env=env, capture_output=True, text=True, timeout=300)
    finally:
        if made_db:
            pg_admin.execute("DROP DATABASE IF EXISTS support WITH (FORCE)")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert f"vault: sqlite:///{tmp_path / 'home' / 'vault.db'}" in out
    assert "the new user reads: [('printer on fire',)]" in out
    assert re.search(r"^v_readonly_\w+ can no longer log in$", out, re.M) and "still logs in" not in out
    assert re.search(r"^lease_db_\w+: revoked$", out, re.M)  # the 3-second lease, revoked by the worker
    assert "'revoked': 3" in out and "'failed': []" in out
    assert "REDACTED" not in out and "<hidden>" in out
