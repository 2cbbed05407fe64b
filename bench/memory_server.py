"""``scaivault`` with the in-memory test engine loaded, for measuring the core's own cost over REST.

The target lives in this process, so its name is written to ``$SV_BENCH_TARGET_FILE`` for the
benchmark to configure the engine with. Run as ``memory_server.py --store PATH server --listen ...``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from scaivault_core import make_plugin_manager
from scaivault_core.cli import add_plugin_commands, cli
from scaivault_core.testing import MemoryPlugin, MemoryTarget


def main() -> None:
    pm = make_plugin_manager(plugins=[MemoryPlugin()])
    target = MemoryTarget.new()
    if os.environ.get("SV_BENCH_TARGET_FILE"):
        Path(os.environ["SV_BENCH_TARGET_FILE"]).write_text(target.name)
    add_plugin_commands(pm)
    cli.main(args=sys.argv[1:], prog_name="scaivault", obj=pm)


if __name__ == "__main__":
    main()
