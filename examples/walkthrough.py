"""The guide's walkthrough (docs/guide/dynamic-secrets.md), step by step, in-process.

Runs against the PostgreSQL on 127.0.0.1:5432 and the embedded default store (``$SCAIVAULT_HOME``,
default ``~/.scaivault``). Safe to run again: existing objects are updated rather than duplicated.
"""

from __future__ import annotations

import os
import time

import psycopg

from scaivault_core import Conflict, Vault

PG = os.environ.get("WALKTHROUGH_PG", "127.0.0.1:5432")
ROOT_PATH = "infra/postgres/support/root"


def step(title: str) -> None:
    print(f"\n== {title}")


def prepare_database() -> None:
    """A ``support`` database with one table, as the guide assumes exists."""
    with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'support'").fetchone():
            conn.execute("CREATE DATABASE support")
    with psycopg.connect(f"postgresql://postgres@{PG}/support", autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tickets (id int PRIMARY KEY, subject text)")
        conn.execute("INSERT INTO tickets VALUES (1, 'printer on fire') ON CONFLICT DO NOTHING")


def main() -> None:
    prepare_database()
    with Vault() as vault:
        print(f"vault: {vault.store.url}")

        step("1. Store the root credentials, readable only by the engine")
        # This server trusts loopback logins, so the password is not checked here.
        vault.put_secret(ROOT_PATH, {"username": "postgres", "password": "REDACTED"}, "json")
        rules = [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}]
        try:
            vault.create_policy("dynamic-engine-pg-root", rules)
        except Conflict:
            vault.update_policy("dynamic-engine-pg-root", rules)
        vault.bind_policy("dynamic-engine-pg-root", "dynamic:support-db")

        step("2. Configure the engine (the connection is tested now)")
        engine = dict(
            name="support-db",
            type="database",
            default_ttl="1h",
            max_ttl="24h",
            config={
                "plugin": "postgresql",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG}/support",
                "root_credentials_path": ROOT_PATH,
            },
        )
        try:
            print(vault.create_engine(**engine).to_dict())
        except Conflict:
            print(vault.update_engine(**engine).to_dict())

        step("3. Define a role")
        role = dict(
            creation_statements=[
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                'GRANT USAGE ON SCHEMA public TO "{{name}}"',
                'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
            ],
            revocation_statements=[
                'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
                'REASSIGN OWNED BY "{{name}}" TO postgres',
                'DROP OWNED BY "{{name}}"',
                'DROP ROLE IF EXISTS "{{name}}"',
            ],
            default_ttl="1h",
            max_ttl="8h",
        )
        try:
            vault.create_role("support-db", "readonly", **role)
        except Conflict:
            vault.update_role("support-db", "readonly", **role)

        step("4. Grant the reporting service access")
        rules = [{"path_pattern": "dynamic/engines/support-db/roles/readonly", "permissions": ["read"]}]
        try:
            vault.create_policy("reporting-service-dynamic", rules)
        except Conflict:
            vault.update_policy("reporting-service-dynamic", rules)
        vault.bind_policy("reporting-service-dynamic", "sa:reporting-service")
        service = vault.as_identity("sa:reporting-service")

        step("5. Generate credentials, as the service")
        lease = service.issue("support-db", "readonly", ttl="2h", metadata={"purpose": "nightly report"})
        shown = lease.to_dict()
        shown["data"] = {**shown["data"], "password": "<hidden>", "connection_url": "<hidden>"}
        print(shown)
        with psycopg.connect(lease.data["connection_url"]) as conn:
            print("the new user reads:", conn.execute("SELECT subject FROM tickets").fetchall())

        step("6. Renew by 1h (from the current expiry, up to the role's max_ttl)")
        print(service.renew(lease.lease_id, "1h").to_dict())

        step("7. Revoke early")
        service.revoke(lease.lease_id)
        try:
            psycopg.connect(lease.data["connection_url"]).close()
            print("still logs in?!")
        except psycopg.OperationalError:
            print(f"{lease.data['username']} can no longer log in")

        step("Let one expire: a 3-second lease, revoked by the expiry worker")
        short = service.issue("support-db", "readonly", ttl="3s")
        time.sleep(5)
        print(f"{short.lease_id}: {vault.lookup(short.lease_id).state}")

        step("Emergency revoke-all for the engine")
        for _ in range(3):
            service.issue("support-db", "readonly", ttl="30m")
        print(vault.revoke_prefix("lease_", engine="support-db"))


if __name__ == "__main__":
    main()
