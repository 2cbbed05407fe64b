"""Revoke-prefix at scale: 10,000 active leases revoked by one ``revoke_prefix`` call, until every user is gone.

Each round records N active leases in the vault's store as issuing would (the engine's own
``plan()`` renders each revocation) for N users made in bulk in a private database (members of a
group role: the guide's per-user grants stop at about 2,400 live users, see docs/performance.md).
The figure is the wall time of ``revoke_prefix("lease_db_", engine)`` in-process, checked to have
left no user in PostgreSQL. The limit: the same rendered revocation statements, one by one on one
connection.
"""

from __future__ import annotations

import argparse

import psycopg
from common import (
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
from pg_expiry_storm import make_users, raw

from scaivault_core import Vault

TTL = 3600.0


def ours(vault: Vault, target, count: int) -> float:
    expires_at = vault.clock.time() + TTL
    planned = list(plan_leases(vault, "bench", target.role, count, expires_at))
    store_leases(vault, "bench", target.role, planned, lambda i: expires_at)
    make_users(target, planned)
    result: dict = {}
    elapsed = seconds(lambda: result.update(vault.revoke_prefix("lease_db_", engine="bench")))
    with psycopg.connect(target.url, autocommit=True) as conn:
        left = target.live_users(conn)
    if result["revoked"] != count or result["failed"] or left:
        raise RuntimeError(
            f"revoke-prefix left work undone: {result['revoked']} revoked, "
            f"{len(result['failed'])} failed, {left} users left"
        )
    return elapsed


def run(args: argparse.Namespace) -> list[Row]:
    with private_database() as target:
        vault = pg_vault(target, group_creation(target.group), start_worker=False)
        try:
            result = interleaved_medians(
                args.runs,
                {
                    "raw": lambda: raw(vault, target, args.leases),
                    "ours": lambda: ours(vault, target, args.leases),
                },
                lambda: vacuum_catalog(target.database),
            )
        finally:
            vault.close()
    return [
        Row(
            "P3",
            f"revoke-prefix of {args.leases:,} leases: until every user is gone",
            result["ours"],
            "s",
            result["raw"],
            "≤ 10 s",
            result["ours"] <= 10.0,
            ratio=result["ours"] / result["raw"],
        )
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--leases", type=int, default=10_000, help="leases revoked by one call")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
