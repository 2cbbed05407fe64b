"""The PostgreSQL store itself: URLs, keys, what lands in the database, migrations, claims and NOTIFY.

Several ``Vault`` objects on one schema stand in for several processes here (each has its own
pool, instance id and claims); tests/scale/ runs real server processes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import psycopg
import pytest

from scaivault_core import InvalidConfig, LeaseState, ScaiVaultError, SystemClock, Vault, make_plugin_manager
from scaivault_core.crypto import encode_key, new_key
from scaivault_core.store.pg_migrations import MIGRATIONS
from scaivault_core.store.pg_urls import parse_url
from scaivault_core.store.postgresql import PostgresStore
from scaivault_core.testing import free_port

ON_POSTGRESQL = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


def _pg(store_url: str) -> psycopg.Connection:
    conninfo, schema, _, _ = parse_url(store_url)
    conn = psycopg.connect(conninfo, autocommit=True)
    conn.execute(f'SET search_path TO "{schema}"')
    return conn


def _engine(vault) -> None:
    vault.create_engine("mem", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="24h")
    vault.create_role("mem", "readonly", default_ttl="1h", max_ttl="8h")


def _ok_revocations(vault) -> dict[str, int]:
    counts: dict[str, int] = {}
    after = 0
    while True:
        page = vault.audit_log(operation="lease.revoke", after=after, limit=1000)
        if not page:
            return counts
        for event_id, event in page:
            if event.outcome == "ok":
                counts[event.lease_id] = counts.get(event.lease_id, 0) + 1
            after = event_id


def test_url_options_stay_out_of_libpq_and_the_password_out_of_reprs():
    conninfo, schema, pool, masked = parse_url(
        "postgresql://app:S3cret-pw@db.internal:6432/vault?schema=sv_prod&pool_min=2&pool_max=7&sslmode=require"
    )
    assert schema == "sv_prod" and pool == {"min_size": 2, "max_size": 7}
    assert "schema" not in conninfo and "pool_" not in conninfo and "sslmode=require" in conninfo
    assert "S3cret-pw" not in masked and "app:***@db.internal" in masked
    assert (
        "options=-c%20statement_timeout%3D5s" in parse_url("postgresql://h/db?options=-c%20statement_timeout%3D5s")[0]
    )
    store = PostgresStore("postgres://app:S3cret-pw@db.internal/vault")
    assert store.schema == "scaivault" and "S3cret-pw" not in repr(store) and "S3cret-pw" not in store.url
    for bad in ("x;drop", "1abc", "a" * 64):
        with pytest.raises(InvalidConfig):
            parse_url(f"postgresql://h/db?schema={bad}")


def test_unreachable_store_is_a_clear_error_without_the_password():
    with pytest.raises(InvalidConfig) as err:  # a loopback port nothing listens on
        Vault(
            f"postgresql://app:Unreachable-pw9@127.0.0.1:{free_port()}/vault",
            key=encode_key(new_key()),
            plugin_manager=make_plugin_manager(load_entrypoints=False),
            start_worker=False,
        )
    assert "Cannot connect to the PostgreSQL store" in err.value.message
    assert "Unreachable-pw9" not in err.value.message and "***" in err.value.message


@ON_POSTGRESQL
def test_a_shared_store_takes_its_key_from_configuration(store_url, monkeypatch):
    monkeypatch.delenv("SCAIVAULT_KEY", raising=False)
    with pytest.raises(InvalidConfig) as err:
        Vault(store_url, plugin_manager=make_plugin_manager(load_entrypoints=False), start_worker=False)
    assert "SCAIVAULT_KEY" in err.value.message and "never from the database" in err.value.message
    key = encode_key(new_key())
    monkeypatch.setenv("SCAIVAULT_KEY", key)
    with Vault(store_url, plugin_manager=make_plugin_manager(load_entrypoints=False), start_worker=False) as vault:
        vault.put_secret("apps/x", {"a": 1})
    with _pg(store_url) as conn:
        assert conn.execute("SELECT count(*) FROM meta WHERE value LIKE %s", (f"%{key}%",)).fetchone()[0] == 0


@ON_POSTGRESQL
def test_a_process_with_another_key_refuses_to_start(make_vault):
    make_vault(key=encode_key(new_key())).put_secret("apps/x", {"a": 1})
    with pytest.raises(InvalidConfig) as err:
        make_vault(key=encode_key(new_key()))
    assert "does not match this store" in err.value.message and "NEW,OLD" in err.value.message


@ON_POSTGRESQL
def test_database_holds_no_secret_value_or_key(make_vault, target, store_url, tmp_path):
    vault = make_vault()
    _engine(vault)
    vault.put_secret("infra/mem/root", {"username": "admin", "password": "RootPassw0rd-unique"})
    creds = [vault.issue("mem", "readonly") for _ in range(3)]
    vault.revoke(creds[0].lease_id)
    key = (tmp_path / "vault.key").read_text().strip()
    with _pg(store_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        ]
        dump = "\n".join(str(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"').fetchall())
    assert "leases" in tables and "RootPassw0rd-unique" not in dump and key not in dump
    for c in creds:
        assert c.data["password"] not in dump
        assert c.data["username"] in dump  # names are not secret; they are how leases are found


@ON_POSTGRESQL
def test_migrations_run_once_when_processes_start_together(store_url):
    stores = [PostgresStore(store_url) for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def start(store: PostgresStore) -> None:
        try:
            barrier.wait()
            store.migrate()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    with _pg(store_url) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name").fetchall()]
    assert names == sorted(fn.__name__ for fn in MIGRATIONS)


@ON_POSTGRESQL
def test_nested_transactions_join_the_outer_one_and_roll_back_with_it(make_vault):
    store = make_vault().store
    with pytest.raises(RuntimeError), store.transaction():
        store.set_meta("a", "1")
        with store.transaction():
            store.set_meta("b", "2")
        raise RuntimeError("undo both")
    assert store.get_meta("a") is None and store.get_meta("b") is None
    with store.transaction():
        store.set_meta("a", "1")
        with pytest.raises(ScaiVaultError):  # a duplicate inside a transaction does not poison it
            store.put_policy(store.get_policy("root"), create=True)
        store.set_meta("b", "2")
    assert (store.get_meta("a"), store.get_meta("b")) == ("1", "2")


@ON_POSTGRESQL
def test_text_postgresql_cannot_store_is_a_client_error(make_vault):
    vault = make_vault()
    with pytest.raises(ScaiVaultError) as err:
        vault.lookup("lease_db_\x00x")
    assert 400 <= err.value.status < 500


@ON_POSTGRESQL
def test_a_process_hears_of_leases_another_one_makes_due_soon(make_vault, target):
    first, second = make_vault(clock=SystemClock()), make_vault(clock=SystemClock())
    _engine(first)
    heard: list[float] = []
    listening = threading.Event()
    first.store.subscribe(lambda due: listening.set() if due == float("-inf") else heard.append(due))
    assert listening.wait(10)
    later = second.issue("mem", "readonly", ttl="2h")  # beyond any worker's sleep: not worth a NOTIFY
    soon = second.issue("mem", "readonly", ttl=20)
    deadline = time.monotonic() + 10
    while soon.lease.expires_at not in heard and time.monotonic() < deadline:
        time.sleep(0.02)
    assert soon.lease.expires_at in heard and later.lease.expires_at not in heard


@ON_POSTGRESQL
def test_worker_wakes_for_a_lease_issued_by_another_process(make_vault, target):
    # The worker has nothing due, so it would sleep its full 30 s; the NOTIFY wakes it instead.
    watcher = make_vault(clock=SystemClock(), start_worker=True)
    issuer = make_vault(clock=SystemClock())
    _engine(issuer)
    time.sleep(0.5)  # let the watcher's worker go to sleep
    creds = issuer.issue("mem", "readonly", ttl=2)
    deadline = time.monotonic() + 15
    while issuer.lookup(creds.lease_id).state != LeaseState.REVOKED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert issuer.lookup(creds.lease_id).state == LeaseState.REVOKED
    assert time.monotonic() < deadline and creds.data["username"] not in target.users
    assert watcher.worker._thread is not None


@ON_POSTGRESQL
def test_claims_are_disjoint_and_a_dead_processs_claims_pass_on_after_their_deadline(make_vault, target, clock):
    alive, other = make_vault(), make_vault()
    _engine(alive)
    leases = [alive.issue("mem", "readonly").lease_id for _ in range(50)]
    clock.advance(3601)
    now = clock.time()
    # A process on another host claimed 20 due leases and died before revoking them.
    dead = alive.store.claim_due(now, 20, "otherhost/4242/dead", now + 60)
    assert len(dead) == 20
    assert other.expire_due() == 30
    assert len(target.users) == 20
    assert other.store.next_due_at() == pytest.approx(now + 60)  # it sleeps until the claims lapse, not in a spin
    clock.advance(61)
    assert other.expire_due() == 20
    assert target.users == {}
    assert _ok_revocations(other) == {lease_id: 1 for lease_id in leases}
    assert all(
        other.lookup(lease_id).state == LeaseState.REVOKED and other.lookup(lease_id).claimed_by is None
        for lease_id in leases
    )


@ON_POSTGRESQL
def test_workers_of_several_processes_revoke_each_due_lease_once(make_vault, target, clock):
    vaults = [make_vault() for _ in range(3)]
    _engine(vaults[0])
    leases = [vaults[i % 3].issue("mem", "readonly").lease_id for i in range(300)]
    for v in vaults:
        v.worker.batch_size = 25  # small batches, so the three interleave
    clock.advance(3601)
    handled: list[int] = []
    barrier = threading.Barrier(3)

    def run(vault) -> None:
        barrier.wait()
        handled.append(vault.expire_due())

    threads = [threading.Thread(target=run, args=(v,)) for v in vaults]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(handled) == 300 and target.users == {}
    assert _ok_revocations(vaults[0]) == {lease_id: 1 for lease_id in leases}


def test_core_runs_without_the_postgres_extra(tmp_path):
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "from scaivault_core import Vault, InvalidConfig, make_plugin_manager\n"
        "pm = make_plugin_manager(load_entrypoints=False)\n"
        f"Vault({str(tmp_path / 'v.db')!r}, plugin_manager=pm, start_worker=False).close()\n"
        "try:\n"
        "    Vault('postgresql://127.0.0.1/x', key=b'k' * 32, plugin_manager=pm, start_worker=False)\n"
        "except InvalidConfig as exc:\n"
        "    print(exc.message)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "scaivault[postgres-store]" in result.stdout


@ON_POSTGRESQL
def test_lease_rows_round_trip(make_vault, target):
    vault = make_vault()
    _engine(vault)
    creds = vault.issue("mem", "readonly", metadata={"team": "reports", "n": 3})
    lease, sealed = vault.store.get_lease(creds.lease_id)
    assert lease.metadata == {"team": "reports", "n": 3} and lease.renewable is True
    assert isinstance(sealed, bytes)
    assert vault.keyring.decrypt_json(sealed, f"lease:{lease.lease_id}")["username"] == creds.data["username"]
    page = vault.list_leases(prefix="lease_db_", limit=10)  # '_' is no wildcard here
    assert [lease.lease_id for lease in page] == [creds.lease_id]
