"""Scale-out fixtures: several ``scaivault server`` processes on one PostgreSQL store, and a PostgreSQL target.

Everything lives in one private database on the machine's PostgreSQL (127.0.0.1:5432): the
store's schema and the target's table. Roles are cluster-wide, so each test names its own group
role and lease role, and drops whatever is left of them afterwards with the database.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import psycopg
import pytest

from scaivault_core.client import ScaiVaultClient
from scaivault_core.crypto import encode_key, new_key
from scaivault_core.testing.servers import LiveServer

PG = "127.0.0.1:5432"
PG_ADMIN = f"postgresql://postgres@{PG}/postgres"
SCHEMA = "scaivault"


class Target:
    """The private database, its group role, and queries on the shared store's tables."""

    def __init__(self) -> None:
        tag = secrets.token_hex(4)
        self.database = f"sv_scale_{tag}"
        self.group = f"sv_readers_{tag}"
        self.role = f"scale{tag}"  # lease role: usernames are v_<role>_<random>
        self.store_url = f"postgresql://postgres@{PG}/{self.database}?schema={SCHEMA}&pool_max=20"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
            conn.execute(f'CREATE ROLE "{self.group}" NOLOGIN')
        with self.connect() as conn:
            conn.execute("CREATE TABLE reports (id int PRIMARY KEY, title text)")
            conn.execute(f'GRANT SELECT ON reports TO "{self.group}"')

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(f"postgresql://postgres@{PG}/{self.database}", autocommit=True)

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.connect() as conn:
            conn.execute(f"SET search_path TO {SCHEMA}")
            return conn.execute(sql, params).fetchall()

    def lease_users_left(self) -> list[str]:
        """Roles this test's leases created that still exist in the cluster."""
        with self.connect() as conn:
            return [
                r[0]
                for r in conn.execute(
                    "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", (f"v_{self.role}_",)
                ).fetchall()
            ]

    def drop(self) -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            for (name,) in conn.execute(
                "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", (f"v_{self.role}_",)
            ).fetchall():
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')
            conn.execute(f'DROP ROLE IF EXISTS "{self.group}"')


class Cluster:
    """``scaivault server`` processes sharing the target's database as their store, and one key."""

    def __init__(self, directory: Path, target: Target, env: dict[str, str]) -> None:
        self.directory, self.target = directory, target
        self.env = {"SCAIVAULT_STORE": target.store_url, "SCAIVAULT_KEY": encode_key(new_key()), **env}
        self.servers: list[LiveServer] = []
        self.admin_token: str | None = None

    def start(self, count: int) -> list[LiveServer]:
        for _ in range(count):
            server = LiveServer(self.directory / f"server{len(self.servers)}", env=self.env)
            if self.admin_token is None:
                self.admin_token = server.init()  # once for the shared store: migrations and the first token
            server.admin_token = self.admin_token
            self.servers.append(server.start())
        return self.servers

    def admin(self, index: int = 0) -> ScaiVaultClient:
        return ScaiVaultClient(self.servers[index].url, self.admin_token)

    def http(self, index: int) -> httpx.Client:
        return httpx.Client(
            base_url=self.servers[index].url, timeout=60, headers={"Authorization": f"Bearer {self.admin_token}"}
        )

    def configure_engine(self, *, default_ttl: str = "1h") -> None:
        """Engine "pg" on the target, role ``target.role`` granting the pre-made group role (flat cost per user)."""
        admin = self.admin()
        try:
            admin.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
            admin.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
            admin.bind_policy("pg-root", "dynamic:pg")
            admin.create_engine(
                "pg",
                "database",
                {
                    "plugin": "postgresql",
                    "root_credentials_path": "infra/pg/root",
                    "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG}/{self.target.database}",
                },
                default_ttl=default_ttl,
                max_ttl="24h",
            )
            admin.create_role(
                "pg",
                self.target.role,
                creation_statements=[
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                    f'GRANT "{self.target.group}" TO "{{{{name}}}}"',
                ],
                revocation_statements=['DROP ROLE IF EXISTS "{{name}}"'],
            )
        finally:
            admin.close()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture
def target():
    target = Target()
    yield target
    target.drop()


@pytest.fixture
def cluster(tmp_path, target):
    """Call ``cluster(env)`` once for a Cluster; its servers are stopped afterwards."""
    made: list[Cluster] = []

    def make(**env: str) -> Cluster:
        made.append(Cluster(tmp_path, target, env))
        return made[-1]

    yield make
    for c in made:
        c.stop()
