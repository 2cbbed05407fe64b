"""Whether loading a plugin, as ``scaivault server`` does at start-up, imports what it should leave for later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable

_PROBE = """
import json, sys
from scaivault_core import make_plugin_manager
from scaivault_core.plugin_manager import EngineRegistry
EngineRegistry(make_plugin_manager()).get(sys.argv[1], sys.argv[2])
print(json.dumps([m for m in sys.argv[3:] if m in sys.modules]))
"""


def imported_at_start_up(plugin: str, engine_type: str, engine_plugin: str, modules: Iterable[str]) -> list[str]:
    """Which of ``modules`` a fresh process holds once ``plugin`` (a ``SCAIVAULT_LOAD_PLUGINS`` name) is
    loaded alone and its engine class looked up: a plugin should import its SDK when an engine is built.

    ``assert imported_at_start_up("scaivault-postgresql", "database", "postgresql", ["psycopg"]) == []``
    """
    env = {**os.environ, "SCAIVAULT_LOAD_PLUGINS": plugin}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, engine_type, engine_plugin, *modules],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)
