"""Fixtures: the machine's MariaDB (or MySQL), reached as an administrator.

``SCAIVAULT_TEST_MYSQL_URL`` names the server and an account that may create databases and users
(default ``mysql://root:@127.0.0.1:3306``, MariaDB's root with an empty password). Each test gets
its own database with a small table, a role name of its own (so its users are ``v_<role>_...``),
and a vault on a temporary file with a manual clock. Teardown drops the database, every user whose
name starts with the test's prefix, and any admin account the test made.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pytest

import scaivault_mysql
from scaivault_core import ManualClock, Vault, make_plugin_manager
from scaivault_core.testing import free_port

ADMIN_URL = os.environ.get("SCAIVAULT_TEST_MYSQL_URL", "mysql://root:@127.0.0.1:3306")
ENGINE_URL = "mysql://{{username}}:{{password}}@%s:%d/%s"


class Server:
    """The server under test, as its administrator sees it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 3306
        self.user, self.password = unquote(parts.username or "root"), unquote(parts.password or "")

    def admin(self) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, autocommit=True, connect_timeout=5
        )

    def execute(self, statement: str, args: Any = None) -> list[tuple]:
        conn = self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(statement, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def connect_as(self, user: str, password: str, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password,
            database=database,
            autocommit=True,
            connect_timeout=5,
            read_timeout=10,
        )

    def users_like(self, prefix: str) -> list[str]:
        pattern = prefix.replace("_", "\\_") + "%"
        return [r[0] for r in self.execute("SELECT User FROM mysql.user WHERE User LIKE %s", (pattern,))]

    def drop_users(self, prefix: str) -> None:
        for user, host in self.execute(
            "SELECT User, Host FROM mysql.user WHERE User LIKE %s", (prefix.replace("_", "\\_") + "%",)
        ):
            self.execute("DROP USER IF EXISTS %s@%s", (user, host))

    def login_error(self, user: str, password: str, database: str | None = None) -> int | None:
        """The MySQL error number a login gets, or None if it succeeds."""
        try:
            self.connect_as(user, password, database).close()
        except pymysql.MySQLError as exc:
            return exc.args[0]
        return None

    def sessions_of(self, user: str) -> list[int]:
        return [r[0] for r in self.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = %s", (user,))]


def configure_engine(vault: Vault, name: str, connection_url: str, root: dict[str, str], **config: Any) -> Any:
    """Store the root secret, let ``dynamic:<name>`` read and rotate it, and create the engine."""
    path = f"infra/mysql/{name}/root"
    vault.put_secret(path, root)
    vault.create_policy(f"{name}-root", [{"path_pattern": path, "permissions": ["read", "rotate"]}])
    vault.bind_policy(f"{name}-root", f"dynamic:{name}")
    return vault.create_engine(
        name,
        "database",
        {"plugin": "mysql", "connection_url": connection_url, "root_credentials_path": path, **config},
        default_ttl="1h",
        max_ttl="4h",
    )


@pytest.fixture(scope="session")
def server() -> Server:
    server = Server(ADMIN_URL)
    try:
        server.execute("SELECT 1")
    except pymysql.MySQLError as exc:
        pytest.fail(f"No MySQL/MariaDB at {server.host}:{server.port} ({exc}); set SCAIVAULT_TEST_MYSQL_URL.")
    return server


@pytest.fixture
def database(server: Server) -> Iterator[str]:
    """A private database with a table ``items`` of two rows."""
    name = f"sv_test_{secrets.token_hex(4)}"
    server.execute(f"CREATE DATABASE `{name}`")
    server.execute(f"CREATE TABLE `{name}`.items (id INT PRIMARY KEY, label VARCHAR(40))")
    server.execute(f"INSERT INTO `{name}`.items VALUES (1, 'one'), (2, 'two')")
    yield name
    server.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def role_name(server: Server) -> Iterator[str]:
    """A role name of this test's own; every user it leaves behind is dropped afterwards."""
    name = f"t{secrets.token_hex(3)}"
    yield name
    server.drop_users(f"v_{name}_")


@pytest.fixture
def closed_port() -> int:
    """A loopback port with no server behind it."""
    return free_port()


@pytest.fixture
def configure():
    """``configure(vault, name, connection_url, root, **config)``: root secret, its policy, the engine."""
    return configure_engine


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def vault(tmp_path, clock: ManualClock) -> Iterator[Vault]:
    pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_mysql])
    vault = Vault(tmp_path / "vault.db", plugin_manager=pm, clock=clock, start_worker=False)
    yield vault
    vault.close()


@pytest.fixture
def engine_url(server: Server, database: str) -> str:
    return ENGINE_URL % (server.host, server.port, database)


@pytest.fixture
def engine(vault: Vault, server: Server, engine_url: str) -> str:
    """An engine named ``db`` using the administrator account as its root credentials."""
    configure_engine(vault, "db", engine_url, {"username": server.user, "password": server.password})
    return "db"


@pytest.fixture
def readonly(vault: Vault, engine: str, database: str, role_name: str) -> str:
    """The guide's role: CREATE USER and GRANT SELECT on the test database, default revocation."""
    vault.create_role(
        engine,
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            f"GRANT SELECT ON `{database}`.* TO '{{{{name}}}}'@'%'",
        ],
    )
    return role_name


@pytest.fixture
def admin_account(server: Server) -> Iterator[dict[str, str]]:
    """A dedicated administrator with a password, for tests about root credentials."""
    user, password = f"sv_admin_{secrets.token_hex(3)}", f"Adm-{secrets.token_urlsafe(12)}"
    server.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
    server.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{user}'@'%' WITH GRANT OPTION")
    yield {"username": user, "password": password}
    server.drop_users(user)
