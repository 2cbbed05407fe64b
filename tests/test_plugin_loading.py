"""Entry-point loading: a broken plugin is reported with its error and the others still load;
SCAIVAULT_LOAD_PLUGINS restricts which load.

Each case installs small distributions the way pip lays them out (a ``*.dist-info`` folder with
``entry_points.txt``) in a temporary directory, and runs a fresh interpreter with that directory
on its path, so the shared environment and this process's metadata caches are untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PROBE = textwrap.dedent("""
    import json, tempfile, os
    from scaivault_core import Vault
    with Vault(os.path.join(tempfile.mkdtemp(), "v.db"), start_worker=False) as vault:
        infos = [{"name": p.name, "version": p.version, "engines": p.engines, "error": p.error}
                 for p in vault.plugins()]
        types = [f"{t}/{p}" for t, p, _ in vault.registry.types()]
    print(json.dumps({"plugins": infos, "types": types}))
""")


def install(site: Path, dist: str, module: str, source: str, entry: str | None = None) -> None:
    """A minimal installed distribution: its module and a dist-info with one ``scaivault`` entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text(f"[scaivault]\n{entry or module} = {module}\n")


def probe(site: Path, load: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("SCAIVAULT_LOAD_PLUGINS", None)
    if load is not None:
        env["SCAIVAULT_LOAD_PLUGINS"] = load
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


GOOD = """
    import attrs
    from scaivault_core import Engine, Issued, hookimpl

    class GoodEngine(Engine):
        type = "database"
        plugin = "good"
        needs_root_credentials = False
        def verify(self): pass
        def create(self, request): return Issued(data={})
        def revoke(self, handle): pass

    @hookimpl
    def register_engines(register):
        register(GoodEngine)
"""
BROKEN = """
    raise RuntimeError("the broken plugin needs libfoo 2")
"""


@pytest.fixture
def site(tmp_path):
    install(tmp_path, "scaivault-good", "scaivault_good_probe", GOOD, entry="good")
    install(tmp_path, "scaivault-broken", "scaivault_broken_probe", BROKEN, entry="broken")
    return tmp_path


def test_a_broken_plugin_is_reported_and_the_others_load(site):
    result = probe(site)
    by_name = {p["name"]: p for p in result["plugins"]}
    assert by_name["scaivault-broken"]["error"] == "RuntimeError: the broken plugin needs libfoo 2"
    assert by_name["scaivault-broken"]["version"] == "0.3.0"
    assert by_name["scaivault-good"] == {
        "name": "scaivault-good",
        "version": "0.3.0",
        "engines": ["database/good"],
        "error": None,
    }
    assert "database/good" in result["types"]
    # in-tree plugins installed in this environment still load beside them
    assert "database/postgresql" in result["types"]


def test_scaivault_load_plugins_restricts_loading(site):
    only_good = probe(site, "scaivault-good")
    assert [p["name"] for p in only_good["plugins"]] == ["scaivault-good"]
    assert only_good["types"] == ["database/good"]
    by_entry_point_name = probe(site, " good , scaivault-broken ")
    assert sorted(p["name"] for p in by_entry_point_name["plugins"]) == ["scaivault-broken", "scaivault-good"]
    none = probe(site, "")
    assert none == {"plugins": [], "types": []}
