"""Row 3: 10,000 leases expiring in the same second; the time until every role is gone.

Each round makes N users in a private database (members of a group role, the docs' pattern for
many live users) and records N active leases for them in the vault's store as issuing would
(the engine's own ``plan()`` renders each revocation; creating the users is not what is timed, so
they are made in bulk without a password hash). All expire at the same instant of a manual clock;
advancing it wakes the vault's expiry worker, and the figure is the time from then until no user
is left in PostgreSQL (polled from another connection). The limit: the same rendered revocation
statements of N leases run one by one on one connection.
"""

from __future__ import annotations

import argparse
import time

import psycopg
from common import (
    PgTarget,
    Planned,
    Row,
    group_creation,
    interleaved_medians,
    pg_vault,
    plan_leases,
    private_database,
    run_alone,
    seconds,
    store_leases,
    vacuum_catalog,
)

from scaivault_core import ManualClock, Vault

TTL = 60.0


def make_users(target: PgTarget, planned: list[Planned]) -> None:
    with psycopg.connect(target.url, autocommit=True) as conn:
        for start in range(0, len(planned), 500):
            conn.execute(
                "; ".join(
                    f'CREATE ROLE "{p.username}" LOGIN IN ROLE "{target.group}"' for p in planned[start : start + 500]
                )
            )


def ours(vault: Vault, clock: ManualClock, target: PgTarget, count: int) -> float:
    """Seconds from the shared expiry instant until PostgreSQL has none of the users left."""
    expires_at = clock.time() + TTL
    planned = list(plan_leases(vault, "bench", target.role, count, expires_at))
    store_leases(vault, "bench", target.role, planned, lambda i: expires_at)
    make_users(target, planned)
    with psycopg.connect(target.url, autocommit=True) as conn:
        assert target.live_users(conn) == count
        started = time.perf_counter()
        clock.advance(TTL + 1)
        while target.live_users(conn):
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 60
    while vault.store.next_due_at() is not None:  # the worker records the last outcomes just after
        if time.monotonic() > deadline:
            raise RuntimeError("the expiry worker left leases unrevoked")
        time.sleep(0.01)
    failed = [c for c in vault.store.lease_counts() if c[2] != "revoked"]
    if failed:
        raise RuntimeError(f"leases not revoked: {failed}")
    return elapsed


def raw(vault: Vault, target: PgTarget, count: int) -> float:
    """Seconds to run each lease's revocation statements, one statement per call, on one connection."""
    planned = list(plan_leases(vault, "bench", target.role, count, vault.clock.time() + TTL))
    make_users(target, planned)
    with psycopg.connect(target.url, autocommit=True) as conn:

        def revoke_all() -> None:
            for p in planned:
                for statement in p.handle["revocation"]:
                    conn.execute(statement)

        elapsed = seconds(revoke_all)
        assert target.live_users(conn) == 0
    return elapsed


def run(args: argparse.Namespace) -> list[Row]:
    with private_database() as target:
        clock = ManualClock()
        vault = pg_vault(target, group_creation(target.group), clock=clock, start_worker=True)
        try:
            result = interleaved_medians(
                args.runs,
                {
                    "raw": lambda: raw(vault, target, args.leases),
                    "ours": lambda: ours(vault, clock, target, args.leases),
                },
                lambda: vacuum_catalog(target.database),
            )
        finally:
            vault.close()
    return [
        Row(
            "3",
            f"{args.leases:,} leases expiring at once: until all roles are gone",
            result["ours"],
            "s",
            result["raw"],
            "≤ 1.0×",
            result["ours"] <= result["raw"],
        )
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--leases", type=int, default=10_000, help="leases expiring in the same second")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
