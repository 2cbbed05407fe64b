"""Row 5: the core's own cost, with an engine whose target is a dict in memory.

Issue+revoke pairs per second in-process (an embedded vault on a SQLite file) and over REST with
4 client threads (``memory_server.py``: ``scaivault server`` with the in-memory engine loaded).
Because the machine is shared, each figure also comes per CPU-second of the process doing the
work (this one in-process, the server over REST), which load from elsewhere does not change.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from common import (
    BENCH,
    Row,
    interleaved_medians,
    process_cpu,
    request,
    rest_pairs,
    run_alone,
    server,
    temp_dir,
    vault_pairs,
)

from scaivault_core import Vault, make_plugin_manager
from scaivault_core.testing import MemoryPlugin, MemoryTarget

CLIENTS = 4


def measured(fn, pid: int, per_cpu: list[float]) -> float:
    """Pairs per wall second of one call of ``fn``; pairs per CPU second of ``pid`` go to ``per_cpu``."""
    wall, cpu = time.perf_counter(), process_cpu(pid)
    count = fn()
    per_cpu.append(count / max(process_cpu(pid) - cpu, 1e-9))
    return count / (time.perf_counter() - wall)


def in_process_vault(directory: Path) -> tuple[Vault, MemoryTarget]:
    target = MemoryTarget.new()
    vault = Vault(directory / "vault.db", plugin_manager=make_plugin_manager(plugins=[MemoryPlugin()]))
    vault.create_engine("mem", "database", {"plugin": "memory", "target": target.name}, default_ttl="1h", max_ttl="24h")
    vault.create_role("mem", "app")
    return vault, target


def run(args: argparse.Namespace) -> list[Row]:
    directory = temp_dir()
    vault, target = in_process_vault(directory / "embedded")
    store = directory / "served" / "vault.db"
    with Vault(store) as fresh:
        token = fresh.create_admin_token()
    target_file = directory / "target"
    try:
        with server(
            store,
            command=[sys.executable, str(BENCH / "memory_server.py")],
            env={"SV_BENCH_TARGET_FILE": str(target_file)},
        ) as srv:
            for path, body in (
                (
                    "/v1/dynamic/engines",
                    {
                        "name": "mem",
                        "type": "database",
                        "default_ttl": "1h",
                        "max_ttl": "24h",
                        "config": {"plugin": "memory", "target": target_file.read_text()},
                    },
                ),
                ("/v1/dynamic/engines/mem/roles", {"name": "app"}),
            ):
                status, answer = request(srv, "POST", path, token, body)
                if status != 201:
                    raise RuntimeError(f"configuring the served vault failed: {status} {answer}")
            vault_pairs(vault, "mem", "app", 200)  # warm both
            rest_pairs(srv, token, "mem", "app", 200, CLIENTS)
            local_cpu: list[float] = []
            rest_cpu: list[float] = []
            result = interleaved_medians(
                args.runs,
                {
                    "in-process": lambda: measured(
                        lambda: vault_pairs(vault, "mem", "app", args.pairs), os.getpid(), local_cpu
                    ),
                    "rest": lambda: measured(
                        lambda: rest_pairs(srv, token, "mem", "app", args.pairs, CLIENTS), srv.process.pid, rest_cpu
                    ),
                },
            )
    finally:
        vault.close()
        target.forget()
    local, rest = result["in-process"], result["rest"]
    return [
        Row("5", "core overhead (memory engine), in-process", local, "pairs/s", None, "≥ 3,000/s", local >= 3000),
        Row(
            "5", "  the same per CPU-second of the process", statistics.median(local_cpu), "pairs/CPU-s", None, "", None
        ),
        Row(
            "5",
            f"core overhead (memory engine), REST, {CLIENTS} clients",
            rest,
            "pairs/s",
            None,
            "≥ 1,500/s",
            rest >= 1500,
        ),
        Row("5", "  the same per CPU-second of the server", statistics.median(rest_cpu), "pairs/CPU-s", None, "", None),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=3000, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=5, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
