"""docs/cli.md runs: its ```bash blocks (all but those marked not-run), in order, as one script, with the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```bash\n(?P<code>.*?)\n```", re.S)


def runnable_blocks() -> list[str]:
    return [m["code"] for m in BLOCK.finditer("\n" + PAGE.read_text()) if not m["before"].startswith("<!-- not-run")]


@pytest.fixture
def page_names(names_lock):
    """The page's database (``docs_cli``) is a fixed name: one run of it at a time on this machine."""
    with names_lock("docs/cli.md"):
        yield


def test_cli_page_runs(tmp_path, pg_admin, page_names):
    script = "set -euo pipefail\n" + "\n".join(runnable_blocks())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}",
        SCAIVAULT_HOME=str(tmp_path / "home"),
        SCAIVAULT_LOAD_PLUGINS="scaivault-postgresql",
    )
    embedded = {**env, "SCAIVAULT_STORE": str(tmp_path / "vault.db")}
    try:
        done = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
        out = done.stdout
        assert "Admin token (shown only now" in out
        assert "exit status 1" in out and "Error (ttl_exceeds_max)" in done.stderr
        assert re.search(r"^ v_readonly_\w+$", out, re.M)  # psql printed current_user: the revealed credential logs in
        assert re.search(r"^revoked +2$", out, re.M)  # revoke-prefix took the two leases still live
        assert "<hidden: --reveal shows it>" in out and "REDACTED" not in out
        assert "Yes: sa:reporting-service may read dynamic/engines/support-db/roles/readonly." in out
    finally:
        # After a failure, take back whatever the page issued before its database goes.
        subprocess.run(
            ["scaivault", "lease", "revoke-prefix", "lease_"],
            cwd=tmp_path,
            env=embedded,
            capture_output=True,
            timeout=120,
        )
        pg_admin.execute("DROP DATABASE IF EXISTS docs_cli WITH (FORCE)")
    live = subprocess.run(
        ["scaivault", "--format", "json", "lease", "list", "--state", "live"],
        cwd=tmp_path,
        env=embedded,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert json.loads(live.stdout)["leases"] == []  # every lease the page made was revoked in PostgreSQL
