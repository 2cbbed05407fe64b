"""The engine contract (scaivault_core.testing) against the machine's PostgreSQL, through a stoppable proxy."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from scaivault_core.testing import EngineContract
from scaivault_postgresql import PostgreSQLEngine


class TestPostgreSQLContract(EngineContract):
    engine_class = PostgreSQLEngine

    @pytest.fixture
    def target(self, trust_db):
        """A private database on 127.0.0.1:5432 (trust auth), dropped afterwards with every v_ role."""
        return trust_db

    def target_address(self, target):
        return target.host, target.port

    def engine_config(self, target, address):
        host, port = address
        return {
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/{target.database}",
            "connect_timeout": 2,
        }

    def root_credentials(self, target):
        # Trust auth ignores the password, but it is still a secret that must never be shown.
        return {"username": "postgres", "password": "contract-root-password"}

    def role(self, target):
        return {
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                f'GRANT CONNECT ON DATABASE "{target.database}" TO "{{{{name}}}}"',
                'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
            ],
        }

    def credential_works(self, target, issued):
        try:
            with psycopg.connect(
                host=target.host,
                port=target.port,
                dbname=target.database,
                user=issued.data["username"],
                password=issued.data["password"],
                connect_timeout=3,
            ) as conn:
                return conn.execute("SELECT count(*) FROM reports").fetchone()[0] == 1
        except psycopg.OperationalError:
            return False

    def credential_expiry(self, target, issued):
        with psycopg.connect(target.admin_url(), autocommit=True) as conn:
            row = conn.execute(
                "SELECT extract(epoch FROM rolvaliduntil) FROM pg_roles WHERE rolname = %s", (issued.data["username"],)
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def create_foreign_user(self, target, name):
        with psycopg.connect(target.admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))

    def drop_foreign_user(self, target, name):
        with psycopg.connect(target.admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        return {
            "root user the server does not know": (good, {"username": "no_such_root_user", "password": "x-password"}),
            "connection_url without credentials": ({**good, "connection_url": "postgresql://127.0.0.1/x"}, None),
            "connect_timeout of the wrong type": ({**good, "connect_timeout": "soon"}, None),
        }
