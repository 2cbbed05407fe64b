"""Faults between the vault and PostgreSQL, injected with a TCP proxy the test controls.

The engine connects through the proxy; stopping it cuts the pooled root connection and refuses
new ones, exactly as when the database host goes away.
"""

from __future__ import annotations

import sqlite3

import pytest

from scaivault_core import Conflict, EngineUnreachable, LeaseState
from scaivault_core.leases import LeaseOptions
from scaivault_core.testing import TCPProxy


@pytest.fixture
def proxy(scram):
    with TCPProxy((scram.host, scram.port)) as proxy:
        yield proxy


@pytest.fixture
def proxied(scram, proxy):
    """The scram target, as seen through the proxy."""
    return type(scram)(proxy.host, proxy.port, scram.database, scram.admin_password)


@pytest.fixture
def vault(vault_factory, clock, proxied, configure):
    vault = vault_factory(clock=clock, start_worker=False, lease_options=LeaseOptions(backoff_base=1.0))
    configure(vault, proxied)
    return vault


def test_target_down_during_issue(vault, clock, proxy, scram):
    before = scram.roles()
    proxy.stop()
    with pytest.raises(EngineUnreachable):
        vault.issue("support-db", "readonly")
    assert vault.list_leases(state="active") == []
    assert scram.roles() == before
    proxy.start()
    clock.advance(1)
    vault.expire_due()  # the intent (did the CREATE reach the server? unknown) is undone once it is back
    assert [lease.state for lease in vault.list_leases(engine="support-db")] == [LeaseState.ROLLED_BACK]


def test_target_down_during_revocation_is_retried_until_it_is_back(vault, clock, proxy, scram):
    creds = vault.issue("support-db", "readonly", ttl="10m")
    proxy.stop()
    clock.advance(601)
    vault.expire_due()
    lease = vault.lookup(creds.lease_id)
    assert lease.state == LeaseState.REVOKING and lease.attempts == 1
    assert creds.data["username"] in scram.roles()
    clock.advance(30)
    vault.expire_due()
    assert vault.lookup(creds.lease_id).attempts == 2  # still down: retried, backing off, kept
    proxy.start()
    clock.advance(120)
    vault.expire_due()
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    assert creds.data["username"] not in scram.roles()


def test_explicit_revoke_while_down_is_queued_not_lost(vault, clock, proxy, scram):
    creds = vault.issue("support-db", "readonly")
    proxy.stop()
    with pytest.raises(EngineUnreachable) as err:
        vault.revoke(creds.lease_id)
    assert err.value.details["state"] == LeaseState.REVOKING
    proxy.start()
    clock.advance(10)
    vault.expire_due()
    assert creds.data["username"] not in scram.roles()


def test_store_failing_after_the_target_created_the_user_removes_the_user(vault, scram, monkeypatch):
    real_update = vault.store.update_lease

    def failing_update(lease_id, changes, expect):
        if changes.get("state") == LeaseState.ACTIVE:
            raise sqlite3.OperationalError("disk I/O error")
        return real_update(lease_id, changes, expect)

    before = scram.roles()
    monkeypatch.setattr(vault.store, "update_lease", failing_update)
    with pytest.raises(Conflict):
        vault.issue("support-db", "readonly")
    assert scram.roles() == before
