"""Leases against the real Redis: the issued user can do what its rules grant and nothing more, and
after revocation or expiry it can neither log in nor keep a connection open."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from scaivault_core import EngineError, InvalidConfig, IssueRequest


def assert_gone(server, data, held: redis.Connection) -> None:
    """The user no longer exists, cannot log in, and the connection it held was closed."""
    assert server.users_like(data["username"]) == []
    assert server.login_error(data["username"], data["password"]) is redis.AuthenticationError
    with pytest.raises(redis.ConnectionError):
        server.ask(held, "PING")


def test_issued_user_gets_exactly_its_rules(vault, server, reader, namespace):
    issued = vault.issue("cache", reader, ttl="30m")
    data = issued.data
    assert issued.lease_id.startswith("lease_db_")
    assert data["username"].startswith(f"v_{reader}_")
    assert (data["host"], data["port"], data["db"]) == (server.host, server.port, server.db)

    conn = server.connect_as(data["username"], data["password"])
    try:
        assert server.ask(conn, "PING") == "PONG"
        assert server.ask(conn, "GET", f"{namespace}cache:a") == "A"
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.ask(conn, "GET", f"{namespace}other")
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.ask(conn, "SET", f"{namespace}cache:a", "changed")
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.ask(conn, "KEYS", "*")
    finally:
        conn.disconnect()
    assert server.admin.get(f"{namespace}cache:a") == "A"

    # the connection_url works as given
    client = redis.Redis.from_url(data["connection_url"], decode_responses=True)
    assert client.get(f"{namespace}cache:b") == "B"
    client.close()


def test_revoke_deletes_the_user_and_closes_its_connection(vault, server, reader):
    issued = vault.issue("cache", reader)
    held = server.connect_as(issued.data["username"], issued.data["password"])
    assert server.ask(held, "PING") == "PONG"

    assert vault.revoke(issued.lease_id).state == "revoked"

    assert_gone(server, issued.data, held)
    assert vault.revoke(issued.lease_id).state == "revoked"  # idempotent


def test_expiry_revokes_at_the_deadline(vault, server, reader, clock):
    issued = vault.issue("cache", reader, ttl="10m")
    held = server.connect_as(issued.data["username"], issued.data["password"])

    clock.advance(599)
    assert vault.expire_due() == 0
    assert server.login_error(issued.data["username"], issued.data["password"]) is None

    clock.advance(2)
    assert vault.expire_due() == 1
    assert vault.lookup(issued.lease_id).state == "revoked"
    assert_gone(server, issued.data, held)


def test_a_user_already_gone_counts_as_revoked(vault, server, reader):
    issued = vault.issue("cache", reader)
    server.admin.execute_command("ACL", "DELUSER", issued.data["username"])

    assert vault.revoke(issued.lease_id).state == "revoked"


def test_renew_changes_nothing_in_redis(vault, server, reader, clock):
    issued = vault.issue("cache", reader, ttl="1h")
    before = server.admin.execute_command("ACL", "GETUSER", issued.data["username"])
    clock.advance(1800)

    result = vault.renew(issued.lease_id, "1h")

    assert result.lease.expires_at == issued.lease.expires_at + 3600
    assert server.admin.execute_command("ACL", "GETUSER", issued.data["username"]) == before


def test_channels_and_raw_rules(vault, server, engine, namespace, role_name):
    vault.create_role(
        engine,
        role_name,
        keys=[f"{namespace}cache:*"],
        channels=[f"{namespace}news"],
        commands=["+publish", "+get"],
        acl_rules=[f"%R~{namespace}other", "+@string"],
    )
    issued = vault.issue(engine, role_name)
    conn = server.connect_as(issued.data["username"], issued.data["password"])
    try:
        assert server.ask(conn, "PUBLISH", f"{namespace}news", "hello") == 0
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.ask(conn, "PUBLISH", f"{namespace}elsewhere", "hello")
        assert server.ask(conn, "GET", f"{namespace}other") == "X"  # read-only pattern
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.ask(conn, "SET", f"{namespace}other", "Y")
        assert server.ask(conn, "SET", f"{namespace}cache:c", "C") == "OK"  # +@string on ~cache:*
    finally:
        conn.disconnect()


def test_a_selector_grants_only_within_its_keys(vault, server, engine, namespace, role_name):
    vault.create_role(
        engine, role_name, keys=[f"{namespace}cache:*"], commands=["+get"], acl_rules=[f"(~{namespace}other +set)"]
    )
    issued = vault.issue(engine, role_name)
    conn = server.connect_as(issued.data["username"], issued.data["password"])
    try:
        assert server.ask(conn, "SET", f"{namespace}other", "Y") == "OK"
        with pytest.raises(redis.exceptions.NoPermissionError):
            server.ask(conn, "SET", f"{namespace}cache:a", "Z")
    finally:
        conn.disconnect()


def test_setuser_applies_all_rules_or_none(vault, server, engine, namespace, role_name, clock):
    # Straight to the engine with a rule only the server refuses (a role would not get past validation).
    live = vault._engines.live(engine).engine
    role = live.Role(keys=[f"{namespace}*"], commands=["+get", "-select|0"])
    request = IssueRequest(
        lease_id="lease_db_test",
        role_name=role_name,
        role=role,
        username=f"v_{role_name}_x",
        password="Pw-for-a-test-1",
        expires_at=clock.time() + 60,
        ttl_seconds=60,
        metadata={},
        params=None,
        variables={},
    )

    with pytest.raises(EngineError) as failed:
        live.create(request)

    assert "ACL SETUSER" in failed.value.message and "-select|0" in failed.value.message
    assert server.users_like(f"v_{role_name}_") == []


def test_a_failed_issue_leaves_no_user_and_rolls_back(vault, server, engine, reader, admin_user):
    # The root user loses the right to create users after the role was made.
    server.admin.execute_command("ACL", "SETUSER", admin_user["username"], "-acl|setuser")

    with pytest.raises(InvalidConfig) as refused:
        vault.issue(engine, reader)

    assert "lacks a permission" in refused.value.message and "acl|setuser" in refused.value.message
    assert server.users_like(f"v_{reader}_") == []
    [lease] = vault.list_leases(engine=engine)
    assert lease.state == "rolled_back"


def test_reconcile_lists_and_deletes_stray_users(vault, server, engine, reader):
    issued = vault.issue(engine, reader)
    live = vault._engines.live(engine).engine

    assert issued.data["username"] in live.list_subjects()
    live.revoke_subject(issued.data["username"])

    assert server.users_like(issued.data["username"]) == []


def test_threads_share_the_root_pool(vault, server, reader, clock):
    # Straight to the engine from 8 threads (the pool holds 4 connections).
    live = vault._engines.live("cache").engine
    _, role = vault._engines.role("cache", reader)

    def cycle(n: int) -> str:
        name = f"v_{reader}_thread{n:02d}"
        request = IssueRequest(
            lease_id=f"lease_db_t{n}",
            role_name=reader,
            role=role,
            username=name,
            password=f"Pw-thread-{n:02d}",
            expires_at=clock.time() + 60,
            ttl_seconds=60,
            metadata={},
            params=None,
            variables={},
        )
        live.create(request)
        assert server.login_error(name, f"Pw-thread-{n:02d}") is None
        live.revoke(live.plan(request))
        return name

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(cycle, range(24)))
    assert len(set(names)) == 24
    assert server.users_like(f"v_{reader}_") == []
