"""Scale-out: issue+revoke throughput over REST with 1, 2 and 3 server processes on one PostgreSQL store.

Three ``scaivault server`` processes share a store schema in the private target database (the
role grants a pre-made group role, the pattern the docs teach for scale). The same client threads
issue and revoke leases through the first 1, 2 or 3 servers, round-robin; each figure is pairs per
second, the median of interleaved rounds, and the three are printed side by side.

Two rows: one engine (the PostgreSQL plugin queues role DDL per engine across all processes, so
this row shows the target's own limit), and three engines on the same PostgreSQL (three queues,
so the row shows what more processes and the shared store add).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from pathlib import Path

import httpx
from common import PG, PgTarget, Row, group_creation, interleaved_medians, private_database, rate, vacuum_catalog

from scaivault_core.client import ScaiVaultClient
from scaivault_core.crypto import encode_key, new_key
from scaivault_core.testing.servers import LiveServer

ENGINES = ("bench0", "bench1", "bench2")
PROCESSES = (1, 2, 3)


def start_servers(count: int, target: PgTarget, directory: Path) -> tuple[list[LiveServer], str]:
    """``count`` servers on one store (a schema in the target's database) and one key; the admin token."""
    env = {
        "SCAIVAULT_STORE": f"postgresql://postgres@{PG}/{target.database}?schema=scaivault&pool_max=20",
        "SCAIVAULT_KEY": encode_key(new_key()),
    }
    servers: list[LiveServer] = []
    token = ""
    try:
        for index in range(count):
            server = LiveServer(directory / f"server{index}", env=env)
            token = token or server.init()
            server.admin_token = token
            servers.append(server.start())
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return servers, token


def configure(url: str, token: str, target: PgTarget) -> None:
    """Three engines on the same database (three DDL queues), each with the lease role."""
    admin = ScaiVaultClient(url, token)
    try:
        admin.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-under-trust"})
        admin.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
        for engine in ENGINES:
            admin.bind_policy("pg-root", f"dynamic:{engine}")
            admin.create_engine(
                engine,
                "database",
                {
                    "plugin": "postgresql",
                    "root_credentials_path": "infra/pg/root",
                    "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG}/{target.database}",
                },
            )
            admin.create_role(engine, target.role, creation_statements=group_creation(target.group))
    finally:
        admin.close()


def pairs_through(
    servers: list[LiveServer], token: str, role: str, pairs: int, clients: int, engines: tuple[str, ...]
) -> int:
    """Issue and revoke ``pairs`` leases with ``clients`` threads spread evenly over ``servers`` and ``engines``."""
    failures: list[str] = []

    def client(index: int, count: int) -> None:
        with httpx.Client(
            base_url=servers[index % len(servers)].url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for _ in range(count):
                issued = http.post(f"/v1/dynamic/engines/{engines[index % len(engines)]}/creds/{role}", json={})
                if issued.status_code != 200:
                    failures.append(issued.text[:200])
                    continue
                revoked = http.delete(f"/v1/dynamic/leases/{issued.json()['lease_id']}")
                if revoked.status_code != 204:
                    failures.append(revoked.text[:200])

    shares = [pairs // clients + (1 if i < pairs % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(i, n)) for i, n in enumerate(shares)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return pairs


def measure(args: argparse.Namespace) -> dict[str, dict[int, float]]:
    """Pairs/s for each row label and number of processes."""
    rows: dict[str, dict[int, float]] = {}
    with private_database() as target, tempfile.TemporaryDirectory(prefix="sv-scale-") as tmp:
        servers, token = start_servers(max(PROCESSES), target, Path(tmp))
        try:
            configure(servers[0].url, token, target)
            pairs_through(servers, token, target.role, 30, args.clients, ENGINES)  # warm every process
            for label, engines in (
                (f"1 engine, {args.clients} clients", ENGINES[:1]),
                (f"3 engines, {args.clients} clients", ENGINES),
            ):
                rows[label] = interleaved_medians(
                    args.runs,
                    {
                        n: (
                            lambda n=n, engines=engines: rate(
                                lambda: pairs_through(
                                    servers[:n], token, target.role, args.pairs, args.clients, engines
                                )
                            )
                        )
                        for n in PROCESSES
                    },
                    lambda: vacuum_catalog(target.database),
                )
        finally:
            for server in servers:
                server.stop()
    return rows


def run(args: argparse.Namespace) -> list[Row]:
    """Rows for bench/run: each process count, with its ratio to one process."""
    rows = []
    for label, result in measure(args).items():
        for n in PROCESSES:
            rows.append(
                Row(
                    "S",
                    f"scale-out over REST, {label}, {n} process{'es' if n > 1 else ''}",
                    result[n],
                    "pairs/s",
                    ratio=result[n] / result[1],
                )
            )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=300, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=3, help="rounds; each figure is the median")
    parser.add_argument("--clients", type=int, default=12, help="client threads, the same for 1, 2 and 3 processes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    rows = measure(parser.parse_args())
    print(
        f"{'PostgreSQL issue+revoke over REST, shared store':<48}" + "".join(f"{f'{n} proc/s':>10}" for n in PROCESSES)
    )
    for label, result in rows.items():
        print(f"{label:<48}" + "".join(f"{result[n]:>10.1f}" for n in PROCESSES))


if __name__ == "__main__":
    main()
