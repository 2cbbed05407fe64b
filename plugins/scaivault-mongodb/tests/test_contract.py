"""The shared engine contract (scaivault_core.testing), run against a stateful MongoDB wire-protocol peer.

The peer sits behind the suite's TCP proxy, so "unreachable" is a refused or cut connection, as
when a real server goes away. Whether a credential works is read from the peer's user
documents (name and password), since mockupdb cannot authenticate a login.
"""

from __future__ import annotations

import pytest

from scaivault_core.testing import EngineContract
from scaivault_mongodb import MongoDBEngine


class TestContract(EngineContract):
    engine_class = MongoDBEngine

    @pytest.fixture
    def target(self, mongo_double):
        yield mongo_double

    def engine_config(self, target, address):
        host, port = address
        return {
            "connection_url": f"mongodb://{{{{username}}}}:{{{{password}}}}@{host}:{port}/admin",
            "connect_timeout": 2,
        }  # > pymongo's 0.5 s re-check of a lost server

    def root_credentials(self, target):
        return {"username": "", "password": ""}  # mockupdb cannot do SCRAM: the root connects unauthenticated

    def target_address(self, target):
        return "127.0.0.1", target.port

    def role(self, target):
        return {"db_roles": [{"role": "read", "db": "app"}]}

    def credential_works(self, target, issued):
        return target.accepts(issued.data["username"], issued.data["password"], issued.data["database"])

    def create_foreign_user(self, target, name):
        with target._lock:
            target.users[("admin", name)] = {"pwd": "made-by-someone-else", "roles": [{"role": "read", "db": "app"}]}

    def drop_foreign_user(self, target, name):
        with target._lock:
            target.users.pop(("admin", name), None)

    def bad_configs(self, target, address):
        host, port = address
        good = self.engine_config(target, address)
        return {
            "http scheme": (
                {**good, "connection_url": f"http://{{{{username}}}}:{{{{password}}}}@{host}:{port}/"},
                None,
            ),
            "literal credentials": ({**good, "connection_url": f"mongodb://root:pw@{host}:{port}/admin"}, None),
            "srv with a port": (
                {**good, "connection_url": "mongodb+srv://{{username}}:{{password}}@c.example.net:1/"},
                None,
            ),
            "bad option value": ({**good, "connection_url": good["connection_url"] + "?tls=ture"}, None),
            "bad auth database": ({**good, "auth_database": "a.b"}, None),
            "password without username": (good, {"username": "", "password": "orphan-password"}),
        }
