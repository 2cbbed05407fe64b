"""Without the `scaivault[server]` extra (starlette, uvicorn, httptools), the core embeds and the CLI
works; only `scaivault server` refuses, in one line naming the extra. The missing modules are made
missing for real: a meta-path finder on PYTHONPATH (sitecustomize) refuses to import them."""

from __future__ import annotations

import os
import subprocess
import sys

from scaivault_core.cli.server import SERVER_MODULES
from scaivault_core.testing.servers import scaivault_command

BLOCKER = f"""
import sys

class WithoutServerExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {set(SERVER_MODULES)!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, WithoutServerExtra())
"""


def without_server_extra(tmp_path) -> dict[str, str]:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    return {**env, "PYTHONPATH": str(tmp_path), "SCAIVAULT_STORE": str(tmp_path / "vault.db")}


def test_the_core_embeds_without_the_server_extra(tmp_path):
    program = """
import sys
from scaivault_core import Vault, make_plugin_manager
from scaivault_core.testing import MemoryPlugin, MemoryTarget
MemoryTarget.new(name="default")
pm = make_plugin_manager(load_entrypoints=False, plugins=[MemoryPlugin()])
with Vault(sys.argv[1], plugin_manager=pm, create=True) as vault:
    vault.create_engine("mem", "database", {"plugin": "memory"})
    vault.create_role("mem", "ro")
    lease = vault.issue("mem", "ro", ttl="5m")
    print(vault.revoke(lease.lease_id).state)
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))
print("loaded:", loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", program, str(tmp_path / "embedded.db"), *SERVER_MODULES],
        env=without_server_extra(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["revoked", "loaded: []"]


def test_server_names_the_extra_in_one_line(tmp_path):
    env = without_server_extra(tmp_path)
    init = subprocess.run([*scaivault_command(), "init"], env=env, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    done = subprocess.run(
        [*scaivault_command(), "server", "--listen", "127.0.0.1:1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "Error (invalid_config): `scaivault server` needs the server extra (starlette is not installed): "
        "pip install 'scaivault[server]'."
    ]
