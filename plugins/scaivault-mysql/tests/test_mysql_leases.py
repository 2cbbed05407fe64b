"""Leases against the real server: the issued user can do what its role grants and nothing more, and
after revocation or expiry it can neither log in nor keep a session open."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote, urlsplit

import pymysql
import pytest

from scaivault_core import EngineError, IssueRequest

NO_TABLE_PRIVILEGE = 1142
# 1045, or 1698 when MariaDB answers a login for a user that does not exist through another plugin.
ACCESS_DENIED = (1045, 1698)


def assert_gone(server, data, held: pymysql.connections.Connection) -> None:
    """The user no longer exists, cannot log in, and the session it held was killed."""
    assert server.users_like(data["username"]) == []
    assert server.login_error(data["username"], data["password"]) in ACCESS_DENIED
    assert server.sessions_of(data["username"]) == []
    with pytest.raises(pymysql.err.OperationalError), held.cursor() as cur:
        cur.execute("SELECT 1")


def test_issued_user_can_select_but_not_insert(vault, server, readonly, database):
    issued = vault.issue("db", readonly, ttl="30m")
    data = issued.data
    assert issued.lease_id.startswith("lease_db_")
    assert data["username"].startswith(f"v_{readonly}_") and len(data["username"]) <= 32
    assert (data["host"], data["port"], data["database"]) == (server.host, server.port, database)
    url = urlsplit(data["connection_url"])
    assert (unquote(url.username), unquote(url.password), url.path) == (
        data["username"],
        data["password"],
        f"/{database}",
    )

    conn = server.connect_as(data["username"], data["password"], database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT id, label FROM items ORDER BY id")
            assert cur.fetchall() == ((1, "one"), (2, "two"))
            with pytest.raises(pymysql.err.OperationalError) as denied:
                cur.execute("INSERT INTO items VALUES (3, 'three')")
            assert denied.value.args[0] == NO_TABLE_PRIVILEGE
            cur.execute("SELECT COUNT(*) FROM items")
            assert cur.fetchone() == (2,)
    finally:
        conn.close()


def test_revoke_drops_the_user_and_kills_its_session(vault, server, readonly, database):
    issued = vault.issue("db", readonly)
    held = server.connect_as(issued.data["username"], issued.data["password"], database)
    assert server.sessions_of(issued.data["username"])

    lease = vault.revoke(issued.lease_id)

    assert lease.state == "revoked"
    assert_gone(server, issued.data, held)
    assert vault.revoke(issued.lease_id).state == "revoked"  # idempotent


def test_expiry_revokes_at_the_deadline(vault, server, readonly, database, clock):
    issued = vault.issue("db", readonly, ttl="10m")
    held = server.connect_as(issued.data["username"], issued.data["password"], database)

    clock.advance(9 * 60)
    assert vault.expire_due() == 0
    assert server.login_error(issued.data["username"], issued.data["password"]) is None

    clock.advance(61)
    assert vault.expire_due() == 1
    assert vault.lookup(issued.lease_id).state == "revoked"
    assert_gone(server, issued.data, held)


def test_many_leases_expire_in_one_pass(vault, server, readonly, database, clock):
    issued = [vault.issue("db", readonly, ttl="5m") for _ in range(5)]
    held = [server.connect_as(i.data["username"], i.data["password"], database) for i in issued]

    clock.advance(301)
    assert vault.expire_due() == 5

    for item, conn in zip(issued, held, strict=True):
        assert vault.lookup(item.lease_id).state == "revoked"
        assert_gone(server, item.data, conn)


def drop_user_statements(live) -> int:
    """How many DROP USER statements the engine's root session has run."""

    def work(conn):
        with conn.cursor() as cur:
            cur.execute("SHOW SESSION STATUS LIKE 'Com_drop_user'")
            return int(cur.fetchone()[1])

    return live._root.run(work)


def test_default_revocations_are_one_drop_user_and_others_run_their_own(
    vault, server, readonly, engine, database, role_name, clock
):
    custom = f"{role_name}x"
    vault.create_role(
        engine,
        custom,
        creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"],
        revocation_statements=["REVOKE USAGE ON *.* FROM '{{name}}'@'%'", "DROP USER '{{name}}'@'%'"],
    )
    plain = [vault.issue(engine, readonly, ttl="5m") for _ in range(6)]
    own = [vault.issue(engine, custom, ttl="5m") for _ in range(2)]
    server.execute("DROP USER %s@'%%'", (plain[0].data["username"],))  # one already gone
    live = vault._engines.live(engine).engine
    before = drop_user_statements(live)

    clock.advance(301)
    assert vault.expire_due() == 8

    assert drop_user_statements(live) - before == 1 + 2  # five users in one statement, then one each
    for item in plain + own:
        assert vault.lookup(item.lease_id).state == "revoked"
        assert server.users_like(item.data["username"]) == []
    server.drop_users(f"v_{custom}_")


def test_a_user_already_gone_counts_as_revoked(vault, server, readonly):
    issued = vault.issue("db", readonly)
    server.execute("DROP USER %s@'%%'", (issued.data["username"],))

    assert vault.revoke(issued.lease_id).state == "revoked"


def test_role_revocation_statements_are_used(vault, server, engine, database, role_name):
    vault.create_role(
        engine,
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            f"GRANT SELECT, INSERT ON `{database}`.items TO '{{{{name}}}}'@'%'",
        ],
        revocation_statements=[
            f"REVOKE ALL PRIVILEGES ON `{database}`.items FROM '{{{{name}}}}'@'%'",
            "DROP USER '{{name}}'@'%'",
        ],
    )
    issued = vault.issue(engine, role_name)
    conn = server.connect_as(issued.data["username"], issued.data["password"], database)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO items VALUES (3, 'three')")  # this role grants INSERT

    vault.revoke(issued.lease_id)
    assert_gone(server, issued.data, conn)


def test_a_failed_creation_leaves_no_user(vault, server, engine, database, role_name):
    # The GRANT parses (so the role is accepted) but fails when run: the table does not exist yet.
    server.execute(f"CREATE TABLE `{database}`.later (id INT)")
    vault.create_role(
        engine,
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            f"GRANT SELECT ON `{database}`.later TO '{{{{name}}}}'@'%'",
        ],
    )
    server.execute(f"DROP TABLE `{database}`.later")

    with pytest.raises(EngineError) as failed:
        vault.issue(engine, role_name)

    assert "1146" in failed.value.message or "1147" in failed.value.message
    assert server.users_like(f"v_{role_name}_") == []
    [lease] = vault.list_leases(engine=engine)
    assert lease.state == "rolled_back"


def test_renew_changes_nothing_in_the_server_by_default(vault, server, readonly, clock):
    issued = vault.issue("db", readonly, ttl="1h")
    clock.advance(1800)

    result = vault.renew(issued.lease_id, "1h")

    assert result.lease.expires_at == issued.lease.expires_at + 3600
    assert server.login_error(issued.data["username"], issued.data["password"]) is None


def test_renew_statements_run_with_the_new_expiry(vault, server, engine, database, role_name, clock):
    vault.create_role(
        engine,
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}' WITH MAX_QUERIES_PER_HOUR 10",
        ],
        renew_statements=[
            "ALTER USER '{{name}}'@'%' WITH MAX_QUERIES_PER_HOUR {{ttl_seconds}}",
        ],
    )
    issued = vault.issue(engine, role_name, ttl="1h")
    clock.advance(600)

    vault.renew(issued.lease_id, "1h")

    [(limit,)] = server.execute("SELECT max_questions FROM mysql.user WHERE User = %s", (issued.data["username"],))
    assert int(limit) == 3600 - 600 + 3600  # seconds from now until the new expiry


def test_a_broken_root_connection_is_reopened(vault, server, readonly):
    vault.issue("db", readonly)  # the root connection is open now
    root = vault._engines.live("db").engine._root
    server.execute("KILL CONNECTION %s", (root.thread_id(),))

    issued = vault.issue("db", readonly)

    assert server.login_error(issued.data["username"], issued.data["password"]) is None
    assert root.thread_id() is not None


def test_reconcile_lists_and_drops_stray_users(vault, server, engine, readonly):
    issued = vault.issue(engine, readonly)
    live = vault._engines.live(engine).engine

    assert issued.data["username"] in live.list_subjects()
    live.revoke_subject(issued.data["username"])

    assert server.users_like(issued.data["username"]) == []


def test_threads_share_the_root_connection(vault, server, readonly, clock):
    # Straight to the engine from 8 threads: the root connection is used under its lock.
    live = vault._engines.live("db").engine
    _, role = vault._engines.role("db", readonly)

    def cycle(n: int) -> str:
        name = f"v_{readonly}_thread{n:02d}"
        request = IssueRequest(
            lease_id=f"lease_db_t{n}",
            role_name=readonly,
            role=role,
            username=name,
            password=f"Pw-thread-{n:02d}",
            expires_at=clock.time() + 60,
            ttl_seconds=60,
            metadata={},
            params=None,
            variables={"name": name, "password": f"Pw-thread-{n:02d}", "expiration": "", "ttl_seconds": 60},
        )
        live.create(request)
        assert server.login_error(name, f"Pw-thread-{n:02d}") is None
        live.revoke(live.plan(request))
        return name

    with ThreadPoolExecutor(8) as pool:
        names = list(pool.map(cycle, range(24)))
    assert len(set(names)) == 24
    assert server.users_like(f"v_{readonly}_") == []


def test_a_pre_made_database_role_as_default_role(vault, server, engine, database, role_name):
    group = f"sv_reader_{role_name}"
    server.execute(f"CREATE ROLE {group}")
    try:
        server.execute(f"GRANT SELECT ON `{database}`.* TO {group}")
        vault.create_role(
            engine,
            role_name,
            creation_statements=[
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
                f"GRANT {group} TO '{{{{name}}}}'@'%'",
                f"SET DEFAULT ROLE {group} FOR '{{{{name}}}}'@'%'",  # MySQL 8: SET DEFAULT ROLE ... TO ...
            ],
        )
        issued = vault.issue(engine, role_name)
        conn = server.connect_as(issued.data["username"], issued.data["password"], database)
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM items")
            assert cur.fetchone() == (2,)
            with pytest.raises(pymysql.err.OperationalError):
                cur.execute("INSERT INTO items VALUES (3, 'three')")
        vault.revoke(issued.lease_id)
        assert_gone(server, issued.data, conn)
    finally:
        server.execute(f"DROP ROLE IF EXISTS {group}")
