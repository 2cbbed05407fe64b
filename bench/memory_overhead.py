"""Row 5: the core's own cost, with an engine whose target is a dict in memory.

Issue+revoke pairs per second in-process (an embedded vault on a SQLite file) and over REST with
4 client threads and with 1 (``memory_server.py``: ``scaivault server`` with the in-memory engine loaded),
once per front end (``threads``, the default, and ``--front-end asgi``), measured in turn within each round.
Because the machine is shared, each figure also comes per CPU-second of the process doing the
work (this one in-process, the server over REST), which load from elsewhere does not change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from common import (
    BENCH,
    Row,
    Server,
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
from scaivault_core.testing.servers import FRONT_ENDS

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


@contextlib.contextmanager
def served(directory: Path, front_end: str) -> Iterator[tuple[Server, str]]:
    """(server, token): ``memory_server.py`` with ``front_end`` on a fresh store, engine ``mem``, role ``app``."""
    store = directory / "vault.db"
    with Vault(store) as fresh:
        token = fresh.create_admin_token()
    target_file = directory / "target"
    with server(
        store,
        command=[sys.executable, str(BENCH / "memory_server.py")],
        env={"SV_BENCH_TARGET_FILE": str(target_file), "SCAIVAULT_FRONT_END": front_end},
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
        yield srv, token


def run(args: argparse.Namespace) -> list[Row]:
    directory = temp_dir()
    vault, target = in_process_vault(directory / "embedded")
    cpu: dict[str, list[float]] = {}

    def rest(srv: Server, token: str, clients: int, name: str) -> Callable[[], float]:
        per_cpu = cpu.setdefault(name, [])
        return lambda: measured(
            lambda: rest_pairs(srv, token, "mem", "app", args.pairs, clients), srv.process.pid, per_cpu
        )

    try:
        with contextlib.ExitStack() as stack:
            contenders: dict[str, Callable[[], float]] = {
                "in-process": lambda: measured(
                    lambda: vault_pairs(vault, "mem", "app", args.pairs), os.getpid(), cpu.setdefault("in-process", [])
                )
            }
            vault_pairs(vault, "mem", "app", 200)  # warm every contender
            for front_end in FRONT_ENDS:
                (directory / front_end).mkdir()
                srv, token = stack.enter_context(served(directory / front_end, front_end))
                rest_pairs(srv, token, "mem", "app", 200, CLIENTS)
                for clients in (CLIENTS, 1):
                    name = f"{front_end}, {clients}"
                    contenders[name] = rest(srv, token, clients, name)
            result = interleaved_medians(args.runs, contenders)
    finally:
        vault.close()
        target.forget()
    local = result["in-process"]
    rows = [
        Row("5", "core overhead (memory engine), in-process", local, "pairs/s", None, "≥ 3,000/s", local >= 3000),
        Row("5", "  the same per CPU-second of the process", statistics.median(cpu["in-process"]), "pairs/CPU-s"),
    ]
    # The default front end (threads), then uvicorn's (``--front-end asgi``; docs/deploy.md) side by side:
    # each threads row's ratio is to uvicorn's figure in the row below it.
    for clients in (CLIENTS, 1):
        asgi, threads = f"asgi, {clients}", f"threads, {clients}"
        client_s = "client" if clients == 1 else "clients"
        goal = ("≥ 1,500/s", result[threads] >= 1500) if clients == CLIENTS else ("", None)
        rows += [
            Row(
                "5",
                f"core overhead (memory engine), REST, {clients} {client_s}",
                result[threads],
                "pairs/s",
                result[asgi],
                *goal,
            ),
            Row(
                "5",
                "  the same per CPU-second of the server",
                statistics.median(cpu[threads]),
                "pairs/CPU-s",
                statistics.median(cpu[asgi]),
            ),
            Row("5", f"  with the asgi front end, {clients} {client_s}", result[asgi], "pairs/s"),
        ]
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=3000, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=5, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
