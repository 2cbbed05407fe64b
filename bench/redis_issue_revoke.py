"""Row 6: Redis ACL issue+revoke in-process, against raw ``ACL SETUSER`` + ``ACL DELUSER``.

On the machine's Redis. The engine's root is an ACL user of this run's own; the role grants GET
on a key namespace of this run's own. The limit sends the same ``ACL SETUSER`` (the plugin's own
rule builder makes the rules) and ``ACL DELUSER`` with redis-py on one connection.
"""

from __future__ import annotations

import argparse
import secrets
from contextlib import contextmanager
from typing import Iterator

import redis

from common import REDIS, Row, interleaved_medians, rate, run_alone, temp_store, vault_pairs
from scaivault_core import Vault
from scaivault_core.builtin_plugins.passwords import random_password
from scaivault_core.templates import generate_username
from scaivault_redis import acl

KEYS = ["{ns}cache:*"]
COMMANDS = ["+get", "+ping"]


@contextmanager
def redis_target() -> Iterator[tuple[redis.Redis, dict[str, str], str, str]]:
    """(admin client, root credentials, key namespace, role name); every user of this run is deleted after."""
    tag = secrets.token_hex(4)
    admin = redis.Redis(*REDIS, decode_responses=True)
    root = {"username": f"sv_bench_admin_{tag}", "password": f"Adm-{secrets.token_urlsafe(16)}"}
    admin.execute_command("ACL", "SETUSER", root["username"], "reset", "on", f">{root['password']}", "~*", "&*", "+@all")
    role = f"b{tag}"
    try:
        yield admin, root, f"sv_bench_{tag}:", role
    finally:
        left = [u for u in admin.execute_command("ACL", "USERS") if u.startswith(f"v_{role}_")]
        if left:
            admin.execute_command("ACL", "DELUSER", *left)
        admin.execute_command("ACL", "DELUSER", root["username"])
        admin.close()


def raw_pairs(root: dict[str, str], namespace: str, role: str, count: int) -> int:
    rules, problems = acl.build([k.format(ns=namespace) for k in KEYS], [], COMMANDS, [])
    assert not problems
    client = redis.Redis(*REDIS, username=root["username"], password=root["password"], decode_responses=True,
                         single_connection_client=True)
    try:
        for _ in range(count):
            username = generate_username(role, 64)
            client.execute_command("ACL", "SETUSER", username, "reset", "on", f">{random_password()}", *rules.rules)
            client.execute_command("ACL", "DELUSER", username)
    finally:
        client.close()
    return count


def run(args: argparse.Namespace) -> list[Row]:
    with redis_target() as (_, root, namespace, role):
        vault = Vault(temp_store())
        try:
            vault.put_secret("infra/redis/root", root)
            vault.create_policy("redis-root", [{"path_pattern": "infra/redis/root", "permissions": ["read"]}])
            vault.bind_policy("redis-root", "dynamic:cache")
            vault.create_engine("cache", "database", {"plugin": "redis", "root_credentials_path": "infra/redis/root",
                                                      "connection_url": "redis://{{username}}:{{password}}@" + f"{REDIS[0]}:{REDIS[1]}/0"},
                                default_ttl="1h", max_ttl="24h")
            vault.create_role("cache", role, keys=[k.format(ns=namespace) for k in KEYS], commands=COMMANDS)
            vault_pairs(vault, "cache", role, 50)  # warm the pool and caches
            result = interleaved_medians(args.runs, {
                "raw": lambda: rate(lambda: raw_pairs(root, namespace, role, args.pairs)),
                "ours": lambda: rate(lambda: vault_pairs(vault, "cache", role, args.pairs)),
            })
        finally:
            vault.close()
    return [Row("6", "Redis ACL issue+revoke, in-process", result["ours"], "pairs/s", result["raw"], "≥ 0.8×",
                result["ours"] >= 0.8 * result["raw"])]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs", type=int, default=2000, help="issue+revoke pairs per measurement")
    parser.add_argument("--runs", type=int, default=5, help="rounds; the figure is the median")


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
