"""README's first command runs examples/walkthrough.py: the guide's steps on the embedded default store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "examples" / "walkthrough.py"


def readme_snippet() -> str:
    return re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]


def test_walkthrough_runs_on_the_default_store(tmp_path, pg_admin, guide_names_lock):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env["SCAIVAULT_HOME"] = str(tmp_path / "home")  # the default store, but not the developer's own
    made_db = pg_admin.execute("SELECT 1 FROM pg_database WHERE datname = 'support'").fetchone() is None
    try:
        done = subprocess.run([sys.executable, str(WALKTHROUGH)], env=env, capture_output=True, text=True, timeout=300)
        # README's Python snippet, as written, on the store the walkthrough left behind.
        snippet = subprocess.run(
            [sys.executable, "-c", readme_snippet()], env=env, capture_output=True, text=True, timeout=120
        )
        cleanup = "from scaivault_core import Vault\nwith Vault() as v: print(v.revoke_prefix('lease_')['revoked'])"
        revoked = subprocess.run([sys.executable, "-c", cleanup], env=env, capture_output=True, text=True, timeout=120)
    finally:
        if made_db:
            pg_admin.execute("DROP DATABASE IF EXISTS support WITH (FORCE)")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert snippet.returncode == 0, snippet.stderr[-3000:]
    user = re.fullmatch(r"postgresql://(v_readonly_\w+):[^@]+@127\.0\.0\.1:5432/support\n", snippet.stdout)
    assert user, snippet.stdout
    assert (
        revoked.stdout.strip() == "1"
        and not pg_admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user[1],)).fetchone()
    )
    out = done.stdout
    assert f"vault: sqlite:///{tmp_path / 'home' / 'vault.db'}" in out
    assert "the new user reads: [('printer on fire',)]" in out
    assert re.search(r"^v_readonly_\w+ can no longer log in$", out, re.M) and "still logs in" not in out
    assert re.search(r"^lease_db_\w+: revoked$", out, re.M)  # the 3-second lease, revoked by the worker
    assert "'revoked': 3" in out and "'failed': []" in out
    assert "REDACTED" not in out and "<hidden>" in out
