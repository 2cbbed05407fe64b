"""Warm pools against real PostgreSQL: a pooled role cannot log in with any password until it is issued;
then it has the role's grants, and after revocation it is gone. Pools refill to their size, are dropped
when their role changes, and a process killed mid-refill leaves no role behind."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import uuid

import psycopg
import pytest

from scaivault_core import LeaseState
from scaivault_core.testing import wait_until

from .conftest import GUIDE_CREATION, GUIDE_REVOCATION

# A role name of this module's own: PostgreSQL roles are cluster-wide, and other test runs share the server.
ROLE = f"pool{uuid.uuid4().hex[:6]}"


def users(target) -> set[str]:
    return target.roles(f"v_{ROLE}_")


def pooled(target) -> set[str]:
    """This role's users that cannot log in: the pool."""
    with psycopg.connect(target.admin_url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s) AND NOT rolcanlogin", (f"v_{ROLE}_",)
        ).fetchall()
    return {r[0] for r in rows}


def ready(vault) -> int:
    """Pooled users the vault has recorded as ready to issue (the target may show them a moment earlier)."""
    return len(vault.list_leases(engine="support-db", state=LeaseState.POOLED, limit=1000))


def with_pool(vault, size: int, creation=GUIDE_CREATION) -> None:
    if ROLE not in {role.name for role in vault.list_roles("support-db")}:
        vault.create_role("support-db", ROLE, creation_statements=creation)
    vault.update_role(
        "support-db",
        ROLE,
        creation_statements=creation,
        revocation_statements=GUIDE_REVOCATION,
        default_ttl="1h",
        max_ttl="8h",
        pool_size=size,
    )


def login_fails(target, user: str, password: str | None) -> bool:
    url = f"host={target.host} port={target.port} dbname={target.database} user={user} connect_timeout=5"
    if password is not None:
        url += f" password='{password}'"
    try:
        psycopg.connect(url).close()
    except psycopg.OperationalError as exc:
        return "password authentication failed" in str(exc) or "no password supplied" in str(exc)
    return False


@pytest.fixture
def pool_dropped_after(vault_factory):
    """Drops the pools of the vaults a test opened: the scram cluster is shared by the whole session, and
    another test's reconcile would see the pooled roles (marked as support-db's) as orphans."""
    yield
    for vault in vault_factory.opened:
        with contextlib.suppress(Exception):  # closed, or the role already gone
            vault.delete_role("support-db", ROLE)


def test_pooled_roles_cannot_log_in_until_issued(vault_factory, scram, configure, pool_dropped_after):
    vault = vault_factory(start_worker=False)
    configure(vault, scram)
    with_pool(vault, 3)
    assert vault.fill_pools() == 3
    pool = pooled(scram)
    assert len(pool) == 3
    for user in pool:
        for password in ("", "guess", user, None):
            assert login_fails(scram, user, password), (user, password)

    issued = vault.issue("support-db", ROLE)
    data = issued.data
    assert data["username"] in pool  # taken from the pool, not created
    with psycopg.connect(data["connection_url"]) as conn:
        assert conn.execute("SELECT body FROM reports").fetchall() == [("hello",)]  # the role's grants
    assert pooled(scram) == pool - {data["username"]}  # the others still cannot log in

    vault.revoke(issued.lease_id)
    assert login_fails(scram, data["username"], data["password"])
    assert data["username"] not in scram.roles()


def test_pool_refills_to_its_size_in_the_background(vault_factory, trust_db, configure):
    vault = vault_factory()  # with its workers running
    configure(vault, trust_db)
    with_pool(vault, 4)
    assert wait_until(lambda: ready(vault) == 4, timeout=30)
    leases = []
    for _ in range(3):
        pool = pooled(trust_db)
        leases.append(vault.issue("support-db", ROLE))
        assert leases[-1].data["username"] in pool  # taken from the pool (the refill runs meanwhile)
    assert wait_until(lambda: ready(vault) == 4, timeout=30)
    assert len(users(trust_db)) == 7  # 3 issued + 4 pooled, never more
    [listed] = [vault.list_leases(engine="support-db", state="live")]
    assert {lease.lease_id for lease in listed} == {lease.lease_id for lease in leases}  # pooled users are no leases

    with_pool(vault, 1)  # a shrunk pool drops the surplus
    assert wait_until(lambda: ready(vault) == 1 and len(pooled(trust_db)) == 1, timeout=30)


def test_role_change_drops_the_pool(vault_factory, trust_db, configure):
    vault = vault_factory(start_worker=False)
    configure(vault, trust_db)
    with_pool(vault, 3)
    vault.fill_pools()
    old = pooled(trust_db)
    assert len(old) == 3

    with_pool(vault, 3, creation=GUIDE_CREATION[:2])  # no SELECT any more
    assert pooled(trust_db) == set()  # the old role's users are dropped at once
    vault.fill_pools()
    new = pooled(trust_db)
    assert len(new) == 3 and not new & old
    issued = vault.issue("support-db", ROLE)
    with (
        psycopg.connect(issued.data["connection_url"]) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT * FROM reports")  # the new role's grants, not the old one's

    vault.delete_role("support-db", ROLE)
    assert pooled(trust_db) == set()


CRASHING_REFILL = textwrap.dedent("""
    import os, signal, sys
    from scaivault_core import Vault, hookimpl, make_plugin_manager
    from scaivault_postgresql import PostgreSQLEngine

    class CrashAfterCreatePooled(PostgreSQLEngine):
        def create_pooled(self, requests):
            made = super().create_pooled(requests)  # the roles now exist in PostgreSQL...
            print(" ".join(r.username for r in requests), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)    # ...and the process dies before they are recorded as pooled

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(CrashAfterCreatePooled)

    vault = Vault(sys.argv[1], plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]),
                  start_worker=False)
    vault.fill_pools()
""")


def test_crash_mid_refill_leaves_no_role(vault_factory, trust_db, configure, tmp_path):
    vault = vault_factory(start_worker=False)
    configure(vault, trust_db)
    with_pool(vault, 3)
    vault.close()

    script = tmp_path / "crash.py"
    script.write_text(CRASHING_REFILL)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "vault.db")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -9, result.stderr
    made = set(result.stdout.split())
    assert len(made) == 3 and made <= users(trust_db)  # the crash really left roles behind

    # The next start hands the dead process's intents to the worker (run here, not in its thread).
    restarted = vault_factory(start_worker=False)
    restarted.expire_due()
    assert not made & users(trust_db)
    states = {lease.subject: lease.state for lease in restarted.list_leases(engine="support-db")}
    assert states == dict.fromkeys(made, LeaseState.ROLLED_BACK)


def test_reconcile_knows_pooled_roles_are_ours(vault_factory, trust_db, configure):
    vault = vault_factory(start_worker=False)
    configure(vault, trust_db)
    with_pool(vault, 2)
    vault.fill_pools()
    pool = pooled(trust_db)
    assert len(pool) == 2
    # Without revoking: roles are cluster-wide, and other test runs' engines may share this one's name.
    report = vault.reconcile("support-db")
    assert not pool & set(report["orphans"])
