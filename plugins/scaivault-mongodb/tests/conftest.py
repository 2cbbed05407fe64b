"""Fixtures: a MongoDB wire-protocol peer on loopback (mockupdb) and vaults configured against it.

No MongoDB server can be installed on the CI machines, so these tests talk to mockupdb: a real
server socket speaking OP_MSG, which hands each command the engine sends to the test, where it is
asserted exactly and answered as MongoDB documents it (``{ok: 1}``, or ``{ok: 0, code, errmsg}``).
mockupdb cannot do SCRAM, so the engine connects to it without credentials (empty root
username and password). ``test_real_server.py`` runs the same cycle against a real server when
``SCAIVAULT_TEST_MONGODB_URL`` is set.
"""

from __future__ import annotations

import contextlib
import threading
import time
import types
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import pytest
from mockupdb import MockupDB, OpMsg

import scaivault_mongodb
from scaivault_core import LeaseOptions, ManualClock, Vault, make_plugin_manager
from scaivault_core.testing import free_port

ROOT_PATH = "infra/mongodb/app/root"
ENGINE = "app-db"
NO_AUTH = {"username": "", "password": ""}
#: Fields pymongo adds to every command; the tests compare what remains exactly.
DRIVER_FIELDS = {"$db", "lsid", "$clusterTime", "$readPreference", "txnNumber", "$client"}


def url_template(port: int, path: str = "/admin") -> str:
    """The engine's connection_url for a server on 127.0.0.1:port."""
    return f"mongodb://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}{path}"


def background(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    """Run ``fn`` on a thread (it blocks until the peer answers); the Future keeps its exception intact."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return future


def plain(value: Any) -> Any:
    """BSON documents (OrderedDict/SON) as plain dicts and lists, for exact comparison."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Peer:
    """The mockupdb server plus the few exchanges every test needs."""

    def __init__(self, port: int | None = None) -> None:
        self.server = MockupDB(port=port, auto_ismaster=True, min_wire_version=0, max_wire_version=21)
        self.port = self.server.run()

    def stop(self) -> None:
        self.server.stop()

    def url(self, path: str = "/admin") -> str:
        return url_template(self.port, path)

    @staticmethod
    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
        """Start a vault call that will wait for this peer's answers."""
        return background(fn, *args, **kwargs)

    def expect(self, name: str, db: str = "admin", timeout: float = 10):
        """The next command: asserts its name and database, returns it for its body to be checked and answered."""
        request = self.server.receives(timeout=timeout)
        assert isinstance(request, OpMsg) and request.command_name == name, f"expected {name}, got {request!r}"
        assert request["$db"] == db, f"{name} ran on {request['$db']!r}, expected {db!r}"
        return request

    @staticmethod
    def body(request) -> dict[str, Any]:
        """The command as the engine wrote it, without the fields pymongo adds."""
        return plain({k: v for k, v in request.doc.items() if k not in DRIVER_FIELDS})

    def answer_ping(self) -> None:
        request = self.expect("ping")
        assert self.body(request) == {"ping": 1}
        request.ok()

    def answer_roles_info(
        self, roles: list[dict[str, str]], found: list[dict[str, str]] | None = None, db: str = "admin"
    ) -> None:
        """rolesInfo for ``roles``, answered as MongoDB does: the roles it found (by default all of them)."""
        request = self.expect("rolesInfo", db)
        assert self.body(request) == {"rolesInfo": roles}
        found = roles if found is None else found
        request.ok(
            roles=[
                {"role": r["role"], "db": r["db"], "isBuiltin": True, "roles": [], "inheritedRoles": []} for r in found
            ]
        )


class MongoDouble:
    """A stateful peer for the shared contract suite: user documents kept and answered as mongod answers.

    Commands are answered with the documented reply shapes and error codes (DuplicateKey 51003
    on an existing user, UserNotFound 11 on a missing one, CommandNotFound 59 otherwise), so the
    suite's synchronous calls need no scripted exchange. A credential "works" when a user with
    that name and password exists: mockupdb cannot run SCRAM, so this is the closest check.
    """

    ANY_DATABASE_ROLES = ("read", "readWrite", "dbAdmin", "dbOwner", "userAdmin")
    ADMIN_ONLY_ROLES = (
        "readAnyDatabase",
        "readWriteAnyDatabase",
        "dbAdminAnyDatabase",
        "userAdminAnyDatabase",
        "clusterAdmin",
        "clusterManager",
        "clusterMonitor",
        "hostManager",
        "backup",
        "restore",
        "root",
    )

    def __init__(self) -> None:
        self.users: dict[tuple[str, str], dict[str, Any]] = {}  # (db, user) -> {"pwd", "roles"}
        self._lock = threading.Lock()
        self.server = MockupDB(auto_ismaster=True, min_wire_version=0, max_wire_version=21)
        self.server.autoresponds(self._handle)
        self.port = self.server.run()

    def stop(self) -> None:
        self.server.stop()

    def accepts(self, username: str, password: str, db: str = "admin") -> bool:
        with self._lock:
            user = self.users.get((db, username))
        return user is not None and user["pwd"] == password

    def _role_exists(self, role: dict[str, Any]) -> bool:
        return role.get("role") in self.ANY_DATABASE_ROLES or (
            role.get("db") == "admin" and role.get("role") in self.ADMIN_ONLY_ROLES
        )

    def _handle(self, request) -> bool | None:
        if not isinstance(request, OpMsg) or request.command_name.lower() in ("ismaster", "hello"):
            return None  # the handshake: mockupdb's own responder answers it
        name, db, doc = request.command_name, request["$db"], request.doc
        with self._lock:
            if name == "ping":
                return request.ok()
            if name == "createUser":
                key = (db, doc["createUser"])
                if key in self.users:
                    return request.command_err(
                        code=51003, errmsg=f'User "{key[1]}@{db}" already exists', codeName="DuplicateKey"
                    )
                missing = [r for r in doc["roles"] if not self._role_exists(r)]
                if missing:
                    return request.command_err(
                        code=31,
                        errmsg=f"Could not find role: {missing[0]['role']}@{missing[0]['db']}",
                        codeName="RoleNotFound",
                    )
                self.users[key] = {
                    "pwd": doc["pwd"],
                    "roles": plain(doc["roles"]),
                    **({"customData": plain(doc["customData"])} if "customData" in doc else {}),
                }
                return request.ok()
            if name == "dropUser":
                if self.users.pop((db, doc["dropUser"]), None) is None:
                    return request.command_err(
                        code=11, errmsg=f"User {doc['dropUser']}@{db} not found", codeName="UserNotFound"
                    )
                return request.ok()
            if name == "updateUser":
                user = self.users.get((db, doc["updateUser"]))
                if user is None:
                    return request.command_err(
                        code=11, errmsg=f"User {doc['updateUser']}@{db} not found", codeName="UserNotFound"
                    )
                user["pwd"] = doc["pwd"]
                return request.ok()
            if name == "rolesInfo":
                found = [
                    {"role": r["role"], "db": r["db"], "isBuiltin": True, "roles": [], "inheritedRoles": []}
                    for r in plain(doc["rolesInfo"])
                    if self._role_exists(r)
                ]
                return request.ok(roles=found)
            if name == "usersInfo":
                return request.ok(
                    users=[
                        {
                            "_id": f"{d}.{u}",
                            "user": u,
                            "db": d,
                            "roles": v["roles"],
                            **({"customData": v["customData"]} if "customData" in v else {}),
                        }
                        for (d, u), v in sorted(self.users.items())
                        if d == db
                    ]
                )
        return request.command_err(code=59, errmsg=f"no such command: '{name}'", codeName="CommandNotFound")


@pytest.fixture
def mongo_double():
    double = MongoDouble()
    yield double
    double.stop()


@pytest.fixture
def make_peer():
    """Peers on a new port, or on a given one (to bring a "server" back where it was)."""
    started: list[Peer] = []

    def make(port: int | None = None) -> Peer:
        started.append(Peer(port))
        return started[-1]

    yield make
    for item in started:
        item.stop()


@pytest.fixture
def peer(make_peer):
    return make_peer()


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on: connecting is refused at once."""
    return free_port()


@pytest.fixture
def clock():
    return ManualClock(start=time.time())


@pytest.fixture
def make_vault(tmp_path, clock):
    """Vaults on temporary SQLite files that load only the core and this plugin."""
    opened: list[Vault] = []

    def make(**kwargs: Any) -> Vault:
        kwargs.setdefault("plugin_manager", make_plugin_manager(load_entrypoints=False, plugins=[scaivault_mongodb]))
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("start_worker", False)
        kwargs.setdefault("lease_options", LeaseOptions(backoff_base=1.0, max_attempts=4))
        vault = Vault(tmp_path / f"vault{len(opened)}.db", **kwargs)
        opened.append(vault)
        return vault

    yield make
    for vault in opened:
        with contextlib.suppress(Exception):
            vault.close()


def store_root(vault: Vault, root: dict[str, str], engine: str = ENGINE) -> None:
    """The guide's step 1: the root secret, readable by the engine's own identity."""
    vault.put_secret(ROOT_PATH, root, "json")
    vault.create_policy(f"{engine}-root", [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}])
    vault.bind_policy(f"{engine}-root", f"dynamic:{engine}")


def engine_config(url: str, **config: Any) -> dict[str, Any]:
    return {"plugin": "mongodb", "connection_url": url, "root_credentials_path": ROOT_PATH, **config}


def configure(
    vault: Vault,
    peer: Peer,
    *,
    root: dict[str, str] = NO_AUTH,
    engine: str = ENGINE,
    roles: list[dict[str, str]] | None = None,
    **config: Any,
) -> None:
    """Root secret, engine (answering its ping) and, unless ``roles`` is empty, a role ``readonly``."""
    store_root(vault, root, engine)
    pending = background(
        vault.create_engine, engine, "database", engine_config(peer.url(), **config), default_ttl="1h", max_ttl="24h"
    )
    peer.answer_ping()
    pending.result(timeout=10)
    roles = [{"role": "read", "db": "app"}] if roles is None else roles
    if roles:
        pending = background(vault.create_role, engine, "readonly", db_roles=roles, default_ttl="1h", max_ttl="8h")
        peer.answer_roles_info(roles)
        pending.result(timeout=10)


@pytest.fixture
def kit():
    """The helpers above, for test modules (which may not import conftest)."""
    return types.SimpleNamespace(
        ROOT_PATH=ROOT_PATH,
        ENGINE=ENGINE,
        NO_AUTH=NO_AUTH,
        url_template=url_template,
        store_root=store_root,
        engine_config=engine_config,
        configure=configure,
        plain=plain,
    )


@pytest.fixture
def vault(make_vault, peer):
    """A vault with engine ``app-db`` on the peer and role ``readonly`` granting read on ``app``."""
    vault = make_vault()
    configure(vault, peer)
    return vault
