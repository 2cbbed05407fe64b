"""The guide's walkthrough against a real PostgreSQL that checks passwords."""

from __future__ import annotations

import time

import psycopg
import pytest

from scaivault_core import EngineUnreachable, InvalidConfig, LeaseState
from scaivault_core.testing import free_port


def login(url: str) -> psycopg.Connection:
    return psycopg.connect(url, connect_timeout=5, autocommit=True)


def test_issued_user_reads_cannot_write_and_is_gone_after_revoke(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    creds = vault.issue("support-db", "readonly", ttl="2h", metadata={"purpose": "nightly report"})
    data = creds.data
    assert (data["host"], data["port"], data["database"]) == ("127.0.0.1", scram.port, "support")
    with login(data["connection_url"]) as conn:
        assert conn.execute("SELECT body FROM reports").fetchall() == [("hello",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO reports VALUES (2, 'nope')")
    with psycopg.connect(
        host="127.0.0.1", port=scram.port, dbname="support", user=data["username"], password=data["password"]
    ) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)  # username and password work on their own too

    vault.revoke(creds.lease_id)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(data["connection_url"])
    assert data["username"] not in scram.roles()


def test_wrong_password_is_refused_so_the_cluster_really_checks(scram):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(host="127.0.0.1", port=scram.port, dbname="support", user="postgres", password="nope")


def test_revocation_ends_open_sessions(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    creds = vault.issue("support-db", "readonly")
    conn = login(creds.data["connection_url"])
    vault.revoke(creds.lease_id)
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()


def test_renew_moves_valid_until(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    creds = vault.issue("support-db", "readonly", ttl="1h")
    renewed = vault.renew(creds.lease_id, "2h")
    with psycopg.connect(scram.admin_url(), autocommit=True) as admin:
        (until,) = admin.execute(
            "SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", (creds.data["username"],)
        ).fetchone()
    assert int(until.timestamp()) == int(renewed.lease.expires_at)
    vault.revoke(creds.lease_id)


def test_expiry_with_the_real_clock(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    creds = vault.issue("support-db", "readonly", ttl="2s")
    assert creds.data["username"] in scram.roles()
    deadline = time.monotonic() + 10
    while creds.data["username"] in scram.roles() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert creds.data["username"] not in scram.roles()
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED


def test_unreachable_target_at_create_is_engine_unreachable(vault_factory, scram, configure):
    vault = vault_factory()
    scram_closed = type(scram)(scram.host, free_port(), scram.database, scram.admin_password)  # nothing listens there
    with pytest.raises(EngineUnreachable):
        configure(vault, scram_closed)
    assert vault.list_engines() == []


def test_bad_root_password_is_invalid_config_with_the_servers_reason(vault_factory, scram, configure):
    vault = vault_factory()
    wrong = type(scram)(scram.host, scram.port, scram.database, "not-the-password")
    with pytest.raises(InvalidConfig) as err:
        configure(vault, wrong)
    assert "password authentication failed" in err.value.message
    assert "not-the-password" not in str(err.value.to_dict())


def test_failed_creation_leaves_nothing_behind(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    vault.create_role(
        "support-db",
        "broken",
        creation_statements=[
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'",
            'GRANT SELECT ON no_such_table TO "{{name}}"',
        ],
    )
    from scaivault_core import EngineError

    before = scram.roles()
    with pytest.raises(EngineError) as err:
        vault.issue("support-db", "broken")
    assert "no_such_table" in err.value.message
    assert scram.roles() == before
    assert vault.list_leases(state="active") == []


def test_renew_statements_get_the_remaining_ttl(vault_factory, trust_db, configure, clock):
    """The guide: ``{{ttl_seconds}}`` is the remaining TTL, in renew statements as well."""
    vault = vault_factory(clock=clock, start_worker=False)
    configure(vault, trust_db, role=False)
    vault.create_role(
        "support-db",
        "noted",
        creation_statements=['CREATE ROLE "{{name}}" WITH LOGIN'],
        renew_statements=["COMMENT ON ROLE \"{{name}}\" IS '{{ttl_seconds}} s left'"],
    )
    creds = vault.issue("support-db", "noted", ttl="1h")
    clock.advance(600)
    vault.renew(creds.lease_id, "1h")
    with psycopg.connect(trust_db.admin_url(), autocommit=True) as admin:
        (note,) = admin.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (creds.data["username"],)
        ).fetchone()
    assert note == f"{3600 - 600 + 3600} s left"  # from now until the new expiry
    vault.revoke(creds.lease_id)
