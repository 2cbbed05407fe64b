"""Warm pools in the core, on both stores, with the memory engine: filled to their size and never past it
(by several processes at once too), issued from, kept out of lease lists, dropped when the role changes."""

from __future__ import annotations

import threading

import pytest

from scaivault_core import LeaseNotFound, LeaseState
from scaivault_core.models import POOL_IDENTITY


def pooled(vault) -> list:
    return vault.list_leases(engine="mem", state=LeaseState.POOLED, limit=1000)


def locked(target) -> set[str]:
    return {name for name, user in target.users.items() if user.locked}


@pytest.fixture
def pool_vault(vault):
    vault.update_role("mem", "readonly", default_ttl="1h", max_ttl="8h", pool_size=3)
    return vault


def test_a_pool_fills_to_its_size_and_issues_from_it(pool_vault, target):
    assert pool_vault.fill_pools() == 3
    assert pool_vault.fill_pools() == 0  # full
    ready = locked(target)
    assert len(ready) == 3 and {lease.subject for lease in pooled(pool_vault)} == ready
    assert not any(target.login(name, "") for name in ready)

    issued = pool_vault.issue("mem", "readonly", ttl="30m", metadata={"team": "reports"})
    assert issued.data["username"] in ready
    assert target.login(issued.data["username"], issued.data["password"])
    lease = pool_vault.lookup(issued.lease_id)
    assert (lease.state, lease.identity, lease.metadata, lease.lease_duration) == (
        LeaseState.ACTIVE,
        "user:admin",
        {"team": "reports"},
        1800,
    )
    assert [lease.lease_id for lease in pool_vault.list_leases(engine="mem")] == [issued.lease_id]  # pooled: not leases
    with pytest.raises(LeaseNotFound):
        pool_vault.lookup(pooled(pool_vault)[0].lease_id)

    pool_vault.revoke(issued.lease_id)
    assert issued.data["username"] not in target.users
    assert pool_vault.fill_pools() == 1


def test_an_empty_pool_falls_back_to_creating(pool_vault, target):
    issued = pool_vault.issue("mem", "readonly")  # nothing filled yet
    assert target.login(issued.data["username"], issued.data["password"])
    assert ("create", issued.data["username"]) in target.calls


def test_a_pooled_user_that_cannot_be_activated_is_rolled_back_and_a_new_one_issued(pool_vault, target):
    pool_vault.fill_pools()
    target.refuse["activate"] = 1  # say someone changed the pooled user in the target by hand
    issued = pool_vault.issue("mem", "readonly")
    assert target.login(issued.data["username"], issued.data["password"])
    assert ("create", issued.data["username"]) in target.calls  # made now, not taken from the pool
    assert len(locked(target)) == 2  # the one that failed is gone, rolled back; the other two wait
    failed = [e for e in pool_vault.audit_log(operation="lease.issue") if e[1].outcome != "ok"]
    assert [e[1].details.get("from_pool") for e in failed] == [True]


def test_an_unreachable_target_is_not_retried_without_the_pool(pool_vault, target):
    from scaivault_core import EngineUnreachable

    pool_vault.fill_pools()
    target.down_for = {"activate"}
    with pytest.raises(EngineUnreachable):
        pool_vault.issue("mem", "readonly")
    assert not [call for call in target.calls if call[0] == "create"]


def test_processes_filling_one_pool_at_once_never_overfill_it(pool_vault, make_vault, target):
    pool_vault.update_role("mem", "readonly", default_ttl="1h", max_ttl="8h", pool_size=40)
    others = [make_vault() for _ in range(2)]
    threads = [threading.Thread(target=v.fill_pools) for v in [pool_vault, *others]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(pooled(pool_vault)) == 40 and len(locked(target)) == 40
    issued = [v.issue("mem", "readonly").data["username"] for v in [pool_vault, *others] for _ in range(5)]
    assert len(set(issued)) == 15  # each pooled user issued once


def test_a_changed_role_or_a_smaller_pool_drops_pooled_users(pool_vault, target):
    pool_vault.fill_pools()
    old = locked(target)
    pool_vault.update_role("mem", "readonly", permissions=["write:{{name}}"], pool_size=3)
    assert locked(target) == set()  # made from the old role: rolled back at once
    assert {lease.state for lease in pool_vault.list_leases(engine="mem", identity=POOL_IDENTITY)} == {
        LeaseState.ROLLED_BACK
    }
    pool_vault.fill_pools()
    assert not locked(target) & old
    assert all(target.users[name].permissions == [f"write:{name}"] for name in locked(target))

    pool_vault.update_role("mem", "readonly", permissions=["write:{{name}}"], pool_size=1)
    pool_vault.fill_pools()
    assert len(locked(target)) == 1


def test_a_failed_refill_leaves_nothing_behind(pool_vault, target):
    target.refuse["create_pooled"] = 1
    assert pool_vault.fill_pools() == 0
    assert locked(target) == set() and pooled(pool_vault) == []
    assert {lease.state for lease in pool_vault.list_leases(engine="mem", identity=POOL_IDENTITY)} == {
        LeaseState.ROLLED_BACK
    }
    assert pool_vault.fill_pools() == 3


def test_re_pointing_the_engine_drops_its_pools(pool_vault, target):
    pool_vault.fill_pools()
    assert len(locked(target)) == 3
    pool_vault.update_engine(
        "mem", "database", {"plugin": "memory", "renewable": False}, default_ttl="1h", max_ttl="24h"
    )
    assert locked(target) == set()  # rolled back through the engine as it was
    pool_vault.fill_pools()
    assert len(locked(target)) == 3
