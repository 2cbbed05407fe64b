"""Reconcile against PostgreSQL: it finds and drops the roles this engine made that no live lease
accounts for, and nothing else: not another engine's roles, not look-alikes, not a name planted to
run SQL. A role name read from pg_roles is data, quoted as an identifier wherever it is used."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from psycopg import sql

from scaivault_core import LeaseState
from scaivault_core.templates import generate_username

from .conftest import GUIDE_CREATION, ROOT_PATH

# What follows an existing role's name in a planted one: REASSIGN OWNED BY "{{name}}" TO CURRENT_USER, with
# the statements joined on one line, runs the REASSIGN and then ALTER USER, and comments out the rest.
EXPLOIT = '" TO CURRENT_USER;ALTER USER {attacker} SUPERUSER--'
# Other names with PostgreSQL's identifier quote in them, mixed with every other quoting character.
HOSTILE = [
    "'\"; ALTER USER {attacker} SUPERUSER; --",
    '\\"; ALTER USER {attacker} SUPERUSER; --',
    '"\n;ALTER USER {attacker} SUPERUSER;\n--',
    '"ü名; ALTER USER {attacker} SUPERUSER--',
    '""; ALTER USER {attacker} SUPERUSER--',
    '"' + "x" * 60,
]


def admin(target):
    return psycopg.connect(target.admin_url(), autocommit=True)


def make_role(target, name: str, *, mark: str | None = None, grant: bool = True) -> None:
    """A login role made by the admin, optionally with a scaivault-like comment and a grant on ``reports``."""
    with admin(target) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        if grant:
            conn.execute(sql.SQL("GRANT SELECT ON reports TO {}").format(sql.Identifier(name)))
        if mark is not None:
            conn.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(name), sql.Literal(mark)))


def drop_role(target, name: str) -> None:
    with admin(target) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def logs_in(target, issued) -> bool:
    try:
        with psycopg.connect(
            host=target.host,
            port=target.port,
            dbname=target.database,
            connect_timeout=3,
            user=issued.data["username"],
            password=issued.data["password"],
        ) as conn:
            return conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def is_superuser(target, name: str) -> bool:
    with admin(target) as conn:
        return conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (name,)).fetchone() == (True,)


@pytest.fixture
def attacker(scram):
    """A role that may create roles (CREATEROLE), as some application owner might; dropped afterwards."""
    name, password = "a" + secrets.token_hex(2), secrets.token_urlsafe(16)  # short: a role name holds 63 bytes
    with admin(scram) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
        )
    yield name, password
    drop_role(scram, name)


def attacker_creates(target, attacker, name: str) -> None:
    with psycopg.connect(
        host=target.host,
        port=target.port,
        dbname=target.database,
        user=attacker[0],
        password=attacker[1],
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(name)))


def planted(target, attacker, existing: str) -> str:
    """The attacker's role whose name is an existing role's, then ``EXPLOIT``."""
    name = existing + EXPLOIT.format(attacker=attacker[0])
    assert len(name.encode()) <= 63, "PostgreSQL would cut the name, and the attack with it"
    attacker_creates(target, attacker, name)
    return name


def second_engine(vault, target, name: str = "other-db") -> None:
    """Another engine on the same database (the first one's root policy, bound to it too)."""
    vault.bind_policy("dynamic-engine-pg-root", f"dynamic:{name}")
    vault.create_engine(
        name,
        "database",
        {"plugin": "postgresql", "connection_url": target.connection_url(), "root_credentials_path": ROOT_PATH},
    )
    vault.create_role(name, "readonly", creation_statements=GUIDE_CREATION)


def lose_revocation(vault, issued) -> None:
    """The store says revoked, the role is still there: what a store restored from a backup looks like."""
    assert vault.store.update_lease(issued.lease_id, {"state": LeaseState.REVOKED}, expect={"state": LeaseState.ACTIVE})


def test_the_engine_marks_each_role_it_creates(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    issued = vault.issue("support-db", "readonly")
    with admin(scram) as conn:
        comment = conn.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (issued.data["username"],)
        ).fetchone()[0]
    assert comment == "scaivault engine=support-db"
    vault.revoke(issued.lease_id)


def test_reconcile_drops_this_engines_orphans_and_nothing_else(vault_factory, scram, configure, attacker):
    vault = vault_factory()
    configure(vault, scram)
    second_engine(vault, scram)
    vault.create_role("support-db", "ro", creation_statements=GUIDE_CREATION)  # short names leave room to attack
    live = vault.issue("support-db", "ro")
    theirs = [vault.issue("other-db", "readonly") for _ in range(3)]
    their_orphan = vault.issue("other-db", "readonly")
    lose_revocation(vault, their_orphan)

    marked_orphan = generate_username("readonly", 63)  # marked by this engine, unknown to the store
    make_role(scram, marked_orphan, mark="scaivault engine=support-db")
    legacy_orphan = vault.issue("support-db", "readonly")  # made before marks existed, known to the store
    with admin(scram) as conn:
        conn.execute(sql.SQL("COMMENT ON ROLE {} IS NULL").format(sql.Identifier(legacy_orphan.data["username"])))
    lose_revocation(vault, legacy_orphan)
    lookalike = generate_username("readonly", 63)  # someone else's, named like ours
    make_role(scram, lookalike)
    planted_name = planted(scram, attacker, live.data["username"])
    try:
        expected = sorted([marked_orphan, legacy_orphan.data["username"]])
        assert vault.reconcile("support-db")["orphans"] == expected
        report = vault.reconcile("support-db", revoke=True)
        assert report["revoked"] == expected and report["failed"] == [] and report["skipped"] == []

        roles = scram.roles()
        assert not roles & set(expected)
        assert {lookalike, planted_name, their_orphan.data["username"]} <= roles
        assert not is_superuser(scram, attacker[0])
        assert all(logs_in(scram, issued) for issued in [live, *theirs])
        assert vault.reconcile("other-db")["orphans"] == [their_orphan.data["username"]]
    finally:
        for name in (lookalike, planted_name, marked_orphan):
            drop_role(scram, name)
        vault.revoke_prefix("lease_")
        vault.reconcile("other-db", revoke=True)


def test_revoke_subject_drops_a_planted_name_and_runs_nothing_else(vault_factory, scram, configure, attacker):
    """The name of the attack in issue 17.1, given straight to the engine: dropped as one role, nothing run."""
    vault = vault_factory()
    configure(vault, scram)
    existing = "v_" + secrets.token_hex(2)
    attacker_creates(scram, attacker, existing)
    name = planted(scram, attacker, existing)
    try:
        vault._engines.live("support-db").engine.revoke_subject(name)
        assert name not in scram.roles() and existing in scram.roles()
        assert not is_superuser(scram, attacker[0])
    finally:
        drop_role(scram, name)
        drop_role(scram, existing)


@pytest.mark.parametrize(
    "suffix", HOSTILE, ids=["single-quote", "backslash", "newline", "unicode", "doubled", "longest"]
)
def test_revoke_subject_takes_any_name_as_one_identifier(vault_factory, scram, configure, attacker, suffix):
    """Whatever pg_roles holds, revoke_subject drops exactly that role and runs nothing else."""
    vault = vault_factory()
    configure(vault, scram)
    name = ("v_" + secrets.token_hex(2) + suffix.format(attacker=attacker[0])).encode()[:63].decode(errors="ignore")
    attacker_creates(scram, attacker, name)
    try:
        vault._engines.live("support-db").engine.revoke_subject(name)
        assert name not in scram.roles()
        assert not is_superuser(scram, attacker[0])
        with admin(scram) as conn:
            assert conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)
    finally:
        drop_role(scram, name)
