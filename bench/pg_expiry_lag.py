"""Expiry lag under load: how late leases are revoked while clients issue at full speed.

An embedded vault with its expiry worker running (the system clock) and the docs' group-role
pattern on a private database. ``--clients`` threads issue leases with a ``--ttl`` of a second or
two, as fast as they can, for ``--seconds``; every lease therefore expires while the others are
still being issued. When all are revoked, each lease's lag is read from the store: the time it was
recorded revoked (after PostgreSQL dropped the user) minus its expiry. The figures are the p50, p99
and maximum of that lag over every lease, and the issue rate the clients kept up meanwhile.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import psycopg
from common import Row, group_creation, pg_vault, private_database, run_alone

from scaivault_core import LeaseState, Vault


def issue_for(vault: Vault, role: str, seconds: float, ttl: str, clients: int) -> int:
    """Issue from ``clients`` threads until ``seconds`` have passed; how many leases were issued."""
    stop = time.monotonic() + seconds
    counts = [0] * clients
    errors: list[BaseException] = []

    def client(i: int) -> None:
        try:
            while time.monotonic() < stop:
                vault.issue("bench", role, ttl=ttl)
                counts[i] += 1
        except BaseException as exc:  # reported below: a failed issue makes the figures meaningless
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"an issue failed: {errors[0]!r}")
    return sum(counts)


def lags(vault: Vault, timeout: float = 120.0) -> list[float]:
    """Once no lease is live any more: revoked_at - expires_at of every lease."""
    deadline = time.monotonic() + timeout
    while vault.store.next_due_at() is not None:
        if time.monotonic() > deadline:
            raise RuntimeError("the expiry worker left leases unrevoked")
        time.sleep(0.05)
    found, after = [], None
    while True:
        page = vault.store.list_leases(engine="bench", after=after, limit=1000)
        found += page
        if len(page) < 1000:
            break
        after = page[-1].lease_id
    bad = [lease for lease in found if lease.state != LeaseState.REVOKED]
    if bad:
        raise RuntimeError(f"{len(bad)} leases not revoked, e.g. {bad[0].state}")
    return [lease.revoked_at - lease.expires_at for lease in found]


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(p * 10) - 1] if len(values) > 1 else values[0]


def run(args: argparse.Namespace) -> list[Row]:
    with private_database() as target:
        vault = pg_vault(target, group_creation(target.group), start_worker=True)
        try:
            vault.issue("bench", target.role)  # warm the root connection
            vault.revoke_prefix("lease_db_", engine="bench")
            started = time.perf_counter()
            issued = issue_for(vault, target.role, args.seconds, args.ttl, args.clients)
            rate = issued / (time.perf_counter() - started)
            measured = lags(vault)
            with psycopg.connect(target.url, autocommit=True) as conn:
                left = target.live_users(conn)
            if left:
                raise RuntimeError(f"{left} users left in PostgreSQL")
        finally:
            vault.close()
    return lag_rows("L", "", measured, rate, args.clients)


def lag_rows(number: str, target: str, measured: list[float], rate: float, clients: int) -> list[Row]:
    """The rows of one lag measurement: p50, p99 (against the goal) and the worst lease; ``target`` names
    the target in each row when it is not PostgreSQL ("MySQL ")."""
    p99 = percentile(measured, 99)
    return [
        Row(
            number,
            f"{target}expiry lag p50, {clients} clients issuing ({len(measured):,} leases)",
            statistics.median(measured),
            "s",
        ),
        Row(
            number,
            f"{target}expiry lag p99, {clients} clients issuing at {rate:,.0f}/s",
            p99,
            "s",
            goal="≤ 0.2 s",
            met=p99 <= 0.2,
        ),
        Row(number, f"{target}expiry lag, the worst lease", max(measured), "s"),
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=4, help="threads issuing at full speed")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long they issue")
    parser.add_argument("--ttl", default="1s", help="each lease's ttl")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
