"""Client tests: a live `scaivault server` subprocess on the real PostgreSQL (a private database)."""

from __future__ import annotations

import psycopg
import pytest

from scaivault_core.client import ScaiVaultClient
from scaivault_core.testing import readonly_role
from scaivault_core.testing.servers import FRONT_ENDS, LiveServer


@pytest.fixture(scope="module", params=FRONT_ENDS)
def front_end(request):
    """Every client test runs against each front end."""
    return request.param


@pytest.fixture(scope="module")
def server(tmp_path_factory, pg_database, front_end):
    """One server per module, with engine "pg" (root: the postgres superuser) and role "readonly" (max 8h).

    Its operator allows commands from ``live.commands`` (custom engines' scripts)."""
    directory = tmp_path_factory.mktemp("server")
    commands = directory / "commands"
    commands.mkdir()
    live = LiveServer(directory, env={"SCAIVAULT_COMMAND_DIRS": str(commands)}, front_end=front_end).start()
    live.commands = commands
    try:
        configure(live, pg_database)
        yield live
        with ScaiVaultClient(live.url, live.admin_token) as admin:
            admin.revoke_prefix("lease_", engine="pg")  # whatever a failed test left behind
    finally:
        live.stop()


def configure(live: LiveServer, pg_database: str) -> None:
    with ScaiVaultClient(live.url, live.admin_token) as admin:
        admin.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
        admin.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
        admin.bind_policy("pg-root", "dynamic:pg")
        admin.create_engine(
            "pg",
            "database",
            {
                "plugin": "postgresql",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
                "root_credentials_path": "infra/pg/root",
            },
        )
        admin.create_role(
            "pg",
            "readonly",
            **readonly_role(),
            max_ttl="8h",
        )
        admin.create_role(
            "pg",
            "brief",
            creation_statements=[
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
            ],
            max_ttl="5s",
        )
        admin.create_policy("svc", [{"path_pattern": "dynamic/engines/pg/roles/*", "permissions": ["read"]}])
        admin.bind_policy("svc", "sa:svc")
        live.service_token = admin.create_token("sa:svc", ttl="1h")["token"]


@pytest.fixture
def client(server):
    with ScaiVaultClient(server.url, server.service_token) as client:
        yield client


@pytest.fixture
def can_login(pg_database):
    """Whether a credential's connection_url logs in to PostgreSQL and can read the table right now."""

    def check(url: str) -> bool:
        try:
            with psycopg.connect(url, connect_timeout=5) as conn:
                conn.execute("SELECT count(*) FROM reports").fetchone()
            return True
        except psycopg.OperationalError:
            return False

    return check
