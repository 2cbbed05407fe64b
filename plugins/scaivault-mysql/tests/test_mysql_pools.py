"""Warm pools on the real server: a pooled user is locked until issued, then has the role's grants,
and after revocation it is gone."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig

ACCESS_DENIED = (1045, 1698)  # a wrong password (1698: MariaDB answering through another plugin)
LOCKED = 4151


def pooled_users(server, role: str, issued: set[str] = frozenset()) -> set[str]:
    return set(server.users_like(f"v_{role}_")) - set(issued)


def test_pooled_users_cannot_log_in_until_issued(vault, server, readonly, database):
    vault.update_role(
        "db", readonly, creation_statements=vault.get_role("db", readonly).params["creation_statements"], pool_size=3
    )
    assert vault.fill_pools() == 3
    pooled = pooled_users(server, readonly)
    assert len(pooled) == 3
    for user in pooled:
        for password in ("", "guess-Password-1", user):
            assert server.login_error(user, password, database) in (*ACCESS_DENIED, LOCKED)

    issued = vault.issue("db", readonly, ttl="30m")
    data = issued.data
    assert data["username"] in pooled  # taken from the pool, not created
    conn = server.connect_as(data["username"], data["password"], database)
    with conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (2,)
    conn.close()
    for user in pooled - {data["username"]}:  # the rest stay locked
        assert server.login_error(user, "", database) in (*ACCESS_DENIED, LOCKED)

    vault.revoke(issued.lease_id)
    assert server.login_error(data["username"], data["password"], database) in ACCESS_DENIED
    assert data["username"] not in server.users_like(f"v_{readonly}_")


def test_role_change_and_delete_drop_the_pool(vault, server, readonly):
    statements = vault.get_role("db", readonly).params["creation_statements"]
    vault.update_role("db", readonly, creation_statements=statements, pool_size=2)
    vault.fill_pools()
    first = pooled_users(server, readonly)
    assert len(first) == 2

    vault.update_role("db", readonly, creation_statements=statements, pool_size=2)
    assert pooled_users(server, readonly) == set()  # made from the old role: dropped
    vault.fill_pools()
    assert len(pooled_users(server, readonly)) == 2 and not pooled_users(server, readonly) & first

    vault.delete_role("db", readonly)
    assert pooled_users(server, readonly) == set()


@pytest.mark.parametrize("size", [-1, 501, "3", True])
def test_pool_size_is_bounded(vault, readonly, size):
    with pytest.raises(InvalidConfig) as caught:
        vault.update_role(
            "db",
            readonly,
            creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"],
            pool_size=size,
        )
    assert "pool_size" in caught.value.message
