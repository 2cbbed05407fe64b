"""Benchmark 1: PostgreSQL issue+revoke, in-process and sequential, against the raw limit.

The limit is the same rendered statements run directly with psycopg on one connection, one
statement per call, in the same run. Prints pairs per second (median of several runs) and the ratio.
"""

from __future__ import annotations

import argparse
import secrets
import time

import psycopg

from common import CREATION, PG, REVOCATION, interleaved_medians, private_database, rate, temp_store, vacuum_catalog
from scaivault_core import Vault
from scaivault_core.default_plugins.passwords import random_password
from scaivault_core.templates import Templates, generate_username


def raw_pairs(database: str, count: int) -> int:
    templates = Templates()
    with psycopg.connect(f"postgresql://postgres@{PG}/{database}", autocommit=True) as conn:
        for _ in range(count):
            variables = {"name": generate_username("readonly", 63), "password": random_password(),
                         "expiration": time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(time.time() + 3600)),
                         "ttl_seconds": 3600}
            for statement in CREATION + REVOCATION:
                conn.execute(templates.render(statement, variables))
    return count


def vault_for(database: str) -> Vault:
    vault = Vault(temp_store())
    vault.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-under-trust"})
    vault.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
    vault.bind_policy("pg-root", "dynamic:bench")
    vault.create_engine("bench", "database", {
        "plugin": "postgresql", "root_credentials_path": "infra/pg/root",
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG}/{database}"})
    vault.create_role("bench", "readonly", creation_statements=CREATION, revocation_statements=REVOCATION)
    return vault


def vault_pairs(vault: Vault, count: int) -> int:
    for _ in range(count):
        vault.revoke(vault.issue("bench", "readonly").lease_id)
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with private_database() as database:
        vault = vault_for(database)
        try:
            reset = lambda: vacuum_catalog(database)  # noqa: E731
            vault_pairs(vault, 20)  # warm the pooled connection and caches
            result = interleaved_medians(args.runs, {
                "raw": lambda: rate(lambda: raw_pairs(database, args.pairs)),
                "ours": lambda: rate(lambda: vault_pairs(vault, args.pairs)),
            }, reset)
            raw, ours = result["raw"], result["ours"]
        finally:
            vault.close()
    print(f"{'measure':<44}{'ours/s':>10}{'limit/s':>10}{'ratio':>8}")
    print(f"{'PostgreSQL issue+revoke, in-process, seq.':<44}{ours:>10.1f}{raw:>10.1f}{ours / raw:>8.2f}")


if __name__ == "__main__":
    main()
