"""deploy/scaivault.service: a unit systemd accepts, running as its own user with a read-only system,
its state and key directories apart, and an exposure score systemd itself rates OK."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "scaivault.service"
needs_systemd = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")


def installed_unit(tmp_path: Path) -> Path:
    """The unit as installed here: ExecStart names this environment's `scaivault` (verify checks it exists)."""
    unit = tmp_path / "scaivault.service"
    unit.write_text(
        UNIT.read_text().replace("/opt/scaivault/bin/scaivault", str(Path(sys.executable).with_name("scaivault")))
    )
    return unit


@needs_systemd
def test_systemd_verifies_the_unit(tmp_path):
    done = subprocess.run(
        ["systemd-analyze", "verify", str(installed_unit(tmp_path))], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


@needs_systemd
def test_systemd_rates_its_exposure_ok(tmp_path):
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(installed_unit(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", done.stdout)
    assert score and float(score[1]) <= 2.0, done.stdout[-2000:]


def test_the_unit_runs_as_its_own_user_with_the_key_apart_from_the_store():
    settings = {}
    for line in UNIT.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            settings.setdefault(key, []).append(value)
    assert settings["User"] == ["scaivault"] and settings["ProtectSystem"] == ["strict"]
    assert settings["NoNewPrivileges"] == ["yes"] and settings["UMask"] == ["0077"]
    assert settings["StateDirectory"] == ["scaivault"] and settings["StateDirectoryMode"] == ["0700"]
    # The key reaches the service through systemd's credentials, never from the state directory.
    assert settings["LoadCredential"] == ["vault.key:/etc/scaivault/vault.key"]
    assert "SCAIVAULT_KEY_FILE=%d/vault.key" in settings["Environment"]
    assert "--listen 127.0.0.1:8200" in settings["ExecStart"][0]
