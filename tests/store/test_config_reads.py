"""The SQLite store remembers engine, role, policy and token reads: a change must still count at once,
whether this process makes it or another one sharing the file does."""

from __future__ import annotations

import pytest

from scaivault_core import PermissionDenied, Unauthenticated, Vault, make_plugin_manager
from scaivault_core.testing import MemoryPlugin


@pytest.fixture
def two_vaults(tmp_path, target):
    """Two vaults on one SQLite file, as a server and a CLI command in another process would be."""
    pm = make_plugin_manager(plugins=[MemoryPlugin()])
    first = Vault(tmp_path / "vault.db", plugin_manager=pm)
    second = Vault(tmp_path / "vault.db", plugin_manager=pm)
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
