"""`scaivault server` loads every installed plugin at start-up: loading this one must not import httpx."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from scaivault_core import make_plugin_manager
from scaivault_core.plugins import EngineRegistry
EngineRegistry(make_plugin_manager()).get("custom", "custom")
print([m for m in ("httpx",) if m in sys.modules])
"""


def test_loading_the_plugin_leaves_the_sdk_unimported():
    env = {**os.environ, "SCAIVAULT_LOAD_PLUGINS": "scaivault-custom"}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
