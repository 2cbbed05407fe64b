"""Row 1: PostgreSQL issue+revoke, in-process and sequential, against the raw limit.

The limit is the same rendered statements (the guide's role) run directly with psycopg on one
connection: one statement per call, as the issue defines it, and a stricter one where each
creation and each revocation is a single round trip, as the engine itself sends them.
"""

from __future__ import annotations

import argparse

from common import (
    CREATION,
    REVOCATION,
    Row,
    interleaved_medians,
    pg_vault,
    private_database,
    rate,
    raw_pairs,
    run_alone,
    vacuum_catalog,
    vault_pairs,
)


def run(args: argparse.Namespace) -> list[Row]:
    with private_database() as target:
        vault = pg_vault(target, CREATION, REVOCATION, start_worker=False)
        try:
            vault_pairs(vault, "bench", target.role, 10)  # warm the pooled connection and caches
            result = interleaved_medians(
                args.runs,
                {
                    "raw": lambda: rate(lambda: raw_pairs(target, args.pairs, CREATION, REVOCATION)),
                    "raw batched": lambda: rate(
                        lambda: raw_pairs(target, args.pairs, CREATION, REVOCATION, batched=True)
                    ),
                    "ours": lambda: rate(lambda: vault_pairs(vault, "bench", target.role, args.pairs)),
                },
                lambda: vacuum_catalog(target.database),
            )
        finally:
            vault.close()
    ours = result["ours"]
    return [
        Row(
            "1",
            "PostgreSQL issue+revoke, in-process, sequential",
            ours,
            "pairs/s",
            result["raw"],
            "≥ 0.9×",
            ours >= 0.9 * result["raw"],
        ),
        Row(
            "1b",
            "  the same vs raw with one round trip per create/drop",
            ours,
            "pairs/s",
            result["raw batched"],
            "(stricter)",
            ours >= 0.9 * result["raw batched"],
        ),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=150, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=5, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
