"""The engine contract (scaivault_core.testing) against the machine's MariaDB, through a stoppable proxy."""

from __future__ import annotations

import secrets

import pymysql
import pytest

from scaivault_core.testing import EngineContract
from scaivault_mysql import MySQLEngine


class TestMySQLContract(EngineContract):
    engine_class = MySQLEngine
    role_name = f"c{secrets.token_hex(3)}"  # this process's own: teardown drops v_<role>_* users

    @pytest.fixture
    def target(self, server, database):
        yield server, database
        server.drop_users(f"v_{self.role_name}_")

    def target_address(self, target):
        server, _ = target
        return server.host, server.port

    def engine_config(self, target, address):
        _, database = target
        host, port = address
        return {
            "connection_url": f"mysql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/{database}",
            "connect_timeout": 2,
        }

    def root_credentials(self, target):
        server, _ = target
        return {"username": server.user, "password": server.password}

    def role(self, target):
        _, database = target
        return {
            "creation_statements": [
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
                f"GRANT SELECT ON `{database}`.* TO '{{{{name}}}}'@'%'",
            ]
        }

    def credential_works(self, target, issued):
        server, database = target
        try:
            conn = server.connect_as(issued.data["username"], issued.data["password"], database)
        except pymysql.MySQLError:
            return False
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM items")
                return cur.fetchone() == (2,)
        finally:
            conn.close()

    def create_foreign_user(self, target, name):
        server, _ = target
        server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'made-by-someone-else'", (name,))

    def drop_foreign_user(self, target, name):
        server, _ = target
        server.execute("DROP USER IF EXISTS %s@'%%'", (name,))

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        host, port = address
        return {
            "root user the server does not know": (good, {"username": "sv_no_such_root", "password": "x-password"}),
            "connection_url without credentials": ({**good, "connection_url": f"mysql://{host}:{port}/x"}, None),
            "unknown database": (
                {**good, "connection_url": f"mysql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/sv_nope"},
                None,
            ),
            "connect_timeout of the wrong type": ({**good, "connect_timeout": "soon"}, None),
        }
