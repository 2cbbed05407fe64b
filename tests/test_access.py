"""Identities, policies and bindings: deny by default, the guide's policies, engine root access."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig, LeaseNotFound, PermissionDenied, Unauthenticated

GUIDE_POLICY = [{"path_pattern": "dynamic/engines/mem/roles/readonly", "permissions": ["read"]}]


def test_identity_without_policy_is_denied(vault):
    with pytest.raises(PermissionDenied) as err:
        vault.as_identity("sa:reporting-service").issue("mem", "readonly")
    assert err.value.status == 403 and err.value.code == "permission_denied"


def test_guide_policy_allows_its_role_and_no_other(vault):
    vault.create_role("mem", "admin")
    vault.create_policy("reporting-service-dynamic", GUIDE_POLICY)
    vault.bind_policy("reporting-service-dynamic", "sa:reporting-service")
    service = vault.as_identity("sa:reporting-service")
    creds = service.issue("mem", "readonly")
    with pytest.raises(PermissionDenied):
        service.issue("mem", "admin")
    with pytest.raises(PermissionDenied):
        service.create_engine("x", "database", {"plugin": "memory"})
    # The identity that issued a lease may renew and revoke it; to another it does not exist.
    service.renew(creds.lease_id)
    with pytest.raises(LeaseNotFound):
        vault.as_identity("sa:other").revoke(creds.lease_id)
    service.revoke(creds.lease_id)


def test_revoke_grant_on_role_path_lets_others_revoke(vault):
    creds = vault.issue("mem", "readonly")
    vault.create_policy("ops", [{"path_pattern": "dynamic/engines/*/roles/**", "permissions": ["revoke"]}])
    vault.bind_policy("ops", "user:oncall")
    vault.as_identity("user:oncall").revoke(creds.lease_id)


def test_revoke_prefix_needs_revoke_on_the_engine(vault):
    vault.create_policy("reporting", GUIDE_POLICY)
    vault.bind_policy("reporting", "sa:reporting-service")
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:reporting-service").revoke_prefix("lease_", engine="mem")


def test_engine_identity_must_be_able_to_read_its_root_path(make_vault, target):
    vault = make_vault()
    vault.put_secret("infra/mem/root", {"username": "admin", "password": "s3cret-root"})
    with pytest.raises(InvalidConfig) as err:
        vault.create_engine("support-db", "database", {"plugin": "memory", "root_credentials_path": "infra/mem/root"})
    assert "dynamic:support-db" in err.value.message and "infra/mem/root" in err.value.message
    assert err.value.details["missing_grant"] == {
        "identity": "dynamic:support-db",
        "path": "infra/mem/root",
        "permission": "read",
    }
    vault.create_policy(
        "dynamic-engine-mem-root", [{"path_pattern": "infra/mem/root", "permissions": ["read", "rotate"]}]
    )
    vault.bind_policy("dynamic-engine-mem-root", "dynamic:support-db")
    vault.create_engine("support-db", "database", {"plugin": "memory", "root_credentials_path": "infra/mem/root"})


def test_secret_access_follows_policy_patterns(vault):
    vault.put_secret("apps/web/db", {"password": "pw-web-1234"})
    vault.create_policy("web", [{"path_pattern": "apps/*/db", "permissions": ["read"]}])
    vault.bind_policy("web", "sa:web")
    web = vault.as_identity("sa:web")
    assert web.get_secret("apps/web/db").data == {"password": "pw-web-1234"}
    with pytest.raises(PermissionDenied):
        web.put_secret("apps/web/db", {"password": "x"})


def test_tokens_map_to_identities_and_expire(vault, clock):
    token = vault.create_token("sa:reporting-service", ttl="1h")
    assert vault.authenticate(token["token"]).identity == "sa:reporting-service"
    clock.advance(3601)
    with pytest.raises(Unauthenticated):
        vault.authenticate(token["token"])
    with pytest.raises(Unauthenticated):
        vault.authenticate("svt.not-a-token")


def test_revoked_token_is_refused(vault):
    token = vault.create_token("sa:x")
    vault.revoke_token(token["accessor"])
    with pytest.raises(Unauthenticated):
        vault.authenticate(token["token"])


@pytest.mark.parametrize("pattern", ["", "a//b", "a/../b", "a/b c"])
def test_malformed_policy_patterns_are_refused(vault, pattern):
    with pytest.raises(InvalidConfig):
        vault.create_policy("p", [{"path_pattern": pattern, "permissions": ["read"]}])


def test_unknown_permission_is_refused(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_policy("p", [{"path_pattern": "a", "permissions": ["reed"]}])
    assert "reed" in err.value.message


# -- nobody hands out more than they hold ----------------------------------------------------------

EDITOR = [
    {"path_pattern": "sys/policies/team", "permissions": ["read", "update"]},
    {"path_pattern": "dynamic/engines/*", "permissions": ["read", "revoke"]},
]


def editor(vault):
    vault.create_policy("editor", EDITOR)
    vault.bind_policy("editor", "sa:editor")
    vault.create_policy("team", [{"path_pattern": "dynamic/engines/mem", "permissions": ["read"]}])
    return vault.as_identity("sa:editor")


def test_a_policy_editor_cannot_grant_what_it_does_not_hold(vault):
    ed = editor(vault)
    with pytest.raises(PermissionDenied) as err:
        ed.update_policy("team", [{"path_pattern": "**", "permissions": ["read"]}])
    assert err.value.details == {"identity": "sa:editor", "path": "**", "permission": "read"}
    with pytest.raises(PermissionDenied):  # 'dynamic/**' is more than 'dynamic/engines/*'
        ed.update_policy("team", [{"path_pattern": "dynamic/**", "permissions": ["read"]}])
    with pytest.raises(PermissionDenied):  # a permission it holds nowhere
        ed.update_policy("team", [{"path_pattern": "dynamic/engines/mem", "permissions": ["delete"]}])
    ed.update_policy("team", [{"path_pattern": "dynamic/engines/mem", "permissions": ["read", "revoke"]}])
    ed.bind_policy("team", "sa:editor")


def test_binding_needs_every_grant_of_the_policy(vault):
    ed = editor(vault)
    vault.create_policy("broad", [{"path_pattern": "secret/**", "permissions": ["read"]}])
    vault.create_policy("p2", [{"path_pattern": "sys/policies/*", "permissions": ["read", "update"]}])
    vault.bind_policy("p2", "sa:binder")
    binder = vault.as_identity("sa:binder")
    for name in ("broad", "root"):
        with pytest.raises(PermissionDenied):
            binder.bind_policy(name, "sa:binder")
    assert vault.list_bindings("broad") == []
    assert vault.list_bindings("root") == ["user:admin"]
    ed.bind_policy("team", "sa:someone")  # 'read' on dynamic/engines/mem: the editor holds it
    assert vault.list_bindings("team") == ["sa:someone"]


def test_deleting_an_engine_ends_its_identity(make_vault, target):
    vault = make_vault()
    vault.put_secret("infra/mem/root", {"username": "admin", "password": "s3cret-root"})
    vault.create_policy("mem-root", [{"path_pattern": "infra/mem/root", "permissions": ["read"]}])
    vault.bind_policy("mem-root", "dynamic:support-db")  # bound before the engine exists, as the guide does
    config = {"plugin": "memory", "root_credentials_path": "infra/mem/root"}
    vault.create_engine("support-db", "database", config)
    vault.delete_engine("support-db")
    assert vault.list_bindings("mem-root") == []
    with pytest.raises(InvalidConfig) as err:  # a new engine of the same name inherits nothing
        vault.create_engine("support-db", "database", config)
    assert err.value.details["missing_grant"]["identity"] == "dynamic:support-db"
    vault.bind_policy("mem-root", "dynamic:support-db")
    vault.create_engine("support-db", "database", config)
