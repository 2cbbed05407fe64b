"""Benchmark: issue+revoke throughput over REST with 1, 2 and 3 server processes on one PostgreSQL store.

Three ``scaivault server`` processes share a store schema in a private database, which is also
the target (the role grants a pre-made group role, the pattern the docs teach for scale). The
same number of client threads issue and revoke leases through the first 1, 2 or 3 servers,
round-robin; the figure is pairs per second, the median of several interleaved runs.

Two rows: one engine (the PostgreSQL plugin serialises role DDL per target across processes,
so this row shows the target's limit), and three engines on the same server (three DDL queues,
so the row shows what the processes and the shared store add).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import psycopg

from common import PG, interleaved_medians, rate, vacuum_catalog
from scaivault_core.client import ScaiVaultClient
from scaivault_core.crypto import encode_key, new_key
from scaivault_core.rest.testing import LiveServer

ADMIN = f"postgresql://postgres@{PG}/postgres"


@contextmanager
def private_target() -> Iterator[tuple[str, str, str]]:
    """(database, group role, lease role) of this run; dropped afterwards with every role the leases left."""
    tag = secrets.token_hex(4)
    database, group, role = f"sv_scale_bench_{tag}", f"sv_bench_readers_{tag}", f"bench{tag}"
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
        conn.execute(f'CREATE ROLE "{group}" NOLOGIN')
    with psycopg.connect(f"postgresql://postgres@{PG}/{database}", autocommit=True) as conn:
        conn.execute("CREATE TABLE reports (id int)")
        conn.execute(f'GRANT SELECT ON reports TO "{group}"')
    try:
        yield database, group, role
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            for (name,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)",
                                        (f"v_{role}_",)).fetchall():
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')
            conn.execute(f'DROP ROLE IF EXISTS "{group}"')


def start_servers(count: int, database: str, directory: Path) -> tuple[list[LiveServer], str]:
    env = {"SCAIVAULT_STORE": f"postgresql://postgres@{PG}/{database}?schema=scaivault&pool_max=20",
           "SCAIVAULT_KEY": encode_key(new_key())}
    servers, token = [], None
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


ENGINES = ("bench0", "bench1", "bench2")


def configure(url: str, token: str, database: str, group: str, role: str) -> None:
    """Three engines on the same database (each with its own DDL queue), each with the lease role."""
    admin = ScaiVaultClient(url, token)
    try:
        admin.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-under-trust"})
        admin.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
        for engine in ENGINES:
            admin.bind_policy("pg-root", f"dynamic:{engine}")
            admin.create_engine(engine, "database", {
                "plugin": "postgresql", "root_credentials_path": "infra/pg/root",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG}/{database}"})
            admin.create_role(engine, role, creation_statements=[
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                f'GRANT "{group}" TO "{{{{name}}}}"',
            ], revocation_statements=['DROP ROLE IF EXISTS "{{name}}"'])
    finally:
        admin.close()


def pairs_through(servers: list[LiveServer], token: str, role: str, pairs: int, clients: int,
                  engines: tuple[str, ...]) -> int:
    """Issue and revoke ``pairs`` leases with ``clients`` threads spread evenly over ``servers`` and ``engines``."""
    failures: list[str] = []

    def client(index: int, count: int) -> None:
        with httpx.Client(base_url=servers[index % len(servers)].url, timeout=60,
                          headers={"Authorization": f"Bearer {token}"}) as http:
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=12, help="client threads, the same for 1, 2 and 3 processes")
    args = parser.parse_args()
    with private_target() as (database, group, role), tempfile.TemporaryDirectory(prefix="sv-scale-") as tmp:
        servers, token = start_servers(3, database, Path(tmp))
        try:
            configure(servers[0].url, token, database, group, role)
            pairs_through(servers, token, role, 30, args.clients, ENGINES)  # warm every process's pools and caches
            rows = {}
            for label, engines in ((f"1 engine, {args.clients} clients", ENGINES[:1]),
                                   (f"3 engines, {args.clients} clients", ENGINES)):
                rows[label] = interleaved_medians(args.runs, {
                    n: (lambda n=n, engines=engines: rate(
                        lambda: pairs_through(servers[:n], token, role, args.pairs, args.clients, engines)))
                    for n in (1, 2, 3)
                }, lambda: vacuum_catalog(database))
        finally:
            for server in servers:
                server.stop()
    print(f"{'PostgreSQL issue+revoke over REST, shared store':<48}{'1 proc/s':>10}{'2 proc/s':>10}{'3 proc/s':>10}")
    for label, result in rows.items():
        print(f"{label:<48}{result[1]:>10.1f}{result[2]:>10.1f}{result[3]:>10.1f}")


if __name__ == "__main__":
    main()
