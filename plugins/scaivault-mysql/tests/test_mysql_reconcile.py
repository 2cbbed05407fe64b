"""Reconcile on MariaDB: the server keeps no mark of who made a user, so only users the store knows as
this engine's leases are touched. Users named with quotes, backticks or statements in them, look-alikes
and another engine's users are left alone; the quote filter keeps any text one string literal."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaivault_core import InvalidRequest, LeaseState
from scaivault_core.templates import generate_username

from .conftest import configure_engine

# Names a user of the server might give an account to look like ours and run something when rendered.
# (MariaDB drops trailing spaces from user names, so none ends in one.)
HOSTILE = [
    "'@'%'; DROP USER 'victim_{role}'@'%';#",
    "`; DROP DATABASE `{database}`;#",
    "\\'; DROP USER 'victim_{role}'@'%';#",
    "\"; DROP USER 'victim_{role}'@'%';#",
    "\n;#",
    " ü名",
]


@pytest.fixture
def victim(server, role_name):
    """An account the attacks above would drop."""
    name = f"victim_{role_name}"
    server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'victim-password'", (name,))
    yield name
    server.drop_users(name)


def lose_revocation(vault, issued) -> None:
    """The store says revoked, the user is still there: what a store restored from a backup looks like."""
    assert vault.store.update_lease(issued.lease_id, {"state": LeaseState.REVOKED}, expect={"state": LeaseState.ACTIVE})


def test_reconcile_touches_only_this_engines_users(vault, server, engine, engine_url, readonly, database, victim):
    configure_engine(vault, "other", engine_url, {"username": server.user, "password": server.password})
    vault.create_role(
        "other", readonly, creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"]
    )
    live = vault.issue(engine, readonly)
    theirs = vault.issue("other", readonly)
    their_orphan = vault.issue("other", readonly)
    lose_revocation(vault, their_orphan)
    orphan = vault.issue(engine, readonly)
    lose_revocation(vault, orphan)
    lookalike = generate_username(readonly, 32)
    hostile = [f"v_{readonly}_{text.format(role=readonly, database=database)}" for text in HOSTILE]
    for name in [lookalike, *hostile]:
        server.execute("CREATE USER %s@'%%' IDENTIFIED BY 'made-by-someone-else'", (name,))

    report = vault.reconcile(engine, revoke=True)

    assert report["revoked"] == [orphan.data["username"]] and report["skipped"] == []
    users = set(server.users_like(f"v_{readonly}_"))
    assert {lookalike, *hostile, live.data["username"], theirs.data["username"], their_orphan.data["username"]} <= users
    assert orphan.data["username"] not in users
    assert server.users_like(victim) == [victim]
    assert server.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (database,)) == [
        (1,)
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=80))
def test_quote_keeps_any_text_one_string_literal(vault, server, engine, value):
    quoted = vault._engines.live(engine).engine.quote(value)
    assert server.execute(f"SELECT CAST({quoted} AS CHAR CHARACTER SET utf8mb4)") == [(value,)]


def test_quote_refuses_nul(vault, engine):
    with pytest.raises(InvalidRequest):
        vault._engines.live(engine).engine.quote("a\x00b")


def test_the_default_revocation_quotes_the_name(vault, server, engine, readonly):
    from scaivault_mysql.engine import DEFAULT_REVOCATION

    assert DEFAULT_REVOCATION == ["DROP USER IF EXISTS {{name|quote}}@'%'"]
    issued = vault.issue(engine, readonly)
    assert issued.lease.handle["revocation"] == [f"DROP USER IF EXISTS '{issued.data['username']}'@'%'"]
    vault.revoke(issued.lease_id)
    assert server.users_like(issued.data["username"]) == []
