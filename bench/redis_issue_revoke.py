"""Row 6: Redis ACL users over REST with 1 and 4 clients, against OpenBao 2.7.2's ``redis-database-plugin``.

On the machine's Redis. The engine's root is an ACL user of this run's own; the role grants GET
on a key namespace of this run's own. Each arm issues ``--count`` credentials, then revokes them
all, from 1 or 4 client threads on kept-alive connections; issue and revoke are timed separately.
The arms, in turn within each round:

- raw: ``ACL SETUSER`` + ``ACL DELUSER`` with redis-py, the same rules (the plugin's own rule
  builder makes them), on 1 or 4 connections: the target's own cost;
- ours: one ``scaivault server`` process on a SQLite store, over REST;
- OpenBao: ``bao server -dev`` with its ``redis-database-plugin``, the same ACL rules as its
  creation statements, over its REST API (skipped when ``bao`` is not installed).
"""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import redis
from common import REDIS, Phases, Row, interleaved_medians, over_rest, phased, run_alone, server, temp_store
from openbao import OpenBao, bao_binary, openbao

from scaivault_core import Vault
from scaivault_core.builtin_plugins.passwords import random_password
from scaivault_core.templates import generate_username
from scaivault_redis import acl

KEYS = ["{ns}cache:*"]
COMMANDS = ["+get", "+ping"]
CLIENTS = (1, 4)


@contextmanager
def redis_target() -> Iterator[tuple[redis.Redis, dict[str, str], str, str]]:
    """(admin client, root credentials, key namespace, role name); every user of this run is deleted after."""
    tag = secrets.token_hex(4)
    admin = redis.Redis(*REDIS, decode_responses=True)
    root = {"username": f"sv_bench_admin_{tag}", "password": f"Adm-{secrets.token_urlsafe(16)}"}
    admin.execute_command(
        "ACL", "SETUSER", root["username"], "reset", "on", f">{root['password']}", "~*", "&*", "+@all"
    )
    role = f"b{tag}"
    try:
        yield admin, root, f"sv_bench_{tag}:", role
    finally:
        left = [
            u
            for u in admin.execute_command("ACL", "USERS")
            if u.startswith(f"v_{role}_") or u.upper().startswith(f"V_TOKEN_{role.upper()}_")
        ]
        if left:
            admin.execute_command("ACL", "DELUSER", *left)
        admin.execute_command("ACL", "DELUSER", root["username"])
        admin.close()


def rules(namespace: str) -> list[str]:
    built, problems = acl.build([k.format(ns=namespace) for k in KEYS], [], COMMANDS, [])
    assert not problems
    return list(built.rules)


def raw(root: dict[str, str], namespace: str, role: str, count: int, clients: int) -> Phases:
    acl_rules = rules(namespace)

    def connect() -> redis.Redis:
        return redis.Redis(
            *REDIS,
            username=root["username"],
            password=root["password"],
            decode_responses=True,
            single_connection_client=True,
        )

    def issue(client: redis.Redis) -> str:
        username = generate_username(role, 64)
        client.execute_command("ACL", "SETUSER", username, "reset", "on", f">{random_password()}", *acl_rules)
        return username

    return phased(count, clients, connect, issue, lambda client, name: client.execute_command("ACL", "DELUSER", name))


def configure_ours(store: Any, root: dict[str, str], namespace: str, role: str) -> str:
    """Engine ``cache`` and ``role`` on a fresh store; returns an admin token."""
    vault = Vault(store, start_worker=False)
    try:
        vault.put_secret("infra/redis/root", root)
        vault.create_policy("redis-root", [{"path_pattern": "infra/redis/root", "permissions": ["read"]}])
        vault.bind_policy("redis-root", "dynamic:cache")
        vault.create_engine(
            "cache",
            "database",
            {
                "plugin": "redis",
                "root_credentials_path": "infra/redis/root",
                "connection_url": "redis://{{username}}:{{password}}@" + f"{REDIS[0]}:{REDIS[1]}/0",
            },
            default_ttl="1h",
            max_ttl="24h",
        )
        vault.create_role("cache", role, keys=[k.format(ns=namespace) for k in KEYS], commands=COMMANDS)
        return vault.create_admin_token()
    finally:
        vault.close()


def configure_openbao(bao: OpenBao, root: dict[str, str], namespace: str, role: str) -> None:
    bao.call(
        "POST",
        "/v1/database/config/cache",
        {
            "plugin_name": "redis-database-plugin",
            "allowed_roles": "*",
            "host": REDIS[0],
            "port": REDIS[1],
            "username": root["username"],
            "password": root["password"],
        },
    )
    bao.call(
        "POST",
        f"/v1/database/roles/{role}",
        {
            "db_name": "cache",
            "creation_statements": json.dumps(rules(namespace)),
            "default_ttl": "1h",
            "max_ttl": "24h",
        },
    )


def run(args: argparse.Namespace) -> list[Row]:
    binary = None if args.no_openbao else bao_binary()
    with ExitStack() as stack:
        _, root, namespace, role = stack.enter_context(redis_target())
        store = temp_store()
        token = configure_ours(store, root, namespace, role)
        srv = stack.enter_context(server(store, env={"SCAIVAULT_FRONT_END": args.front_end}))
        contenders: dict[Any, Any] = {}
        for n in CLIENTS:
            contenders["raw", n] = lambda n=n: raw(root, namespace, role, args.count, n).figures()
            contenders["ours", n] = lambda n=n: over_rest(srv, token, "cache", role, args.count, n).figures()
        if binary:
            bao = stack.enter_context(openbao(binary))
            configure_openbao(bao, root, namespace, role)
            for n in CLIENTS:
                contenders["openbao", n] = lambda n=n: bao.phases(role, args.count, n).figures()
        for name, fn in contenders.items():  # warm every arm's connections and caches
            if name[0] != "raw":
                fn()
        result = {k: Phases(*v) for k, v in interleaved_medians(args.runs, contenders).items()}
    return rows(result)


def rows(result: dict[Any, Phases]) -> list[Row]:
    table = []
    for n in CLIENTS:
        mine, target = result["ours", n], result["raw", n]
        clients = f"{n} client{'s' if n > 1 else ''}"
        table += [
            Row(
                "6", f"Redis ACL issue over REST, {clients}, against raw", mine.issue_rate, "creds/s", target.issue_rate
            ),
            Row("6", f"  revoke, {clients}, against raw", mine.revoke_rate, "creds/s", target.revoke_rate),
        ]
        if ("openbao", n) in result:
            bao = result["openbao", n]
            table += [
                Row(
                    "6",
                    f"  issue, {clients}, against OpenBao's",
                    mine.issue_rate,
                    "creds/s",
                    bao.issue_rate,
                    "≥ 1.2× OpenBao",
                    mine.issue_rate >= 1.2 * bao.issue_rate,
                ),
                Row(
                    "6",
                    f"  revoke, {clients}, against OpenBao's",
                    mine.revoke_rate,
                    "creds/s",
                    bao.revoke_rate,
                    "≥ 100× OpenBao",
                    mine.revoke_rate >= 100 * bao.revoke_rate,
                ),
            ]
    one = result["ours", 1]
    if ("openbao", 1) in result:
        bao = result["openbao", 1]
        table += [
            Row("6", "  server CPU per issue, against OpenBao's", one.issue_cpu_ms, "ms", bao.issue_cpu_ms),
            Row("6", "  server CPU per revoke, against OpenBao's", one.revoke_cpu_ms, "ms", bao.revoke_cpu_ms),
        ]
    else:
        table += [
            Row("6", "  server CPU per issue", one.issue_cpu_ms, "ms"),
            Row("6", "  server CPU per revoke", one.revoke_cpu_ms, "ms"),
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
