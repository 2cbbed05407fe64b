"""Rows 4 and 7: start-up time and memory against the number of stored leases, and store size per lease.

One SQLite store per size, each holding that many active leases of a PostgreSQL engine (the
guide's role, so each handle carries four rendered revocation statements) with their issue audit
events, written through the store API as issuing would leave them; expiries are spread over the
next month, so nothing is due. Each round starts ``scaivault server`` on every store in turn and
times from spawning the process to the answer of its first authenticated request (a lease
lookup), and the CPU time the process used until then (which the machine's other load does not
inflate); RSS is read after that request and again a second later, when the expiry worker has
made its first pass, and the larger is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from common import (
    CREATION,
    REVOCATION,
    Row,
    configure_pg,
    interleaved_medians,
    plan_leases,
    private_database,
    request,
    run_alone,
    server,
    store_leases,
    temp_dir,
)

from scaivault_core import Vault

MONTH = 30 * 86400


def fill(directory: Path, target, count: int) -> tuple[Path, str, str]:
    """A store with ``count`` active leases; returns (store, admin token, one lease id)."""
    store = directory / "vault.db"
    with Vault(store, start_worker=False) as vault:
        configure_pg(vault, target, CREATION, REVOCATION)
        token = vault.create_admin_token()
        now = vault.clock.time()
        store_leases(
            vault,
            "bench",
            target.role,
            plan_leases(vault, "bench", target.role, count, now + 3600),
            lambda i: now + 3600 + (i * 7919) % MONTH,
        )
        lease = vault.issue("bench", target.role)  # one real lease, so the first request finds something
    return store, token, lease.lease_id


def store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.parent.glob(store.name + "*"))


def start_once(store: Path, token: str, lease_id: str, rss: list[float], cpu: list[float]) -> float:
    """Seconds from spawning the server to the answer of its first authenticated request."""
    with server(store) as srv:
        status, body = request(srv, "GET", f"/v1/dynamic/leases/{lease_id}", token)
        answered = time.perf_counter()
        if status != 200:
            raise RuntimeError(f"the first request failed: {status} {body}")
        cpu.append(srv.cpu())
        first = srv.rss_mb()
        time.sleep(1.0)
        rss.append(max(first, srv.rss_mb()))
    return answered - srv.spawned


def run(args: argparse.Namespace) -> list[Row]:
    sizes = [int(s) for s in args.sizes.split(",")]
    directory = temp_dir()
    with private_database() as target:
        stores, sizes_on_disk, fill_seconds = {}, {}, {}
        for n in sizes:
            started = time.perf_counter()
            stores[n] = fill(directory / f"n{n}", target, n)
            fill_seconds[n] = time.perf_counter() - started
            sizes_on_disk[n] = store_bytes(stores[n][0])
        rss: dict[int, list[float]] = {n: [] for n in sizes}
        cpu: dict[int, list[float]] = {n: [] for n in sizes}
        times = interleaved_medians(args.runs, {n: (lambda n=n: start_once(*stores[n], rss[n], cpu[n])) for n in sizes})
    memory = {n: statistics.median(v) for n, v in rss.items()}
    cpu_s = {n: statistics.median(v) for n, v in cpu.items()}
    base, top = sizes[0], sizes[-1]
    rows = []
    for n in sizes:
        rows.append(
            Row(
                "4",
                f"start-up to first served request, {n:,} leases",
                times[n],
                "s",
                times[base],
                "≤ 1 s" if n == top else "",
                times[n] <= 1.0 if n == top else None,
            )
        )
    for n in sizes:
        rows.append(Row("4", f"  CPU time of that start-up, {n:,} leases", cpu_s[n], "CPU-s", cpu_s[base], "", None))
    for n in sizes:
        grew = memory[n] - memory[base]
        rows.append(
            Row(
                "4",
                f"RSS after start-up, {n:,} leases ({grew:+.1f} MB)",
                memory[n],
                "MB",
                memory[base],
                "≤ +50 MB" if n == top else "",
                grew <= 50 if n == top else None,
            )
        )
    per_lease = (sizes_on_disk[top] - sizes_on_disk[base]) / max(top - base, 1)
    rows.append(
        Row(
            "7",
            f"store size on disk per active lease, at {top:,}",
            per_lease,
            "bytes",
            None,
            "< 2 KB",
            per_lease < 2048,
        )
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "sizes": sizes,
                    "startup_s": times,
                    "startup_cpu_s": cpu_s,
                    "rss_mb": memory,
                    "store_bytes": sizes_on_disk,
                    "fill_s": fill_seconds,
                },
                indent=1,
            )
        )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", default="0,100000,1000000", help="lease counts, the first is the baseline")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figure is the median")
    parser.add_argument("--json", help="also write the figures per size here (for the plot)")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
