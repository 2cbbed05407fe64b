"""``scaivault plugins new``: the generated distribution installs, is discovered, and passes the contract.

The last test builds a fresh virtual environment and installs the core and the generated plugin
into it with pip (from the package registry, as a plugin author would), so it takes a minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scaivault_core import Conflict, InvalidRequest
from scaivault_core.plugin_scaffold import new_plugin

REPO = Path(__file__).resolve().parents[1]


def test_new_plugin_writes_a_distribution(tmp_path):
    root = new_plugin("acme-db", tmp_path)
    assert root == tmp_path / "scaivault-acme-db"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "pyproject.toml",
        "scaivault_acme_db/__init__.py",
        "scaivault_acme_db/engine.py",
        "scaivault_acme_db/target.py",
        "tests/conftest.py",
        "tests/test_contract.py",
        "tests/test_discovery.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "scaivault-acme-db"' in pyproject
    assert '[project.entry-points.scaivault]\nacme-db = "scaivault_acme_db"' in pyproject
    engine = (root / "scaivault_acme_db" / "engine.py").read_text()
    assert "class AcmeDbEngine(Engine):" in engine and 'plugin = "acme-db"' in engine
    for path in root.rglob("*"):
        if path.is_file():
            assert "@name@" not in path.read_text() and "@module@" not in path.read_text(), path


def test_new_plugin_refuses_bad_names_and_existing_directories(tmp_path):
    for bad in ("", "Acme", "1acme", "acme db", "acme/../x", "a" * 41, "acme-"):
        with pytest.raises(InvalidRequest):
            new_plugin(bad, tmp_path)
    new_plugin("acme", tmp_path)
    with pytest.raises(Conflict):
        new_plugin("acme", tmp_path)


def test_generated_contract_suite_passes_here(tmp_path):
    """Quick check in this environment: the generated package on the path, its contract tests run."""
    root = new_plugin("quick", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "--rootdir",
            str(root),
            str(root / "tests" / "test_contract.py"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_generated_plugin_in_a_fresh_virtualenv(tmp_path):
    """venv + pip install the core and the generated plugin; it is listed and its own tests pass."""
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_ = venv / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "SCAIVAULT_LOAD_PLUGINS")}
    env["SCAIVAULT_HOME"] = str(tmp_path / "home")
    pip = [str(bin_ / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    run([*pip, str(REPO)], env=env)
    # the CLI, installed with the core, writes the plugin
    run([str(bin_ / "scaivault"), "plugins", "new", "acme", "--dest", str(tmp_path)], env=env)
    plugin = tmp_path / "scaivault-acme"
    run([*pip, f"{plugin}[test]"], env=env)

    run([str(bin_ / "scaivault"), "init"], env=env)
    listed = json.loads(run([str(bin_ / "scaivault"), "--format", "json", "plugins"], env=env).stdout)
    rows = listed if isinstance(listed, list) else listed.get("plugins", listed)
    assert {"name": "scaivault-acme", "version": "0.1.0", "engines": ["database/acme"], "error": None} in rows

    tests = run([str(bin_ / "python"), "-m", "pytest", "-q"], cwd=plugin, env=env)
    assert " passed" in tests.stdout and "failed" not in tests.stdout
