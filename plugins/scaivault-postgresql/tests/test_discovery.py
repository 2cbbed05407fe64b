"""In a fresh virtual environment, installing the plugin is all it takes for the core to find it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_fresh_venv_discovers_the_plugin_through_its_entry_point(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT), str(ROOT / "plugins" / "scaivault-postgresql")],
        check=True,
        capture_output=True,
        timeout=600,
    )
    probe = (
        "import sys; from scaivault_core import Vault; "
        "v = Vault(sys.argv[1], start_worker=False); "
        "print([(p.name, p.engines) for p in v.plugins()]); v.close()"
    )
    out = subprocess.run(
        [str(python), "-c", probe, str(tmp_path / "v.db")], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    assert "('scaivault-postgresql', ['database/postgresql'])" in out
