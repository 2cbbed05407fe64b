"""The SQLite store remembers engine, role, policy and token reads: a change must still count at once,
whether this process makes it or another one sharing the file does."""

from __future__ import annotations

import threading

import pytest

from scaivault_core import ManualClock, PermissionDenied, Unauthenticated, Vault, make_plugin_manager
from scaivault_core.testing import MemoryPlugin


@pytest.fixture
def two_vaults(tmp_path, target):
    """Two vaults on one SQLite file, as a server and a CLI command in another process would be."""
    pm = make_plugin_manager(plugins=[MemoryPlugin()])
    # No background workers: they take the store's lock now and then, and a remembered token is answered
    # only while nobody holds it (test_remembering_never_waits_for_another_thread).
    first = Vault(tmp_path / "vault.db", plugin_manager=pm, start_worker=False)
    second = Vault(tmp_path / "vault.db", plugin_manager=pm, start_worker=False)
    first.create_engine("mem", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="2h")
    first.create_role("mem", "app")
    first.create_policy("issuer", [{"path_pattern": "dynamic/engines/mem/roles/*", "permissions": ["read"]}])
    yield first, second
    second.close()
    first.close()


@pytest.mark.parametrize("changed_by", ["same vault", "other vault"])
def test_a_revoked_token_stops_working_at_once(two_vaults, changed_by):
    first, second = two_vaults
    first.bind_policy("issuer", "sa:payments")
    token = first.create_token("sa:payments")
    first.authenticate(token["token"]).issue("mem", "app")  # remembered now
    (first if changed_by == "same vault" else second).revoke_token(token["accessor"])
    with pytest.raises(Unauthenticated):
        first.authenticate(token["token"])


@pytest.mark.parametrize("changed_by", ["same vault", "other vault"])
def test_a_revoked_token_is_not_remembered(two_vaults, changed_by):
    """The REST server checks tokens on its event loop from what the store remembers
    (``authenticate_remembered``): a revocation from anywhere must end that at once."""
    first, second = two_vaults
    first.bind_policy("issuer", "sa:payments")
    token = first.create_token("sa:payments")
    assert first.authenticate_remembered(token["token"]) is None  # never looked up yet: ask the store
    first.authenticate(token["token"])
    assert first.authenticate_remembered(token["token"]).identity == "sa:payments"
    (first if changed_by == "same vault" else second).revoke_token(token["accessor"])
    assert first.authenticate_remembered(token["token"]) is None
    with pytest.raises(Unauthenticated):
        first.authenticate(token["token"])


def test_an_expired_token_is_not_remembered(tmp_path):
    clock = ManualClock()
    with Vault(tmp_path / "vault.db", clock=clock, start_worker=False) as vault:
        token = vault.create_token("sa:payments", ttl="1h")["token"]
        vault.authenticate(token)
        assert vault.authenticate_remembered(token) is not None
        clock.advance(3601)
        assert vault.authenticate_remembered(token) is None
        with pytest.raises(Unauthenticated):
            vault.authenticate(token)


def test_remembering_never_waits_for_another_thread(two_vaults):
    """Asked while another thread holds the store (a commit can take milliseconds), it answers None at
    once rather than block the event loop; inside a transaction it answers None too."""
    first, _ = two_vaults
    token = first.create_token("sa:payments")["token"]
    first.authenticate(token)
    holding, release = threading.Event(), threading.Event()

    def hold_the_store() -> None:
        with first.store.transaction():
            holding.set()
            release.wait(60)

    thread = threading.Thread(target=hold_the_store)
    thread.start()
    try:
        assert holding.wait(60)
        assert first.authenticate_remembered(token) is None
    finally:
        release.set()
        thread.join(60)
    with first.store.transaction():
        assert first.authenticate_remembered(token) is None
    assert first.authenticate_remembered(token) is not None


@pytest.mark.parametrize("changed_by", ["same vault", "other vault"])
def test_an_unbound_policy_stops_granting_at_once(two_vaults, changed_by):
    first, second = two_vaults
    first.bind_policy("issuer", "sa:payments")
    first.as_identity("sa:payments").issue("mem", "app")
    (first if changed_by == "same vault" else second).unbind_policy("issuer", "sa:payments")
    with pytest.raises(PermissionDenied):
        first.as_identity("sa:payments").issue("mem", "app")


@pytest.mark.parametrize("changed_by", ["same vault", "other vault"])
def test_a_role_change_applies_to_the_next_issue(two_vaults, changed_by):
    first, second = two_vaults
    assert first.issue("mem", "app").lease.expires_at - first.issue("mem", "app").lease.issued_at == pytest.approx(
        3600, abs=2
    )
    (first if changed_by == "same vault" else second).update_role("mem", "app", default_ttl="10m")
    lease = first.issue("mem", "app").lease
    assert lease.expires_at - lease.issued_at == pytest.approx(600, abs=2)


def test_a_change_rolled_back_is_not_remembered(two_vaults):
    first, _ = two_vaults
    store = first.store
    with pytest.raises(RuntimeError), store.transaction():
        store.delete_role("mem", "app")
        assert store.get_role("mem", "app") is None  # seen inside the transaction only
        raise RuntimeError("abort")
    assert store.get_role("mem", "app") is not None
    first.issue("mem", "app")
