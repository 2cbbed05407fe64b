"""A root that is not a superuser: CREATEROLE, and grant options on what the roles hand out.

On PostgreSQL 15 CREATEROLE may create and drop roles but not act as them, so REASSIGN OWNED, DROP
OWNED and pg_terminate_backend of a lease's role are refused unless the root first makes itself a
member of it. These tests run the whole cycle with such a root on a private scram cluster: the
user logs in, revocation ends its session, drops what it made and the role, and no lease is left
irrevocable.
"""

from __future__ import annotations

import secrets

import psycopg
import pytest
from psycopg import sql

from scaivault_core import InvalidConfig, LeaseOptions, LeaseState, ManualClock

from .conftest import GUIDE_CREATION

ROOT_PATH = "infra/postgres/limited/root"
SCRATCH_CREATION = [*GUIDE_CREATION, 'GRANT USAGE, CREATE ON SCHEMA scratch TO "{{name}}"']


@pytest.fixture
def limited_root(scram):
    """``(name, password)`` of a login role with CREATEROLE only, holding grant options on what roles grant."""
    name, password = "sv_root_" + secrets.token_hex(3), secrets.token_urlsafe(18)
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS scratch")
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
        )
        for grant in (
            "GRANT USAGE ON SCHEMA public TO {} WITH GRANT OPTION",
            "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {} WITH GRANT OPTION",
            "GRANT USAGE, CREATE ON SCHEMA scratch TO {} WITH GRANT OPTION",
        ):
            conn.execute(sql.SQL(grant).format(sql.Identifier(name)))
    yield name, password
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("REASSIGN OWNED BY {} TO postgres").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def configure_limited(vault, target, root, *, creation=SCRATCH_CREATION) -> None:
    vault.put_secret(ROOT_PATH, {"username": root[0], "password": root[1]})
    vault.create_policy("limited-root", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
    vault.bind_policy("limited-root", "dynamic:limited")
    vault.create_engine(
        "limited",
        "database",
        {"plugin": "postgresql", "connection_url": target.connection_url(), "root_credentials_path": ROOT_PATH},
    )
    vault.create_role("limited", "readonly", creation_statements=creation)  # the default revocation


def connect_as(target, issued) -> psycopg.Connection:
    return psycopg.connect(
        host=target.host,
        port=target.port,
        dbname=target.database,
        connect_timeout=3,
        user=issued.data["username"],
        password=issued.data["password"],
        autocommit=True,
    )


def logs_in(target, issued) -> bool:
    try:
        with connect_as(target, issued) as conn:
            return conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_createrole_root_revokes_with_the_default_statements(vault_factory, scram, limited_root):
    vault = vault_factory()
    configure_limited(vault, scram, limited_root)
    issued = vault.issue("limited", "readonly")
    assert logs_in(scram, issued)
    session = connect_as(scram, issued)  # open while it is revoked
    table = f"scratch.t_{secrets.token_hex(3)}"
    session.execute(f"CREATE TABLE {table} (id int)")  # owned by the lease's role: DROP OWNED drops it

    assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")  # pg_terminate_backend ended it
    session.close()
    assert not logs_in(scram, issued)
    assert issued.data["username"] not in scram.roles()
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname || '.' || tablename = %s", (table,)
        ).fetchone()
        member = conn.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = %s",
            (limited_root[0],),
        ).fetchone()
    assert owner is None, "what the lease's user made went with it, not to the root"
    assert member == (0,), "the membership the root took for the revocation went with the role"


def test_createrole_root_revokes_a_batch_at_expiry(vault_factory, scram, limited_root):
    clock = ManualClock(start=__import__("time").time())
    vault = vault_factory(clock=clock, start_worker=False, lease_options=LeaseOptions(backoff_base=1.0))
    configure_limited(vault, scram, limited_root, creation=GUIDE_CREATION)
    issued = [vault.issue("limited", "readonly") for _ in range(4)]
    sessions = [connect_as(scram, item) for item in issued[:2]]
    clock.advance(3601)
    assert vault.expire_due() == 4
    assert {vault.lookup(item.lease_id).state for item in issued} == {LeaseState.REVOKED}
    assert not {item.data["username"] for item in issued} & scram.roles()
    for session in sessions:
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
        session.close()


def test_createrole_root_reconciles(vault_factory, scram, limited_root):
    vault = vault_factory()
    configure_limited(vault, scram, limited_root)
    issued = vault.issue("limited", "readonly")
    assert vault.store.update_lease(issued.lease_id, {"state": LeaseState.REVOKED}, expect={"state": LeaseState.ACTIVE})
    assert vault.reconcile("limited", revoke=True)["revoked"] == [issued.data["username"]]
    assert issued.data["username"] not in scram.roles()


def test_a_root_that_cannot_create_roles_is_refused_at_configuration(vault_factory, scram):
    name, password = "sv_plain_" + secrets.token_hex(3), secrets.token_urlsafe(18)
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
    try:
        vault = vault_factory()
        with pytest.raises(InvalidConfig) as refused:
            configure_limited(vault, scram, (name, password))
        assert "CREATEROLE" in refused.value.message and refused.value.details["missing_right"] == "CREATEROLE"
        assert password not in str(refused.value.to_dict())
    finally:
        with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_the_default_revocation_leaves_nothing_that_runs_as_the_root(vault_factory, scram):
    """A lease's user plants a SECURITY DEFINER function and a view for PUBLIC; after the default
    revocation neither exists, so nothing it wrote can ever run with the (superuser) root's rights."""
    vault = vault_factory()
    vault.put_secret("infra/postgres/super/root", {"username": "postgres", "password": scram.admin_password})
    vault.create_policy("super-root", [{"path_pattern": "infra/postgres/super/root", "permissions": ["read"]}])
    vault.bind_policy("super-root", "dynamic:super")
    vault.create_engine(
        "super",
        "database",
        {
            "plugin": "postgresql",
            "connection_url": scram.connection_url(),
            "root_credentials_path": "infra/postgres/super/root",
        },
    )
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS scratch")
    vault.create_role("super", "writer", creation_statements=SCRATCH_CREATION)  # the default revocation
    issued = vault.issue("super", "writer")
    suffix = secrets.token_hex(3)
    with connect_as(scram, issued) as session:
        session.execute(
            f"CREATE FUNCTION scratch.whoami_{suffix}() RETURNS text LANGUAGE sql SECURITY DEFINER "
            "AS 'SELECT current_user::text'"
        )
        session.execute(f"CREATE VIEW scratch.secrets_{suffix} AS SELECT rolname FROM pg_authid")
        session.execute(f"GRANT SELECT ON scratch.secrets_{suffix} TO PUBLIC")

    assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_proc WHERE proname = %s", (f"whoami_{suffix}",)).fetchone()
        views = conn.execute("SELECT count(*) FROM pg_class WHERE relname = %s", (f"secrets_{suffix}",)).fetchone()
    assert left == (0,) and views == (0,), "what the lease's user made must not outlive it under the root's name"
