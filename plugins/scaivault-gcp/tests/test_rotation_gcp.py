"""Root service-account key rotation against the double: keys.create now, keys.delete when the grace period ends."""

from __future__ import annotations

import json
import time

import google.auth.exceptions
import pytest

from scaivault_core import EngineError, PermissionDenied
from scaivault_core.testing import rotate_and_die
from scaivault_gcp import GcpEngine

ENGINE, ROOT_PATH = "prod-gcp", "infra/gcp/root"
NOT_YET = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}


def works(double, key_file: dict) -> bool:
    """Does Google's token endpoint take this key? Asked the way google-auth refreshes."""
    try:
        double.token(key_file)
        return True
    except google.auth.exceptions.RefreshError:
        return False


def root_keys(double) -> list[str]:
    return sorted(k.id for k in double.user_managed_keys(double.root_email))


def add_root_keys(double, count: int) -> list[str]:
    """Keys made for the root account through IAM, as an administrator would."""
    made = []
    with double.client() as http:
        for _ in range(count):
            response = http.post(
                f"/v1/projects/-/serviceAccounts/{double.root_email}/keys",
                headers={"Authorization": f"Bearer {double.token()}"},
                json={},
            )
            assert response.status_code == 200, response.text
            made.append(response.json()["name"].rsplit("/", 1)[-1])
    return made


@pytest.fixture
def rotating(gcp_vault, gcp_double):
    gcp_vault.create_role(
        ENGINE, "keys", secret_type="service_account_key", service_account_email=gcp_double.target_email
    )
    return gcp_vault


def test_with_a_grace_period_both_keys_work_until_it_ends(rotating, gcp_double, clock):
    vault, double = rotating, gcp_double
    before = vault.issue(ENGINE, "keys")
    old = vault.get_secret(ROOT_PATH).data

    version = vault.rotate_secret(ROOT_PATH, reason="scheduled", grace_period="1h")
    assert version.version == 2 and version.reason == "scheduled"
    new = vault.get_secret(ROOT_PATH).data
    # The same shape the engine reads: a service-account key file of the same account.
    assert new["type"] == "service_account" and new["client_email"] == old["client_email"] == double.root_email
    assert new["private_key_id"] != old["private_key_id"] and new["private_key"] != old["private_key"]
    assert root_keys(double) == sorted([old["private_key_id"], new["private_key_id"]])
    assert works(double, old) and works(double, new)

    # Leases from before the rotation renew and revoke with the new key.
    vault.renew(before.lease_id)
    vault.revoke(before.lease_id)
    assert before.data["key_id"] not in {k.id for k in double.user_managed_keys(double.target_email)}
    vault.revoke(vault.issue(ENGINE, "keys").lease_id)

    clock.advance(3601)
    assert vault._rotator.run_due() == 1  # what the worker thread runs
    assert not works(double, old) and works(double, new)
    assert root_keys(double) == [new["private_key_id"]]
    assert vault.list_secret_versions(ROOT_PATH)[0].retired_at is not None
    audit = json.dumps([e.to_dict() for _, e in vault.audit_log(limit=1000)])
    assert new["private_key"] not in audit and old["private_key"] not in audit


def test_a_root_key_kept_under_credentials_keeps_that_shape(vault_factory, configure, gcp_double):
    vault = vault_factory()
    configure(vault, gcp_double, root={"credentials": json.dumps(gcp_double.root_key_info), "note": "ops"})
    vault.rotate_secret(ROOT_PATH, grace_period="0")
    new = vault.get_secret(ROOT_PATH).data
    assert set(new) == {"credentials", "note"} and new["note"] == "ops"
    key_file = json.loads(new["credentials"])
    assert root_keys(gcp_double) == [key_file["private_key_id"]] != [gcp_double.root_key_id]
    assert works(gcp_double, key_file) and not works(gcp_double, gcp_double.root_key_info)
    vault.create_role(ENGINE, "keys", secret_type="service_account_key", service_account_email=gcp_double.target_email)
    vault.revoke(vault.issue(ENGINE, "keys").lease_id)


def test_rotation_at_googles_key_limit_is_refused_before_anything_changes(rotating, gcp_double):
    others = add_root_keys(gcp_double, 9)
    creates = len(gcp_double.requests_matching(r"/keys$", "POST"))
    with pytest.raises(EngineError) as caught:
        rotating.rotate_secret(ROOT_PATH, grace_period="0")
    message = caught.value.message
    assert "already has 10 user-managed keys" in message and all(k in message for k in others)
    assert caught.value.details["other_key_ids"] == sorted(others)
    assert len(root_keys(gcp_double)) == 10 and rotating.get_secret(ROOT_PATH).version == 1
    assert len(gcp_double.requests_matching(r"/keys$", "POST")) == creates  # Google was not even asked


def test_rotation_waits_until_google_takes_the_new_key(rotating, gcp_double):
    rotating.issue(ENGINE, "keys")  # the engine's own token is cached before the token endpoint fails
    gcp_double.fail_next(r"^/token$", status=400, count=2, body=NOT_YET)
    started = time.monotonic()
    rotating.rotate_secret(ROOT_PATH, grace_period="0")
    assert time.monotonic() - started >= 2
    assert root_keys(gcp_double) == [rotating.get_secret(ROOT_PATH).data["private_key_id"]]


def test_a_key_google_never_takes_is_deleted_and_the_old_one_stays(vault_factory, configure, gcp_double):
    vault = vault_factory()
    configure(vault, gcp_double, propagation_timeout=1)
    gcp_double.fail_next(r"^/token$", status=400, count=50, body=NOT_YET)
    with pytest.raises(EngineError) as caught:
        vault.rotate_secret(ROOT_PATH, grace_period="0")
    gcp_double.clear_faults()
    assert "old one stays in force" in caught.value.message and "deleted again" in caught.value.message
    assert root_keys(gcp_double) == [gcp_double.root_key_id] and vault.get_secret(ROOT_PATH).version == 1
    assert works(gcp_double, gcp_double.root_key_info)


def test_rotation_needs_the_rotate_grant(rotating, gcp_double):
    rotating.create_policy("reader", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
    rotating.bind_policy("reader", "sa:reader")
    with pytest.raises(PermissionDenied):
        rotating.as_identity("sa:reader").rotate_secret(ROOT_PATH)
    assert root_keys(gcp_double) == [gcp_double.root_key_id]


def _rotate_and_die(tmp_path, when: str) -> str:
    """Killed at ``when``; at ``before-recorded`` returns the id of the key Google made."""
    return rotate_and_die(tmp_path / "vault.db", GcpEngine, ROOT_PATH, when, report="private_key_id")


@pytest.mark.parametrize("when", ["before-target", "after-target"])
def test_a_crash_mid_rotation_leaves_a_working_vault(rotating, vault_factory, gcp_double, tmp_path, when):
    before = rotating.issue(ENGINE, "keys")
    rotating.close()
    _rotate_and_die(tmp_path, when)
    assert len(root_keys(gcp_double)) == 2  # Google has both; the store still only the old one

    restarted = vault_factory()  # start-up finishes the rotation
    current = restarted.get_secret(ROOT_PATH)
    assert current.version == 2 and current.data["private_key_id"] != gcp_double.root_key_id
    assert works(gcp_double, current.data) and not works(gcp_double, gcp_double.root_key_info)  # grace "0"
    assert root_keys(gcp_double) == [current.data["private_key_id"]]
    restarted.revoke(before.lease_id)
    restarted.revoke(restarted.issue(ENGINE, "keys").lease_id)


def test_a_key_made_before_the_vault_recorded_it_stays_and_is_named_at_the_limit(
    rotating, vault_factory, gcp_double, tmp_path
):
    rotating.close()
    stray = _rotate_and_die(tmp_path, "before-recorded")
    assert stray in root_keys(gcp_double)

    restarted = vault_factory()  # nothing was recorded: the old key is still the root credential
    assert restarted.get_secret(ROOT_PATH).version == 1
    restarted.revoke(restarted.issue(ENGINE, "keys").lease_id)
    add_root_keys(gcp_double, 8)
    with pytest.raises(EngineError) as caught:
        restarted.rotate_secret(ROOT_PATH)
    assert stray in caught.value.details["other_key_ids"]
