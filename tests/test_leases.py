"""Lease lifecycle through the Vault facade, with the in-memory engine and a manual clock."""

from __future__ import annotations

import pytest

from scaivault_core import (
    EngineUnreachable,
    InvalidConfig,
    InvalidRequest,
    LeaseExpired,
    LeaseNotFound,
    LeaseState,
    TTLExceedsMax,
)


def test_issue_returns_the_guides_fields(vault, target):
    creds = vault.issue("mem", "readonly", ttl="2h", metadata={"purpose": "nightly report"})
    body = creds.to_dict()
    assert set(body) == {"lease_id", "data", "lease_duration", "renewable", "expires_at"}
    assert body["lease_id"].startswith("lease_db_")
    assert body["lease_duration"] == "2h" and body["renewable"] is True
    assert body["data"]["username"] in target.users
    assert body["data"]["username"].startswith("v_readonly_")
    assert vault.lookup(creds.lease_id).metadata == {"purpose": "nightly report"}


def test_default_ttl_is_the_roles(vault):
    assert vault.issue("mem", "readonly").to_dict()["lease_duration"] == "1h"


def test_ttl_above_the_roles_max_is_refused_not_capped(vault, target):
    with pytest.raises(TTLExceedsMax) as err:
        vault.issue("mem", "readonly", ttl="9h")
    assert "8h" in err.value.message
    assert target.users == {}


def test_role_ttl_above_the_engines_max_is_invalid_config(vault):
    with pytest.raises(InvalidConfig):
        vault.create_role("mem", "long", max_ttl="25h")


def test_renew_extends_from_the_current_expiry(vault, clock):
    creds = vault.issue("mem", "readonly", ttl="2h")
    clock.advance(600)
    result = vault.renew(creds.lease_id, "1h")
    assert result.lease.expires_at == creds.lease.expires_at + 3600
    assert result.capped is False
    assert result.to_dict()["lease_duration"] == "2h50m"


def test_renew_past_max_is_capped_at_issue_time_plus_max(vault, target):
    creds = vault.issue("mem", "readonly", ttl="2h")
    result = vault.renew(creds.lease_id, "10h")
    assert result.capped is True
    assert result.lease.expires_at == creds.lease.issued_at + 8 * 3600
    assert target.users[creds.data["username"]].expires_at == result.lease.expires_at


def test_renew_from_now_is_vaults_rule_and_may_shorten(vault, clock, target):
    creds = vault.issue("mem", "readonly", ttl="2h")
    clock.advance(600)
    result = vault.renew(creds.lease_id, "1h", from_now=True)
    assert result.lease.expires_at == clock.time() + 3600 and result.capped is False
    capped = vault.renew(creds.lease_id, "10h", from_now=True)
    assert capped.capped is True and capped.lease.expires_at == creds.lease.issued_at + 8 * 3600
    assert target.users[creds.data["username"]].expires_at == capped.lease.expires_at
    entry = vault.audit_log(lease_id=creds.lease_id, operation="lease.renew")[-1][1]
    assert entry.details["from_now"] is True


def test_revoke_prefix_of_one_role_leaves_the_engines_other_roles(vault):
    vault.create_role("mem", "other", default_ttl="1h", max_ttl="8h")
    mine, other = vault.issue("mem", "readonly"), vault.issue("mem", "other")
    assert vault.revoke_prefix("lease_", engine="mem", role="readonly")["revoked"] == 1
    assert vault.lookup(mine.lease_id).state == "revoked" and vault.lookup(other.lease_id).state == "active"
    with pytest.raises(InvalidRequest):
        vault.revoke_prefix("lease_", role="readonly")


def test_renew_or_revoke_of_unknown_lease(vault):
    with pytest.raises(LeaseNotFound):
        vault.renew("lease_db_nope")
    with pytest.raises(LeaseNotFound):
        vault.revoke("lease_db_nope")


def test_renew_of_expired_lease(vault, clock):
    creds = vault.issue("mem", "readonly", ttl="1h")
    clock.advance(3601)
    with pytest.raises(LeaseExpired):
        vault.renew(creds.lease_id)


def test_renew_of_revoked_lease(vault):
    creds = vault.issue("mem", "readonly")
    vault.revoke(creds.lease_id)
    with pytest.raises(LeaseExpired):
        vault.renew(creds.lease_id)


def test_revoke_removes_the_user_and_is_idempotent(vault, target):
    creds = vault.issue("mem", "readonly")
    vault.revoke(creds.lease_id)
    assert creds.data["username"] not in target.users
    assert vault.revoke(creds.lease_id).state == LeaseState.REVOKED
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED


def test_revoke_of_a_user_already_gone_succeeds(vault, target):
    creds = vault.issue("mem", "readonly")
    target.users.clear()
    assert vault.revoke(creds.lease_id).state == LeaseState.REVOKED


def test_expiry_revokes_due_leases_only(vault, clock, target):
    short = vault.issue("mem", "readonly", ttl="10m")
    long = vault.issue("mem", "readonly", ttl="2h")
    clock.advance(601)
    assert vault.expire_due() == 1
    assert short.data["username"] not in target.users
    assert long.data["username"] in target.users
    assert vault.lookup(short.lease_id).state == LeaseState.REVOKED


def test_failed_revocation_is_retried_with_backoff_then_succeeds(vault, clock, target):
    creds = vault.issue("mem", "readonly", ttl="10m")
    target.down = True
    clock.advance(601)
    vault.expire_due()
    lease = vault.lookup(creds.lease_id)
    assert lease.state == LeaseState.REVOKING and lease.attempts == 1
    assert "down" in lease.last_error
    assert vault.expire_due() == 0  # not due again until the backoff passes
    target.down = False
    clock.advance(5)
    vault.expire_due()
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    assert creds.data["username"] not in target.users


def test_revocation_that_keeps_failing_becomes_irrevocable_and_is_kept(vault, clock, target):
    creds = vault.issue("mem", "readonly", ttl="10m")
    target.down = True
    clock.advance(601)
    for _ in range(10):
        vault.expire_due()
        clock.advance(60)
    lease = vault.lookup(creds.lease_id)
    assert lease.state == LeaseState.IRREVOCABLE and lease.attempts == 4
    assert [lease.lease_id for lease in vault.list_leases(state="irrevocable")] == [creds.lease_id]
    target.down = False
    assert vault.revoke(creds.lease_id).state == LeaseState.REVOKED  # an operator can still revoke it


def test_explicit_revoke_while_target_down_is_queued(vault, clock, target):
    creds = vault.issue("mem", "readonly")
    target.down = True
    with pytest.raises(EngineUnreachable) as err:
        vault.revoke(creds.lease_id)
    assert err.value.details["state"] == LeaseState.REVOKING
    target.down = False
    clock.advance(10)
    vault.expire_due()
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED


def test_issue_when_target_down_leaves_no_lease(vault, clock, target):
    target.down = True
    with pytest.raises(EngineUnreachable):
        vault.issue("mem", "readonly")
    assert vault.list_leases(state="active") == []
    # Whether the create reached the target is unknown, so the intent is undone once it is back.
    [intent] = vault.list_leases(state="intent")
    target.down = False
    clock.advance(1)
    vault.expire_due()
    assert vault.lookup(intent.lease_id).state == LeaseState.ROLLED_BACK


def test_revoke_prefix_only_touches_the_named_engine(vault, target):
    vault.create_engine("other", "database", {"plugin": "memory"})
    vault.create_role("other", "readonly")
    mine = [vault.issue("mem", "readonly") for _ in range(3)]
    theirs = vault.issue("other", "readonly")
    result = vault.revoke_prefix("lease_", engine="mem")
    assert result["revoked"] == 3 and result["failed"] == []
    assert all(vault.lookup(c.lease_id).state == LeaseState.REVOKED for c in mine)
    assert vault.lookup(theirs.lease_id).state == LeaseState.ACTIVE
    assert list(target.users) == [theirs.data["username"]]


def test_revoke_prefix_needs_a_lease_prefix(vault):
    with pytest.raises(InvalidRequest):
        vault.revoke_prefix("", engine="mem")


def test_lease_stays_revocable_after_its_role_is_deleted(vault, target):
    creds = vault.issue("mem", "readonly")
    vault.delete_role("mem", "readonly")
    vault.revoke(creds.lease_id)
    assert target.users == {}


def test_engine_with_live_leases_cannot_be_deleted(vault):
    from scaivault_core import Conflict

    creds = vault.issue("mem", "readonly")
    with pytest.raises(Conflict):
        vault.delete_engine("mem")
    vault.revoke(creds.lease_id)
    vault.delete_engine("mem")


def test_list_leases_pages_by_id(vault):
    ids = sorted(vault.issue("mem", "readonly").lease_id for _ in range(5))
    first = vault.list_leases(engine="mem", limit=2)
    rest = vault.list_leases(engine="mem", after=first[-1].lease_id, limit=10)
    assert [lease.lease_id for lease in first + rest] == ids


def test_generated_names_fit_and_are_unique(vault):
    vault.create_role("mem", "a" * 80)
    names = {vault.issue("mem", "a" * 80).data["username"] for _ in range(50)}
    assert len(names) == 50 and all(len(n) <= 63 for n in names)


def test_passwords_are_long_mixed_and_quote_safe(vault):
    for _ in range(20):
        password = vault.issue("mem", "readonly").data["password"]
        assert len(password) >= 20
        assert any(c.islower() for c in password) and any(c.isupper() for c in password)
        assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)
        assert not set(password) & set("'\"\\%$`{} \t\n")


def test_quota_per_role(vault):
    from scaivault_core import QuotaExceeded

    vault.update_role("mem", "readonly", max_leases=2)
    vault.issue("mem", "readonly")
    vault.issue("mem", "readonly")
    with pytest.raises(QuotaExceeded) as err:
        vault.issue("mem", "readonly")
    assert err.value.status == 429


def test_quotas_per_identity_on_engine_and_role_are_stored_and_enforced(vault):
    from scaivault_core import QuotaExceeded

    vault.create_policy("issuers", [{"path_pattern": "dynamic/engines/mem/roles/*", "permissions": ["read"]}])
    for name in ("sa:greedy", "sa:other"):
        vault.bind_policy("issuers", name)
    greedy, other = vault.as_identity("sa:greedy"), vault.as_identity("sa:other")
    vault.update_engine("mem", "database", {"plugin": "memory"}, "1h", "24h", max_leases=10, max_leases_per_identity=3)
    vault.update_role("mem", "readonly", max_leases_per_identity=2)
    vault.create_role("mem", "writer")
    assert vault.get_engine("mem").max_leases_per_identity == 3
    assert vault.get_role("mem", "readonly").to_dict()["max_leases_per_identity"] == 2

    first = greedy.issue("mem", "readonly")
    greedy.issue("mem", "readonly")
    with pytest.raises(QuotaExceeded) as role_full:  # the role's share of this caller
        greedy.issue("mem", "readonly")
    assert role_full.value.details == {
        "engine": "mem",
        "role": "readonly",
        "identity": "sa:greedy",
        "max_leases_per_identity": 2,
    }
    greedy.issue("mem", "writer")
    with pytest.raises(QuotaExceeded) as engine_full:  # the engine's share, across its roles
        greedy.issue("mem", "writer")
    assert "sa:greedy already holds its maximum of 3 live leases of the engine 'mem'" in engine_full.value.message
    other.issue("mem", "readonly")  # another caller still has its own share
    greedy.revoke(first.lease_id)
    greedy.issue("mem", "readonly")  # a revoked lease frees its place


def test_concurrent_revokes_from_many_threads(vault, target):
    from concurrent.futures import ThreadPoolExecutor

    leases = [vault.issue("mem", "readonly") for _ in range(32)]
    with ThreadPoolExecutor(16) as pool:
        states = list(pool.map(lambda c: vault.revoke(c.lease_id).state, leases))
    assert states == [LeaseState.REVOKED] * 32
    assert target.users == {}
