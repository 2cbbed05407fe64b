"""Attacks against a live ``scaivault server``: a subprocess on its own store, a private scram-sha-256
PostgreSQL whose root is a superuser, and callers that hold only the grants a test names.

``attacker = grant(server, "sa:mallory", [{"path_pattern": ..., "permissions": [...]}])`` gives an
``Api`` acting as that identity; ``server.admin`` acts as the admin. Every answer is an
``httpx.Response``, so tests assert exactly what a caller would see.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from scaivault_core.testing import ScramCluster, readonly_role
from scaivault_core.testing.servers import LiveServer

ROOT_PATH = "infra/pg/root"


class Api:
    """HTTP calls as one token's identity."""

    def __init__(self, server: LiveServer, token: str, identity: str) -> None:
        self.server, self.token, self.identity = server, token, identity
        self.http = httpx.Client(
            base_url=server.url, verify=server.verify, timeout=60, headers={"Authorization": f"Bearer {token}"}
        )

    def __repr__(self) -> str:
        return f"<Api {self.identity}>"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.put(path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def ok(self, method: str, path: str, json: Any = None) -> Any:
        """The JSON body of a call that must succeed (the test fails with the error body otherwise)."""
        response = self.http.request(method, path, json=json)
        assert response.status_code < 300, f"{method} {path} -> {response.status_code} {response.text}"
        return response.json() if response.content else None


def grant(server: LiveServer, identity: str, rules: list[dict[str, Any]]) -> Api:
    """A token for ``identity`` holding exactly ``rules`` (a fresh policy), minted by the admin."""
    name = f"p-{identity.replace(':', '-')}-{secrets.token_hex(3)}"
    if rules:
        server.admin.ok("POST", "/v1/policies", {"name": name, "rules": rules})
        server.admin.ok("POST", f"/v1/policies/{name}/bindings", {"identity": identity})
    token = server.admin.ok("POST", "/v1/auth/tokens", {"identity": identity})["token"]
    return Api(server, token, identity)


@pytest.fixture(scope="session")
def scram_cluster():
    """A private PostgreSQL (scram-sha-256; the admin ``postgres`` is the engines' superuser root)."""
    with ScramCluster() as cluster:
        yield cluster


@pytest.fixture
def target_db(scram_cluster):
    """A fresh database on the scram cluster (table ``reports``); dropped afterwards with every role tests made."""
    name = "sec_" + secrets.token_hex(4)
    with psycopg.connect(scram_cluster.admin_url(), autocommit=True) as conn:
        before = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles").fetchall()}
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(scram_cluster.admin_url(name), autocommit=True) as conn:
        conn.execute("CREATE TABLE reports (id int, body text)")
        conn.execute("INSERT INTO reports VALUES (1, 'hello')")
    yield name
    with psycopg.connect(scram_cluster.admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for (role,) in conn.execute("SELECT rolname FROM pg_roles").fetchall():
            if role not in before:
                conn.execute(f'DROP ROLE IF EXISTS "{role.replace(chr(34), chr(34) * 2)}"')


@pytest.fixture
def server(tmp_path, front_end):
    """``server(**env)``: a started ``scaivault server`` with ``server.admin`` (an ``Api``); stopped afterwards.

    ``env`` adds operator settings (``SCAIVAULT_COMMAND_DIRS=...``); by default the operator allows nothing.
    """
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        live = LiveServer(Path(tmp_path) / f"server{len(started)}", env=env, front_end=front_end)
        started.append(live)
        live.start()
        live.admin = Api(live, live.admin_token, "user:admin")
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def pg_engine(scram_cluster, target_db):
    """``pg_engine(server, name="pg")``: the guide's steps 1-3 as the admin: the root secret (the cluster's
    superuser), its policy bound to ``dynamic:<name>``, the engine, and role ``readonly``."""

    def configure(live: LiveServer, name: str = "pg") -> str:
        admin = live.admin
        admin.ok(
            "PUT", f"/v1/secrets/{ROOT_PATH}", {"data": {"username": "postgres", "password": scram_cluster.password}}
        )
        admin.ok(
            "POST",
            "/v1/policies",
            {"name": f"{name}-root", "rules": [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}]},
        )
        admin.ok("POST", f"/v1/policies/{name}-root/bindings", {"identity": f"dynamic:{name}"})
        admin.ok(
            "POST",
            "/v1/dynamic/engines",
            {
                "name": name,
                "type": "database",
                "config": {
                    "plugin": "postgresql",
                    "root_credentials_path": ROOT_PATH,
                    "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:"
                    f"{scram_cluster.port}/{target_db}",
                },
                "default_ttl": "1h",
                "max_ttl": "24h",
            },
        )
        admin.ok(
            "POST",
            f"/v1/dynamic/engines/{name}/roles",
            {
                "name": "readonly",
                **readonly_role(),
                "default_ttl": "1h",
                "max_ttl": "8h",
            },
        )
        return name

    return configure
