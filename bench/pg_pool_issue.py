"""Warm pools: issue latency at one client, from a role's pool, against the raw cost of creating the user.

The guide's role (``CREATE ROLE ... PASSWORD ... VALID UNTIL`` and two ``GRANT``\\s). Three
contenders take turns in each round, each issuing ``--issues`` users one after the other and timing
each one:

- **raw**: the role's rendered creation statements run with psycopg on one connection, one
  statement per call: what creating the user costs the target, before ScaiVault does anything;
- **pool**: ``vault.issue()`` on an embedded vault whose role keeps ``pool_size`` users ready, with
  its pool worker refilling in the background as it would in service; an issue takes one pooled
  user and activates it (``ALTER ROLE ... LOGIN PASSWORD ... VALID UNTIL``);
- **no pool**: ``vault.issue()`` of the same role on a second vault without a pool.

The figures are the p50 and p99 of each (medians over rounds). Users are revoked and the catalog
vacuumed between rounds, untimed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import psycopg
from common import (
    CREATION,
    REVOCATION,
    Row,
    configure_pg,
    expiration,
    private_database,
    run_alone,
    temp_store,
    vacuum_catalog,
)
from pg_expiry_lag import percentile

from scaivault_core import Vault
from scaivault_core.builtin_plugins.passwords import random_password
from scaivault_core.templates import Templates, generate_username
from scaivault_core.testing import wait_until


def raw(target, count: int) -> list[float]:
    templates = Templates()
    took, names = [], []
    with psycopg.connect(target.url, autocommit=True) as conn:
        for _ in range(count):
            variables = {
                "name": generate_username(target.role, 63),
                "password": random_password(),
                "expiration": expiration(),
                "ttl_seconds": 3600,
            }
            statements = [templates.render(s, variables) for s in CREATION]
            started = time.perf_counter()
            for statement in statements:
                conn.execute(statement)
            took.append(time.perf_counter() - started)
            names.append(variables["name"])
        for name in names:
            conn.execute("; ".join(templates.render(s, {"name": name}) for s in REVOCATION))
    return took


def issues(vault: Vault, role: str, count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        vault.issue("bench", role)
        took.append(time.perf_counter() - started)
    vault.revoke_prefix("lease_db_", engine="bench")
    return took


def run(args: argparse.Namespace) -> list[Row]:
    size = min(2 * args.issues, 500)
    with private_database() as target:
        pooled = Vault(temp_store(), start_worker=True)
        plain = Vault(temp_store(), start_worker=False)
        try:
            configure_pg(pooled, target, CREATION, REVOCATION)
            configure_pg(plain, target, CREATION, REVOCATION)
            pooled.update_role(
                "bench", target.role, creation_statements=CREATION, revocation_statements=REVOCATION, pool_size=size
            )

            def full() -> None:  # a full pool, its refill done (its DDL would collide with raw's), untimed
                vacuum_catalog(target.database)
                if not wait_until(
                    lambda: len(pooled.store.list_leases(engine="bench", states=("pooled",), limit=1000)) == size,
                    timeout=300,
                ):
                    raise RuntimeError("the pool did not fill")

            values: dict[str, list[list[float]]] = {"raw": [], "pool": [], "no pool": []}
            for _ in range(args.runs):
                for name, fn in (
                    ("raw", lambda: raw(target, args.issues)),
                    ("pool", lambda: issues(pooled, target.role, args.issues)),
                    ("no pool", lambda: issues(plain, target.role, args.issues)),
                ):
                    full()
                    values[name].append(fn())
        finally:
            pooled.close()
            plain.close()
    ms = {
        name: (
            statistics.median(statistics.median(r) for r in rounds) * 1000,
            statistics.median(percentile(r, 99) for r in rounds) * 1000,
        )
        for name, rounds in values.items()
    }
    rows = []
    for i, label in ((0, "p50"), (1, "p99")):
        rows.append(
            Row(
                "P2",
                f"issue latency {label}, 1 client, from a warm pool of {size}",
                ms["pool"][i],
                "ms",
                ms["raw"][i],
                "< raw create",
                ms["pool"][i] < ms["raw"][i],
                ratio=ms["pool"][i] / ms["raw"][i],
            )
        )
        rows.append(
            Row(
                "P2",
                "  the same without a pool",
                ms["no pool"][i],
                "ms",
                ms["raw"][i],
                "",
                ratio=ms["no pool"][i] / ms["raw"][i],
            )
        )
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--issues", type=int, default=100, help="issues per contender per round, one at a time")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figures are the medians")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
