"""Core tests: a vault on each store backend (a temporary SQLite file, a private PostgreSQL schema),
a manual clock, and a small in-memory engine."""

from __future__ import annotations

import secrets

import attrs
import pytest

from scaivault_core import Engine, EngineUnreachable, Issued, ManualClock, Vault, hookimpl, make_plugin_manager
from scaivault_core.leases import LeaseOptions


@attrs.define
class MemoryConfig:
    fail_revocations: int = 0


@attrs.define
class MemoryRole:
    creation_statements: list[str] = attrs.field(factory=lambda: ["create {{name}}"])


class MemoryTarget:
    """The "target system" of the memory engine: users by name, and a switch to make it unreachable."""

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.down = False
        self.created: list[str] = []
        self.root_passwords: list[str] = []
        self.retired: list[str] = []
        self.refuse_rotation = False

    def check(self) -> None:
        if self.down:
            raise EngineUnreachable("memory target is down")


class MemoryEngine(Engine):
    type = "database"
    plugin = "memory"
    Config = MemoryConfig
    Role = MemoryRole
    template_fields = ("creation_statements",)
    needs_root_credentials = False
    marks_subjects = True
    target = MemoryTarget()

    def verify(self) -> None:
        self.target.check()

    def create(self, request):
        self.target.check()
        statements = request.render(request.role.creation_statements, self.context.render)
        self.target.users[request.username] = {"password": request.password, "until": request.expires_at,
                                               "statements": statements, "engine": self.context.name}
        self.target.created.append(request.username)
        return Issued(data={"username": request.username, "password": request.password})

    def renew(self, handle, role, expires_at):
        self.target.check()
        self.target.users[handle["username"]]["until"] = expires_at
        return None

    def revoke(self, handle):
        self.target.check()
        self.target.users.pop(handle["username"], None)

    def list_subjects(self):  # the users this engine marked as its own
        return sorted(name for name, user in self.target.users.items() if user.get("engine") == self.context.name)

    def revoke_subject(self, subject):
        self.revoke({"username": subject})

    def new_root_credentials(self, current):
        return {**current, "password": f"rotated-{len(self.target.root_passwords)}-{id(self)}"}

    def apply_root_credentials(self, current, new):
        self.target.check()
        if self.target.refuse_rotation:
            from scaivault_core import EngineError

            raise EngineError("password does not meet the target's policy")
        self.target.root_passwords.append(new["password"])

    def retire_root_credentials(self, old):
        self.target.retired.append(old["password"])


class MemoryPlugin:
    @hookimpl
    def register_engines(self, register):
        register(MemoryEngine)


@pytest.fixture
def target():
    MemoryEngine.target = MemoryTarget()
    return MemoryEngine.target


@pytest.fixture
def clock():
    return ManualClock()


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GUIDE_NAMES_LOCK = 0x5CA1_0001  # pg_advisory_lock key of guide_names_lock


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: inspects the SQLite file itself, so runs on that backend only")


@pytest.fixture(scope="session")
def pg_store_database():
    """A private database on the machine's PostgreSQL for the suite's PostgreSQL-store runs; dropped after."""
    import psycopg

    name = "sv_core_" + secrets.token_hex(4)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_admin():
    """An autocommit connection to the machine's PostgreSQL as its superuser."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        yield conn


@pytest.fixture
def guide_names_lock():
    """Held while a test uses the guide's fixed names on the machine's PostgreSQL (database
    ``support``, user ``scaivault_admin``), so two such tests never run at once, even across runs."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (GUIDE_NAMES_LOCK,))
        try:
            yield
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (GUIDE_NAMES_LOCK,))


@pytest.fixture(scope="session")
def pg_database(pg_admin):
    """A private database (table ``reports`` with one row) for the front-end tests' engines; dropped after."""
    import psycopg

    name = "sv_front_" + secrets.token_hex(4)
    pg_admin.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE reports (id int PRIMARY KEY, title text)")
        conn.execute("INSERT INTO reports VALUES (1, 'nightly')")
    yield name
    pg_admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_role_exists(pg_admin):
    """``pg_role_exists(name)``: is there a role of that name on the machine's PostgreSQL?"""
    def exists(name: str) -> bool:
        return pg_admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None
    return exists


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Every core test runs on both backends: a SQLite file, or a private schema in the test database."""
    if request.param == "sqlite":
        yield str(tmp_path / "vault.db")
        return
    if request.node.get_closest_marker("sqlite_only"):
        pytest.skip("inspects the SQLite file; tests/store/ checks the PostgreSQL store's counterpart")
    import psycopg

    database = request.getfixturevalue("pg_store_database")
    schema = "t_" + secrets.token_hex(6)
    yield f"postgresql://postgres@127.0.0.1:5432/{database}?schema={schema}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}", autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def make_vault(tmp_path, clock, store_url):
    opened = []

    def make(*, plugins=(), **kwargs):
        kwargs.setdefault("plugin_manager",
                          make_plugin_manager(load_entrypoints=False, plugins=[MemoryPlugin(), *plugins]))
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("start_worker", False)
        kwargs.setdefault("lease_options", LeaseOptions(backoff_base=1.0, max_attempts=4))
        if "key" not in kwargs:  # a shared store takes its key from configuration, never from beside the data
            kwargs.setdefault("key_file", tmp_path / "vault.key")
        vault = Vault(store_url, **kwargs)
        opened.append(vault)
        return vault

    yield make
    for vault in opened:
        try:
            vault.close()
        except Exception:
            pass


@pytest.fixture
def vault(make_vault, target):
    vault = make_vault()
    vault.create_engine("mem", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="24h")
    vault.create_role("mem", "readonly", default_ttl="1h", max_ttl="8h")
    return vault

