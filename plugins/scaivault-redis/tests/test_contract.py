"""The engine contract (scaivault_core.testing) against the machine's Redis, through a stoppable proxy."""

from __future__ import annotations

import secrets

import pytest
import redis

from scaivault_core.testing import EngineContract
from scaivault_redis import RedisEngine


class TestRedisContract(EngineContract):
    engine_class = RedisEngine
    role_name = f"c{secrets.token_hex(3)}"  # this process's own: teardown deletes v_<role>_* users

    @pytest.fixture
    def target(self, server, namespace, admin_user):
        yield server, namespace, admin_user
        server.drop_users(f"v_{self.role_name}_")

    def target_address(self, target):
        server, _, _ = target
        return server.host, server.port

    def engine_config(self, target, address):
        host, port = address
        return {"connection_url": f"redis://{{{{username}}}}:{{{{password}}}}@{host}:{port}/0", "connect_timeout": 2}

    def root_credentials(self, target):
        return target[2]

    def role(self, target):
        _, namespace, _ = target
        return {"keys": [f"{namespace}cache:*"], "commands": ["+get"]}

    def credential_works(self, target, issued):
        server, namespace, _ = target
        try:
            conn = server.connect_as(issued.data["username"], issued.data["password"])
        except redis.RedisError:
            return False
        try:
            return server.ask(conn, "GET", f"{namespace}cache:a") == "A"
        finally:
            conn.disconnect()

    def create_foreign_user(self, target, name):
        server, _, _ = target
        server.admin.execute_command("ACL", "SETUSER", name, "on", ">made-by-someone-else", "+ping")

    def drop_foreign_user(self, target, name):
        server, _, _ = target
        server.admin.execute_command("ACL", "DELUSER", name)

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        host, port = address
        _, _, admin = target
        return {
            "wrong root password": (good, {**admin, "password": "not-the-password"}),
            "root user the server does not know": (good, {"username": "sv_no_such_root", "password": "x-password"}),
            "literal credentials in the url": ({**good, "connection_url": f"redis://a:b@{host}:{port}/0"}, None),
            "host and url both": ({**good, "host": host}, None),
            "db that is not a number": ({**good, "connection_url": f"redis://{host}:{port}/zero"}, None),
        }
