"""PostgreSQL targets for the plugin's tests.

- ``scram``: a private cluster with scram-sha-256 auth on its own port, so passwords really matter
  (the machine's own server trusts every loopback login and cannot show that one works or stops).
- ``trust_db``: a private database on the machine's server (127.0.0.1:5432), for behaviour only.
Both are removed afterwards, with every role the tests created.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

import attrs
import psycopg
import pytest

from scaivault_core import ManualClock, Vault
from scaivault_core.testing import ScramCluster, VaultFactory

GUIDE_CREATION = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
    'GRANT USAGE ON SCHEMA public TO "{{name}}"',
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
]
GUIDE_REVOCATION = [
    'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
    'REASSIGN OWNED BY "{{name}}" TO postgres',
    'DROP OWNED BY "{{name}}"',
    'DROP ROLE IF EXISTS "{{name}}"',
]
ROOT_PATH = "infra/postgres/support/root"


@attrs.define
class Target:
    host: str
    port: int
    database: str
    admin_password: str

    def admin_url(self, database: str | None = None) -> str:
        password = quote(self.admin_password, safe="")
        return f"postgresql://postgres:{password}@{self.host}:{self.port}/{database or self.database}"

    def connection_url(self) -> str:
        """The engine's connection_url template, as the guide writes it."""
        return f"postgresql://{{{{username}}}}:{{{{password}}}}@{self.host}:{self.port}/{self.database}"

    def roles(self, prefix: str = "v_") -> set[str]:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)).fetchall()
        return {r[0] for r in rows}

    def drop_test_roles(self) -> None:
        """Drop v_ roles holding privileges in this database; roles are cluster-wide, and other
        test runs may share the machine's server, so roles tied to other databases are left alone."""
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT DISTINCT r.rolname FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid "
                "WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND r.rolname LIKE 'v\\_%'"
            ).fetchall()
            for (role,) in rows:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def _make_database(target: Target) -> None:
    with psycopg.connect(target.admin_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target.database}"')
    with psycopg.connect(target.admin_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE reports (id int, body text)")
        conn.execute("INSERT INTO reports VALUES (1, 'hello')")


def _drop_database(target: Target) -> None:
    target.drop_test_roles()
    with psycopg.connect(target.admin_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def scram():
    """A private PostgreSQL cluster that checks passwords (scram-sha-256), on its own port."""
    with ScramCluster() as cluster:
        target = Target(cluster.host, cluster.port, "support", cluster.password)
        _make_database(target)
        yield target


@pytest.fixture
def trust_db():
    """A private database on the machine's PostgreSQL (trust auth), dropped afterwards with its roles."""
    target = Target("127.0.0.1", 5432, f"sv_test_{uuid.uuid4().hex[:8]}", "")
    _make_database(target)
    try:
        yield target
    finally:
        _drop_database(target)


def configure(vault: Vault, target: Target, *, engine: str = "support-db", role: bool = True, **engine_config) -> None:
    """The guide's steps 1-3 against ``target``."""
    vault.put_secret(ROOT_PATH, {"username": "postgres", "password": target.admin_password}, "json")
    vault.create_policy("dynamic-engine-pg-root", [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}])
    vault.bind_policy("dynamic-engine-pg-root", f"dynamic:{engine}")
    vault.create_engine(
        engine,
        "database",
        {
            "plugin": "postgresql",
            "connection_url": target.connection_url(),
            "root_credentials_path": ROOT_PATH,
            **engine_config,
        },
        default_ttl="1h",
        max_ttl="24h",
    )
    if role:
        vault.create_role(
            engine,
            "readonly",
            creation_statements=GUIDE_CREATION,
            revocation_statements=GUIDE_REVOCATION,
            default_ttl="1h",
            max_ttl="8h",
        )


@pytest.fixture
def clock():
    return ManualClock(start=__import__("time").time())


@pytest.fixture
def vault_factory(tmp_path):
    """``vault_factory(**kwargs)``: a Vault on tmp_path/vault.db (plugins from entry points), closed after."""
    factory = VaultFactory(tmp_path / "vault.db")
    yield factory
    factory.close_all()


@pytest.fixture(name="configure")
def configure_fixture():
    """``configure(vault, target)``: the guide's steps 1-3 (root secret, its policy, engine, role)."""
    return configure
