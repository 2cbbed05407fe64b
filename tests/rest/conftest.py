"""REST tests: in-process apps over the core's memory-engine vault, and live servers on real PostgreSQL."""

from __future__ import annotations

import contextlib
import warnings

import httpx
import pytest

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what we ship with
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from scaivault_core.rest import create_app
from scaivault_core.testing import readonly_role
from scaivault_core.testing.servers import LiveServer, ThreadedServer


@pytest.fixture
def serve_app(front_end):
    """``with serve_app(app) as client``: a client of ``app`` (``create_app(vault)``) on this test's front end:
    starlette's TestClient for ``asgi``, else httpx to a ``ThreadedServer`` of that front end in this process."""

    @contextlib.contextmanager
    def serve(app):
        if front_end == "asgi":
            with TestClient(app, raise_server_exceptions=False) as client:
                yield client
            return
        with ThreadedServer(app, front_end) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            client.app = app
            yield client

    return serve


@pytest.fixture
def app_client(vault, serve_app):
    """A client of the app over the core's memory-engine vault (engine "mem", role "readonly"), with an admin token."""
    token = vault.create_admin_token()
    with serve_app(create_app(vault)) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        client.vault = vault
        yield client


@pytest.fixture
def live_server(tmp_path, front_end):
    """A `scaivault server` subprocess on a fresh store (plain HTTP); stopped afterwards."""
    servers = []

    def start(**kwargs) -> LiveServer:
        kwargs.setdefault("front_end", front_end)
        server = LiveServer(tmp_path / f"server{len(servers)}", **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def pg_engine(pg_database):
    """Configures engine "pg" (root: the postgres superuser) with role "readonly" through any VaultAPI-like object."""

    def configure(api, *, role_max_ttl: str = "8h") -> None:
        api.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
        api.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read", "rotate"]}])
        api.bind_policy("pg-root", "dynamic:pg")
        api.create_engine(
            "pg",
            "database",
            {
                "plugin": "postgresql",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
                "root_credentials_path": "infra/pg/root",
            },
            default_ttl="1h",
            max_ttl="24h",
        )
        api.create_role(
            "pg",
            "readonly",
            **readonly_role(),
            default_ttl="1h",
            max_ttl=role_max_ttl,
        )

    return configure
