"""Fixtures: the machine's Redis, and a private redis-server for what must not touch the shared one.

``SCAIVAULT_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) names a server the tests may
create ACL users on. Each test gets a key namespace of its own (``sv_test_<hex>:``, with a few
keys in it), a role name of its own (its users are ``v_<role>_...``), an ACL admin user to act
as the engine's root, and a vault on a temporary file with a manual clock. Teardown deletes the
namespace's keys and every user the test made.

``private_server`` is a ``redis-server`` started on a free loopback port with an ACL file in which
the default user has a password: the "default password only" root credentials, ``acl_save``, and
counting commands (``INFO commandstats``) without other tests' traffic mixing in.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import redis

import scaivault_redis
from scaivault_core import ManualClock, Vault, make_plugin_manager
from scaivault_core.testing import free_port

SHARED_URL = os.environ.get("SCAIVAULT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ENGINE_URL = "redis://{{username}}:{{password}}@%s:%d/%d"


class RedisServer:
    """A server under test, as its administrator sees it."""

    def __init__(
        self, host: str, port: int, db: int = 0, username: str | None = None, password: str | None = None
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.admin = redis.Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            decode_responses=True,
            socket_connect_timeout=5,
            socket_timeout=10,
        )

    @classmethod
    def from_url(cls, url: str) -> RedisServer:
        parts = urlsplit(url)
        return cls(
            parts.hostname or "127.0.0.1",
            parts.port or 6379,
            int(parts.path.strip("/") or 0),
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
        )

    def engine_url(self) -> str:
        return ENGINE_URL % (self.host, self.port, self.db)

    def users_like(self, prefix: str) -> list[str]:
        return [u for u in self.admin.execute_command("ACL", "USERS") if u.startswith(prefix)]

    def drop_users(self, prefix: str) -> None:
        users = self.users_like(prefix)
        if users:
            self.admin.execute_command("ACL", "DELUSER", *users)

    def connect_as(self, username: str, password: str) -> redis.Connection:
        """One raw connection (no pool, no reconnect), so a server-side close is seen as it is."""
        conn = redis.Connection(
            host=self.host,
            port=self.port,
            db=self.db,
            username=username,
            password=password,
            decode_responses=True,
            socket_connect_timeout=5,
            socket_timeout=5,
            retry=None,
        )
        conn.connect()
        return conn

    @staticmethod
    def ask(conn: redis.Connection, *args: Any) -> Any:
        """Send one command on a raw connection and read its answer (errors are raised)."""
        conn.send_command(*args)
        return conn.read_response()

    def login_error(self, username: str, password: str) -> type[BaseException] | None:
        """The exception class a fresh login gets, or None if it succeeds."""
        try:
            self.connect_as(username, password).disconnect()
        except redis.RedisError as exc:
            return type(exc)
        return None

    def deluser_calls(self) -> int:
        return int(self.admin.info("commandstats").get("cmdstat_acl|deluser", {}).get("calls", 0))


def configure_engine(vault: Vault, name: str, config: dict[str, Any], root: dict[str, str]) -> Any:
    """Store the root secret, let ``dynamic:<name>`` read and rotate it, and create the engine."""
    path = f"infra/redis/{name}/root"
    vault.put_secret(path, root)
    vault.create_policy(f"{name}-root", [{"path_pattern": path, "permissions": ["read", "rotate"]}])
    vault.bind_policy(f"{name}-root", f"dynamic:{name}")
    return vault.create_engine(
        name, "database", {"plugin": "redis", "root_credentials_path": path, **config}, default_ttl="1h", max_ttl="4h"
    )


@pytest.fixture(scope="session")
def server() -> RedisServer:
    server = RedisServer.from_url(SHARED_URL)
    try:
        server.admin.ping()
    except redis.RedisError as exc:
        pytest.fail(f"No Redis at {server.host}:{server.port} ({exc}); set SCAIVAULT_TEST_REDIS_URL.")
    return server


@pytest.fixture
def namespace(server: RedisServer) -> Iterator[str]:
    """A key prefix of this test's own, holding ``cache:a``, ``cache:b`` and ``other``."""
    ns = f"sv_test_{secrets.token_hex(4)}:"
    server.admin.mset({f"{ns}cache:a": "A", f"{ns}cache:b": "B", f"{ns}other": "X"})
    yield ns
    keys = list(server.admin.scan_iter(match=f"{ns}*"))
    if keys:
        server.admin.delete(*keys)


@pytest.fixture
def role_name(server: RedisServer) -> Iterator[str]:
    """A role name of this test's own; every user it leaves behind is deleted afterwards."""
    name = f"t{secrets.token_hex(3)}"
    yield name
    server.drop_users(f"v_{name}_")


@pytest.fixture
def admin_user(server: RedisServer) -> Iterator[dict[str, str]]:
    """An ACL user allowed everything, used as the engine's root credentials."""
    username, password = f"sv_admin_{secrets.token_hex(3)}", f"Adm-{secrets.token_urlsafe(12)}"
    server.admin.execute_command("ACL", "SETUSER", username, "reset", "on", f">{password}", "~*", "&*", "+@all")
    yield {"username": username, "password": password}
    server.admin.execute_command("ACL", "DELUSER", username)


@pytest.fixture
def configure():
    """``configure(vault, name, config, root)``: root secret, its policy, the engine."""
    return configure_engine


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vault(tmp_path, clock: ManualClock) -> Iterator[Vault]:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_redis])
    vault = Vault(tmp_path / "vault.db", plugin_manager=pm, clock=clock, start_worker=False)
    yield vault
    vault.close()


@pytest.fixture
def engine(vault: Vault, server: RedisServer, admin_user: dict[str, str]) -> str:
    """An engine named ``cache`` with the ACL admin user as root."""
    configure_engine(vault, "cache", {"connection_url": server.engine_url()}, admin_user)
    return "cache"


@pytest.fixture
def reader(vault: Vault, engine: str, namespace: str, role_name: str) -> str:
    """GET (and PING) on the namespace's ``cache:*`` keys, nothing else."""
    vault.create_role(engine, role_name, keys=[f"{namespace}cache:*"], commands=["+get", "+ping"])
    return role_name


class PrivateServer(RedisServer):
    """A redis-server process of the test session's own, with an ACL file."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server).")
        self.directory, self.acl_file = directory, directory / "users.acl"
        password = f"Dflt-{secrets.token_urlsafe(12)}"
        self.acl_file.write_text(f"user default on >{password} ~* &* +@all\n")
        port = free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--aclfile",
                str(self.acl_file),
                "--dir",
                str(directory),
                "--logfile",
                str(directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        super().__init__("127.0.0.1", port, 0, None, password)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.admin.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"redis-server did not start: {(directory / 'redis.log').read_text()[-500:]}")
                time.sleep(0.05)

    def stop(self) -> None:
        self.admin.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def private_server(tmp_path_factory) -> Iterator[PrivateServer]:
    server = PrivateServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
