"""What `import scaivault_core` costs: an application that embeds the vault loads no HTTP client, no
server, no asyncio and no command line; the clients and AsyncVault load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

FRONT_END_MODULES = ("httpx", "asyncio", "starlette", "uvicorn", "httptools", "click", "fastapi")

PROGRAM = """
import json, sys
import scaivault_core
from scaivault_core import Vault
before = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))
scaivault_core.ScaiVaultClient, scaivault_core.AsyncVault
after = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1:]))
print(json.dumps([before, after]))
"""


def test_a_bare_import_loads_no_front_end():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, *FRONT_END_MODULES], capture_output=True, text=True, timeout=120, check=True
    )
    before, after = json.loads(done.stdout)
    assert before == []
    assert {"httpx", "asyncio"} <= set(after)  # the lazily exported names do load what they need
