"""Tokens: the operator's TTLs, ceilings, descendants, and the denial hook.

A token can do nothing its minter cannot.
"""

from __future__ import annotations

import pytest

from scaivault_core import InvalidRequest, LeaseNotFound, PermissionDenied, Settings, TTLExceedsMax, Unauthenticated
from scaivault_core.auth import Caller

DESK = [{"path_pattern": "sys/tokens", "permissions": ["create"]}, {"path_pattern": "apps/a", "permissions": ["read"]}]


def desk_session(vault, identity="sa:desk", rules=DESK):
    vault.create_policy(f"p-{identity.split(':')[1]}", rules)
    vault.bind_policy(f"p-{identity.split(':')[1]}", identity)
    return vault.authenticate(vault.create_token(identity)["token"])


def test_tokens_live_the_operators_default_ttl_and_no_longer_than_its_maximum(make_vault, clock):
    vault = make_vault(settings=Settings(token_default_ttl=3600, token_max_ttl=7200))
    token = vault.create_token("sa:app")
    assert vault.list_tokens("sa:app")[0].expires_at == clock.time() + 3600
    assert vault.create_token("sa:app", ttl="2h")["expires_at"]
    with pytest.raises(TTLExceedsMax) as err:
        vault.create_token("sa:app", ttl="2h1s")
    assert err.value.details == {"ttl": "2h1s", "max_ttl": "2h"}
    clock.advance(3601)
    with pytest.raises(Unauthenticated):
        vault.authenticate(token["token"])


def test_the_operators_admin_token_does_not_expire(make_vault, clock):
    vault = make_vault(settings=Settings(token_default_ttl=60, token_max_ttl=60))
    admin = vault.create_admin_token()
    clock.advance(10 * 365 * 86400)
    assert vault.authenticate(admin).identity == "user:admin"


def test_engine_identities_never_get_tokens(vault):
    with pytest.raises(InvalidRequest) as err:
        vault.create_token("dynamic:mem")
    assert "never gets a token" in err.value.message


def test_a_token_desk_mints_only_what_it_holds(vault):
    vault.put_secret("apps/a", {"v": "alpha-secret"})
    vault.put_secret("apps/b", {"v": "bravo-secret"})
    desk = desk_session(vault)
    minted = desk.create_token("user:admin")
    as_admin = vault.authenticate(minted["token"])
    assert as_admin.identity == "user:admin" and as_admin.identity.ceilings == ("sa:desk",)
    assert as_admin.get_secret("apps/a").data == {"v": "alpha-secret"}  # both may
    with pytest.raises(PermissionDenied) as err:
        as_admin.get_secret("apps/b")  # the admin may, the desk may not
    assert "sa:desk (who minted it)" in err.value.message
    with pytest.raises(PermissionDenied):
        as_admin.create_policy("mine", [{"path_pattern": "**", "permissions": ["read"]}])
    # Its own children carry the same ceiling, and one for the token that minted them.
    grandchild = vault.authenticate(as_admin.create_token("sa:other")["token"])
    assert set(grandchild.identity.ceilings) == {"sa:desk"}  # user:admin holds root: no ceiling of its own
    with pytest.raises(PermissionDenied):
        grandchild.get_secret("apps/b")
    listed = {t.accessor: t for t in vault.list_tokens()}
    assert listed[minted["accessor"]].parent == desk.identity.token.accessor
    assert listed[minted["accessor"]].ceilings == ["sa:desk"]


def test_root_holders_mint_without_a_ceiling(vault):
    token = vault.create_token("sa:app")
    assert vault.authenticate(token["token"]).identity.ceilings == ()


def test_a_child_never_outlives_its_parent_and_goes_with_it(vault, clock):
    desk = vault.authenticate(vault.create_token("user:admin", ttl="1h")["token"])
    child = desk.create_token("sa:app", ttl="10h")
    assert vault.list_tokens("sa:app")[0].expires_at == desk.identity.token.expires_at
    grandchild = vault.authenticate(child["token"])
    vault.create_policy("minter", [{"path_pattern": "sys/tokens", "permissions": ["create"]}])
    vault.bind_policy("minter", "sa:app")
    great = grandchild.create_token("sa:app")
    vault.revoke_token(desk.identity.token.accessor)
    for token in (child["token"], great["token"]):
        with pytest.raises(Unauthenticated):
            vault.authenticate(token)
    assert all(t.revoked for t in vault.list_tokens("sa:app"))


def test_a_token_minted_while_its_parent_is_revoked_is_revoked_too(vault):
    desk = vault.authenticate(vault.create_token("user:admin")["token"])
    vault.revoke_token(desk.identity.token.accessor)  # after the desk authenticated, before it mints
    with pytest.raises(Unauthenticated):
        desk.create_token("sa:app")
    assert [t.revoked for t in vault.list_tokens("sa:app")] == [True]


def test_a_ceilinged_token_owns_its_identitys_leases_only_as_far_as_its_minter_may(vault):
    issued = vault.as_identity("sa:victim")
    vault.create_policy("victim", [{"path_pattern": "dynamic/engines/mem/roles/readonly", "permissions": ["read"]}])
    vault.bind_policy("victim", "sa:victim")
    lease = issued.issue("mem", "readonly")
    desk = desk_session(vault)
    as_victim = vault.authenticate(desk.create_token("sa:victim")["token"])
    with pytest.raises(LeaseNotFound):
        as_victim.revoke(lease.lease_id)
    with pytest.raises(PermissionDenied):
        as_victim.list_leases(identity="sa:victim")


def test_every_refusal_reaches_on_denied(vault):
    heard: list[tuple[str, str, str]] = []
    vault._auth._on_denied = lambda *refusal: heard.append(refusal)
    lease = vault.issue("mem", "readonly")
    stranger = vault.as_identity("sa:stranger")
    with pytest.raises(PermissionDenied):
        stranger.get_secret("apps/x")
    with pytest.raises(LeaseNotFound):
        stranger.lookup(lease.lease_id)
    with pytest.raises(LeaseNotFound):
        stranger.lookup("lease_db_doesnotexist")
    with pytest.raises(Unauthenticated):
        vault.authenticate("svt.nope")
    assert heard == [
        ("sa:stranger", "apps/x", "read"),
        ("sa:stranger", "dynamic/engines/mem/roles/readonly", "revoke"),
        ("sa:stranger", "dynamic/leases/lease_db_doesnotexist", "revoke"),
        ("anonymous", "sys/auth", "authenticate"),
    ]


def test_a_failing_denial_hook_changes_no_answer(vault):
    def broken(*refusal):
        raise RuntimeError("audit sink down")

    vault._auth._on_denied = broken
    lease = vault.issue("mem", "readonly")
    with pytest.raises(LeaseNotFound):
        vault.as_identity("sa:stranger").lookup(lease.lease_id)


def test_a_caller_is_a_plain_string_wherever_it_is_stored():
    caller = Caller("sa:x", ["user:bob", "sa:x", "user:bob"])
    assert caller == "sa:x" and caller.ceilings == ("user:bob",)
    assert type(str(caller)) is str and f"{caller}" == "sa:x"


def test_a_token_renews_itself_from_now_within_the_operators_maximum(make_vault, clock):
    vault = make_vault(settings=Settings(token_default_ttl=3600, token_max_ttl=4 * 3600))
    session = vault.authenticate(vault.create_token("sa:app", ttl="1h")["token"])
    clock.advance(1800)
    token, capped = session.renew_token_self("2h")
    assert token.expires_at == clock.time() + 7200 and capped is False
    token, capped = session.renew_token_self("10h")
    assert capped is True and token.expires_at == session.own_token().created_at + 4 * 3600
    assert vault.list_tokens("sa:app")[0].expires_at == token.expires_at
    assert vault.audit_log(operation="token.renew")[-1][1].details["capped"] is True


def test_a_child_token_never_renews_past_its_parent(make_vault, clock):
    vault = make_vault(settings=Settings(token_default_ttl=3600, token_max_ttl=10 * 3600))
    desk = desk_session(vault)
    child = vault.authenticate(desk.create_token("sa:app", ttl="10m")["token"])
    token, capped = child.renew_token_self("5h")
    assert capped is True and token.expires_at == desk.own_token().expires_at
    vault.revoke_token(desk.own_token().accessor)
    with pytest.raises(Unauthenticated):
        child.renew_token_self("1m")


def test_tokens_that_do_not_expire_have_nothing_to_renew(vault):
    with pytest.raises(InvalidRequest):
        vault.authenticate(vault.create_admin_token()).renew_token_self("1h")
    with pytest.raises(InvalidRequest):
        vault.renew_token_self("1h")  # the embedded vault has no token at all
