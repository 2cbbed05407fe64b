"""Row 2: PostgreSQL issue+revoke over REST with 1, 4 and 16 concurrent clients, against row 1's limit.

One ``scaivault server`` process on a SQLite store; the clients are threads, each issuing and
revoking in turn on its own kept-alive connection. Concurrent role DDL on one PostgreSQL
conflicts, so the engine queues it on one root connection (and an advisory lock): more clients
cannot make the target faster, only keep it busy. The limit is measured in the same rounds.
"""

from __future__ import annotations

import argparse

from common import (CREATION, REVOCATION, Row, interleaved_medians, pg_vault, private_database, rate, raw_pairs,
                    rest_pairs, run_alone, server, temp_store, vacuum_catalog)

CLIENTS = (1, 4, 16)


def run(args: argparse.Namespace) -> list[Row]:
    store = temp_store()
    with private_database() as target:
        vault = pg_vault(target, CREATION, REVOCATION, store=store, start_worker=False)
        token = vault.create_admin_token()
        vault.close()
        with server(store) as srv:
            rest_pairs(srv, token, "bench", target.role, 16, 4)  # warm the server's connection and caches
            contenders = {"raw": lambda: rate(lambda: raw_pairs(target, args.pairs, CREATION, REVOCATION))}
            for n in CLIENTS:
                contenders[n] = lambda n=n: rate(lambda: rest_pairs(srv, token, "bench", target.role, args.pairs, n))
            result = interleaved_medians(args.runs, contenders, lambda: vacuum_catalog(target.database))
    raw = result["raw"]
    return [Row("2", f"  over REST, {n} client{'s' if n > 1 else ''}", result[n], "pairs/s", raw, "≥ 0.9×",
                result[n] >= 0.9 * raw) for n in CLIENTS]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=150, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
