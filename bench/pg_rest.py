"""Row 2: PostgreSQL credentials over REST with 1 and 4 clients, against raw psycopg and OpenBao 2.7.2.

A private scram-sha-256 PostgreSQL (``ScramCluster``) so other work on the machine's cluster does
not share its catalog. Each arm issues ``--count`` credentials with the guide's role, then revokes
them all, from 1 or 4 client threads on kept-alive connections; issue and revoke are timed
separately. The arms, in turn within each round:

- raw: the same rendered statements with psycopg, one statement per call and a transaction per
  credential (as OpenBao runs them), on 1 or 4 connections;
- one-trip raw: each credential's statements as one multi-statement query, as our engine sends
  them; our own cost is measured against this one, which pays no extra round trips;
- ours: one ``scaivault server`` process on a SQLite store, over REST;
- OpenBao: ``bao server -dev`` with its ``postgresql-database-plugin``, the same creation and
  revocation statements, over its REST API (skipped when ``bao`` is not installed).

Our own cost per credential is the time one client waits beyond one-trip raw's; the CPU figures are the
server process's own (user + system), which the machine's other load does not change.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from typing import Any

import psycopg
from common import (
    CREATION,
    REVOCATION,
    PgTarget,
    Phases,
    Row,
    expiration,
    interleaved_medians,
    over_rest,
    pg_vault,
    phased,
    private_database,
    run_alone,
    server,
    temp_store,
    vacuum_catalog,
)
from openbao import OpenBao, bao_binary, openbao

from scaivault_core.builtin_plugins.passwords import random_password
from scaivault_core.templates import Templates, generate_username
from scaivault_core.testing import ScramCluster

CLIENTS = (1, 4)


def in_transaction(conn: psycopg.Connection, statements: list[str]) -> None:
    """The statements one per call in one transaction (as OpenBao and our engine each run them), again when
    another connection's role DDL updated the same catalog row at once (``tuple concurrently updated``)."""
    while True:
        try:
            with conn.transaction():
                for statement in statements:
                    conn.execute(statement)
            return
        except psycopg.errors.InternalError_ as error:
            if "tuple concurrently updated" not in str(error):
                raise


def one_trip(conn: psycopg.Connection, statements: list[str]) -> None:
    """The statements as one multi-statement query: one round trip, one implicit transaction."""
    conn.execute("; ".join(statements))  # type: ignore[arg-type]  # rendered statements, as the engine sends


def raw(target: PgTarget, count: int, clients: int, send: Any = in_transaction) -> Phases:
    """The limit: the same rendered statements with psycopg, a transaction per credential."""
    templates = Templates()

    def issue(conn: psycopg.Connection) -> dict[str, Any]:
        variables = {
            "name": generate_username(target.role, 63),
            "password": random_password(),
            "expiration": expiration(),
            "ttl_seconds": 3600,
        }
        send(conn, [templates.render(s, variables) for s in CREATION])
        return variables

    def revoke(conn: psycopg.Connection, variables: dict[str, Any]) -> None:
        send(conn, [templates.render(s, variables) for s in REVOCATION])

    return phased(count, clients, lambda: psycopg.connect(target.url, autocommit=True), issue, revoke)


def configure_openbao(bao: OpenBao, target: PgTarget) -> None:
    bao.call(
        "POST",
        "/v1/database/config/bench",
        {
            "plugin_name": "postgresql-database-plugin",
            "allowed_roles": "*",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{target.server}/{target.database}",
            "username": "postgres",
            "password": target.password,
        },
    )
    bao.call(
        "POST",
        f"/v1/database/roles/{target.role}",
        {
            "db_name": "bench",
            "creation_statements": CREATION,
            "revocation_statements": REVOCATION,
            "default_ttl": "1h",
            "max_ttl": "24h",
        },
    )


def between(target: PgTarget) -> None:
    """Check the last arm left no user behind (every arm must really revoke), then tidy the catalog."""
    with psycopg.connect(target.admin_url(), autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_roles WHERE rolcanlogin AND rolname <> 'postgres'").fetchone()[0]
    if left:
        raise RuntimeError(f"{left} users were left in PostgreSQL after an arm revoked everything")
    vacuum_catalog(target)


def run(args: argparse.Namespace) -> list[Row]:
    binary = None if args.no_openbao else bao_binary()
    store = temp_store()
    with ExitStack() as stack:
        cluster = stack.enter_context(ScramCluster())
        target = stack.enter_context(private_database(cluster))
        vault = pg_vault(target, CREATION, REVOCATION, store=store, start_worker=False)
        token = vault.create_admin_token()
        vault.close()
        srv = stack.enter_context(server(store, env={"SCAIVAULT_FRONT_END": args.front_end}))
        contenders: dict[Any, Any] = {"one trip": lambda: raw(target, args.count, 1, one_trip).figures()}
        for n in CLIENTS:
            contenders["raw", n] = lambda n=n: raw(target, args.count, n).figures()
            contenders["ours", n] = lambda n=n: over_rest(srv, token, "bench", target.role, args.count, n).figures()
        if binary:
            bao = stack.enter_context(openbao(binary))
            configure_openbao(bao, target)
            for n in CLIENTS:
                contenders["openbao", n] = lambda n=n: bao.phases(target.role, args.count, n).figures()
        for name, fn in contenders.items():  # warm every arm's connections and caches
            if name[0] not in ("raw", "one trip"):
                fn()
        result = {k: Phases(*v) for k, v in interleaved_medians(args.runs, contenders, lambda: between(target)).items()}
    return rows(result, args.count)


def rows(result: dict[Any, Phases], count: int) -> list[Row]:
    raw1, ours1, ours4 = result["raw", 1], result["ours", 1], result["ours", 4]
    table = [
        Row(
            "2",
            "PostgreSQL issue over REST, 1 client",
            ours1.issue_rate,
            "creds/s",
            raw1.issue_rate,
            "≥ 0.9× raw",
            ours1.issue_rate >= 0.9 * raw1.issue_rate,
        ),
        Row(
            "2",
            "  revoke, 1 client",
            ours1.revoke_rate,
            "creds/s",
            raw1.revoke_rate,
            "≥ 0.8× raw",
            ours1.revoke_rate >= 0.8 * raw1.revoke_rate,
        ),
        Row("2", "  issue, 4 clients (raw: 4 connections)", ours4.issue_rate, "creds/s", result["raw", 4].issue_rate),
        Row(
            "2", "  revoke, 4 clients (raw: 4 connections)", ours4.revoke_rate, "creds/s", result["raw", 4].revoke_rate
        ),
    ]
    # Against raw sending each credential's statements in one round trip, as the engine does: raw
    # one statement per call pays four or five more round trips, which would hide our own cost.
    trip = result["one trip"]
    ours_issue_ms = 1000 / ours1.issue_rate - 1000 / trip.issue_rate
    ours_revoke_ms = 1000 / ours1.revoke_rate - 1000 / trip.revoke_rate
    table += [
        Row("2", "  raw with one round trip per credential: issue", trip.issue_rate, "creds/s", raw1.issue_rate),
        Row("2", "  raw with one round trip per credential: revoke", trip.revoke_rate, "creds/s", raw1.revoke_rate),
        Row(
            "2",
            "  our own cost per issue (1 client, beyond one-trip raw)",
            ours_issue_ms,
            "ms",
            goal="≤ 0.7 ms",
            met=ours_issue_ms <= 0.7,
        ),
        Row(
            "2",
            "  our own cost per revoke (1 client, beyond one-trip raw)",
            ours_revoke_ms,
            "ms",
            goal="≤ 0.5 ms",
            met=ours_revoke_ms <= 0.5,
        ),
    ]
    if ("openbao", 1) in result:
        bao1, bao4 = result["openbao", 1], result["openbao", 4]
        table += [
            Row("2", "  OpenBao issue, 1 client", bao1.issue_rate, "creds/s", raw1.issue_rate),
            Row("2", "  OpenBao revoke, 1 client", bao1.revoke_rate, "creds/s", raw1.revoke_rate),
            Row(
                "2",
                "  issue, 4 clients, against OpenBao's",
                ours4.issue_rate,
                "creds/s",
                bao4.issue_rate,
                "≥ 1.3× OpenBao",
                ours4.issue_rate >= 1.3 * bao4.issue_rate,
            ),
            Row(
                "2",
                "  revoke, 4 clients, against OpenBao's",
                ours4.revoke_rate,
                "creds/s",
                bao4.revoke_rate,
                "≥ 1.3× OpenBao",
                ours4.revoke_rate >= 1.3 * bao4.revoke_rate,
            ),
            Row("2", "  server CPU per issue, against OpenBao's", ours1.issue_cpu_ms, "ms", bao1.issue_cpu_ms),
            Row("2", "  server CPU per revoke, against OpenBao's", ours1.revoke_cpu_ms, "ms", bao1.revoke_cpu_ms),
        ]
    else:
        table += [
            Row("2", "  server CPU per issue", ours1.issue_cpu_ms, "ms"),
            Row("2", "  server CPU per revoke", ours1.revoke_cpu_ms, "ms"),
        ]
    return table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--count", type=int, default=300, help="credentials issued, then revoked, per measurement")
    parser.add_argument("--runs", type=int, default=5, help="rounds; the figure is the median")
    parser.add_argument("--no-openbao", action="store_true", help="skip the OpenBao arm")
    parser.add_argument(
        "--front-end",
        choices=("threads", "asgi"),
        default="threads",
        help="our server's HTTP front end (docs/deploy.md)",
    )


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
