"""Core tests: a vault on each store backend (a temporary SQLite file, a private PostgreSQL schema),
a manual clock, and the testing kit's in-memory engine on a fresh target."""

from __future__ import annotations

import contextlib
import os
import secrets
import zlib

import pytest

from scaivault_core import ManualClock, make_plugin_manager
from scaivault_core.leases import LeaseOptions
from scaivault_core.testing import MemoryPlugin, MemoryTarget, VaultFactory
from scaivault_core.testing.memory import DEFAULT_TARGET


@pytest.fixture
def target():
    """The memory target every engine ``{"plugin": "memory"}`` of this test talks to (it names none)."""
    target = MemoryTarget.new(name=DEFAULT_TARGET)
    yield target
    target.forget()


@pytest.fixture(scope="session")
def front_end():
    """The front end the servers of a test run (``--front-end``): ``threads``, the default, or
    ``$SCAIVAULT_TEST_FRONT_END`` (``asgi``) to run the suite against the other. A module whose tests
    must hold under every one overrides this with a module-scoped fixture of ``params=FRONT_ENDS``
    (``scaivault_core.testing.servers``)."""
    return os.environ.get("SCAIVAULT_TEST_FRONT_END", "threads")


@pytest.fixture
def clock():
    return ManualClock()


PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NAMES_LOCKS = 0x5CA1 << 32  # pg_advisory_lock keys of fixed_names_lock: this plus a CRC of the names' owner


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


@contextlib.contextmanager
def fixed_names_lock(owner: str):
    """Held while a test uses fixed names on the machine's servers (the guide's database and user, a docs
    page's database), so two tests using ``owner``'s names never run at once, even in two suites run side
    by side on one machine. A PostgreSQL advisory lock: released however the test's process ends."""
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as lock:
        key = NAMES_LOCKS + zlib.crc32(owner.encode())
        lock.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (key,))


@pytest.fixture(scope="session")
def names_lock():
    """``fixed_names_lock``, for test modules (they reach the conftest's helpers through fixtures)."""
    return fixed_names_lock


@pytest.fixture
def guide_names_lock():
    """The guide's fixed names on the machine's PostgreSQL (database ``support``, user ``scaivault_admin``)."""
    with fixed_names_lock("docs/guide"):
        yield


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
def make_vault(tmp_path, clock, store_url, target):
    """``make_vault(plugins=(), **kwargs)``: vaults on this test's store, with the memory engine and any ``plugins``."""
    factory = VaultFactory(
        store_url, clock=clock, start_worker=False, lease_options=LeaseOptions(backoff_base=1.0, max_attempts=4)
    )

    def make(*, plugins=(), **kwargs):
        kwargs.setdefault(
            "plugin_manager", make_plugin_manager(load_entrypoints=False, plugins=[MemoryPlugin(), *plugins])
        )
        if "key" not in kwargs:  # a shared store takes its key from configuration, never from beside the data
            kwargs.setdefault("key_file", tmp_path / "vault.key")
        return factory(**kwargs)

    yield make
    factory.close_all()


@pytest.fixture
def vault(make_vault, target):
    vault = make_vault()
    vault.create_engine("mem", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="24h")
    vault.create_role("mem", "readonly", default_ttl="1h", max_ttl="8h")
    return vault
