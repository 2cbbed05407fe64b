"""What a packager gets: the core's sdist holds only the core, every distribution carries its licence
and ``py.typed``, and psycopg is not forced to its binary build."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = [ROOT, *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))]


def build(directory: Path, target: str, out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", target, "-d", str(out)],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return next(out.iterdir())


def test_the_core_sdist_holds_only_the_core(tmp_path):
    with tarfile.open(build(ROOT, "sdist", tmp_path)) as sdist:
        tops = {name.split("/")[1] for name in sdist.getnames() if name.count("/") >= 1}
    tops.discard(".gitignore")  # hatch adds it to every sdist
    assert tops == {
        "scaivault_core",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "SECURITY.md",
        "pyproject.toml",
        "PKG-INFO",
    }


@pytest.mark.parametrize("directory", DISTRIBUTIONS, ids=[p.name for p in DISTRIBUTIONS])
def test_every_wheel_carries_its_licence_and_types(directory, tmp_path):
    meta = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"] and meta["classifiers"]
    with zipfile.ZipFile(build(directory, "wheel", tmp_path)) as wheel:
        names = wheel.namelist()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert any(n.endswith("/py.typed") for n in names)


def test_the_core_wheel_carries_the_api_reference_and_its_licence(tmp_path):
    """``/docs`` is served from files in the package (no network): the wheel has each, and Swagger UI's licence."""
    from scaivault_core.rest.api_docs import ASSETS

    with zipfile.ZipFile(build(ROOT, "wheel", tmp_path)) as wheel:
        names = set(wheel.namelist())
    static = "scaivault_core/rest/static/"
    wanted = {static + path for path, _ in ASSETS.values()}
    wanted |= {
        static + "swagger-ui/" + name
        for name in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt", "VENDORED.md")
    }
    assert wanted <= names, sorted(wanted - names)


def test_psycopg_is_not_forced_to_its_binary_build():
    for directory in (ROOT, ROOT / "plugins" / "scaivault-postgresql"):
        project = tomllib.loads((directory / "pyproject.toml").read_text())["project"]
        required = project.get("dependencies", []) + project["optional-dependencies"].get("postgres-store", [])
        assert not [d for d in required if d.startswith("psycopg[binary]")], directory.name
        assert project["optional-dependencies"]["binary"] == [
            next(d for d in project["optional-dependencies"]["binary"] if d.startswith("psycopg[binary]"))
        ]
