"""Root client secret rotation against the double: addPassword now, removePassword when the grace period ends."""

from __future__ import annotations

import json
import time

import pytest

from scaivault_azure import AzureEngine
from scaivault_core import EngineError, InvalidConfig, PermissionDenied
from scaivault_core.testing import rotate_and_die

ENGINE, ROOT_PATH = "prod-azure", "infra/azure/root"
SCOPE = "https://graph.microsoft.com/.default"


def token_status(double, client_id: str, client_secret: str) -> int:
    """The token endpoint's status for these client credentials (200: they work)."""
    with double.client() as http:
        return http.post(
            double.token_url,
            data={
                "grant_type": "client_credentials",
                "scope": SCOPE,
                "client_id": client_id,
                "client_secret": client_secret,
            },
        ).status_code


def root_secrets(double) -> dict[str, str | None]:
    """keyId -> displayName of the root application's secrets."""
    return {k: p.display_name for k, p in double.application(double.root_client_id).passwords.items()}


def add_root_secret(double, name: str) -> dict:
    """A secret added to the root application through Graph, as an administrator would."""
    with double.client() as http:
        response = http.post(
            f"/v1.0/applications(appId='{double.root_client_id}')/addPassword",
            headers={"Authorization": f"Bearer {double.token()}"},
            json={"passwordCredential": {"displayName": name}},
        )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def rotating(azure_vault, azure_double):
    """The configured vault with a role adding secrets to the existing application."""
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    return azure_vault


def test_with_a_grace_period_both_secrets_work_until_it_ends(rotating, azure_double, clock):
    vault, double = rotating, azure_double
    before = vault.issue(ENGINE, "existing")
    old = vault.get_secret(ROOT_PATH).data

    version = vault.rotate_secret(ROOT_PATH, reason="incident response", grace_period="1h")
    assert version.version == 2 and version.reason == "incident response" and version.data is None
    new = vault.get_secret(ROOT_PATH).data
    assert new["client_id"] == old["client_id"] and new["client_secret"] != old["client_secret"]
    assert new["generation"] == 1 and root_secrets(double) == {
        double.root_secret_key_id: "root",
        new["key_id"]: "scaivault-root-prod-azure-1",
    }
    assert token_status(double, old["client_id"], old["client_secret"]) == 200
    assert token_status(double, new["client_id"], new["client_secret"]) == 200
    assert vault.get_secret(ROOT_PATH, 1).data == old  # the previous version stays readable

    # Leases from before the rotation renew and revoke with the new root secret.
    vault.renew(before.lease_id)
    vault.revoke(before.lease_id)
    assert token_status(double, before.data["client_id"], before.data["client_secret"]) == 401
    vault.revoke(vault.issue(ENGINE, "existing").lease_id)

    clock.advance(3599)
    assert vault._rotator.run_due() == 0
    clock.advance(2)
    assert vault._rotator.run_due() == 1  # what the worker thread runs
    assert token_status(double, old["client_id"], old["client_secret"]) == 401
    assert token_status(double, new["client_id"], new["client_secret"]) == 200
    assert root_secrets(double) == {new["key_id"]: "scaivault-root-prod-azure-1"}
    history = vault.list_secret_versions(ROOT_PATH)
    assert history[0].retired_at is not None and history[1].retired_at is None
    audit = json.dumps([e.to_dict() for _, e in vault.audit_log(limit=1000)])
    assert new["client_secret"] not in audit and old["client_secret"] not in audit


def test_grace_zero_removes_the_old_secret_at_once_and_generations_count_up(rotating, azure_double):
    vault, double = rotating, azure_double
    old = vault.get_secret(ROOT_PATH).data
    vault.rotate_secret(ROOT_PATH, grace_period="0")
    first = vault.get_secret(ROOT_PATH).data
    assert token_status(double, old["client_id"], old["client_secret"]) == 401
    vault.rotate_secret(ROOT_PATH, grace_period="0")
    second = vault.get_secret(ROOT_PATH).data
    assert second["generation"] == 2
    assert root_secrets(double) == {second["key_id"]: "scaivault-root-prod-azure-2"}
    assert token_status(double, first["client_id"], first["client_secret"]) == 401
    vault.revoke(vault.issue(ENGINE, "existing").lease_id)


def test_a_key_id_naming_another_secret_is_refused_before_anything_changes(vault_factory, configure, azure_double):
    other = add_root_secret(azure_double, "someone else's")
    vault = vault_factory()
    configure(
        vault,
        azure_double,
        root={
            "client_id": azure_double.root_client_id,
            "client_secret": azure_double.root_client_secret,
            "tenant_id": azure_double.tenant_id,
            "key_id": other["keyId"],
        },
    )
    with pytest.raises(InvalidConfig) as caught:
        vault.rotate_secret(ROOT_PATH, grace_period="0")
    assert caught.value.details["field"] == "root_credentials.key_id"
    assert set(root_secrets(azure_double)) == {azure_double.root_secret_key_id, other["keyId"]}
    assert vault.get_secret(ROOT_PATH).version == 1


def test_a_recorded_key_id_is_what_retirement_removes(vault_factory, configure, azure_double):
    other = add_root_secret(azure_double, "an operator's")
    vault = vault_factory()
    configure(
        vault,
        azure_double,
        root={
            "client_id": azure_double.root_client_id,
            "client_secret": azure_double.root_client_secret,
            "tenant_id": azure_double.tenant_id,
            "key_id": azure_double.root_secret_key_id,
        },
    )
    vault.rotate_secret(ROOT_PATH, grace_period="0")
    new = vault.get_secret(ROOT_PATH).data
    assert set(root_secrets(azure_double)) == {new["key_id"], other["keyId"]}  # only the old root secret went


def test_a_secret_entra_never_accepts_is_removed_and_the_old_one_stays(rotating, azure_double, engine_config):
    vault, double = rotating, azure_double
    vault.update_engine(ENGINE, "azure", engine_config(double, propagation_timeout=1), "1h", "24h")
    double.propagation_delay = 30  # longer than the engine waits
    with pytest.raises(EngineError) as caught:
        vault.rotate_secret(ROOT_PATH, grace_period="0")
    assert "old one stays in force" in caught.value.message and "removed again" in caught.value.message
    assert root_secrets(double) == {double.root_secret_key_id: "root"}
    assert vault.get_secret(ROOT_PATH).version == 1
    vault.revoke(vault.issue(ENGINE, "existing").lease_id)


def test_rotation_waits_for_the_new_secret_to_replicate(rotating, azure_double):
    azure_double.propagation_delay = 1.5
    started = time.monotonic()
    rotating.rotate_secret(ROOT_PATH, grace_period="0")
    assert time.monotonic() - started >= 1.5
    new = rotating.get_secret(ROOT_PATH).data
    assert token_status(azure_double, new["client_id"], new["client_secret"]) == 200


def test_rotation_needs_the_rotate_grant(rotating, azure_double):
    rotating.create_policy("reader", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
    rotating.bind_policy("reader", "sa:reader")
    with pytest.raises(PermissionDenied):
        rotating.as_identity("sa:reader").rotate_secret(ROOT_PATH)
    assert root_secrets(azure_double) == {azure_double.root_secret_key_id: "root"}


def _rotate_and_die(tmp_path, when: str) -> None:
    rotate_and_die(tmp_path / "vault.db", AzureEngine, ROOT_PATH, when)


@pytest.mark.parametrize("when", ["before-target", "after-target"])
def test_a_crash_mid_rotation_leaves_a_working_vault(rotating, vault_factory, azure_double, tmp_path, when):
    before = rotating.issue(ENGINE, "existing")
    old = rotating.get_secret(ROOT_PATH).data
    rotating.close()
    _rotate_and_die(tmp_path, when)
    assert len(root_secrets(azure_double)) == 2  # Entra has both; the store still only the old one

    restarted = vault_factory()  # start-up finishes the rotation
    current = restarted.get_secret(ROOT_PATH).data
    assert current["generation"] == 1 and restarted.get_secret(ROOT_PATH).version == 2
    assert token_status(azure_double, current["client_id"], current["client_secret"]) == 200
    assert token_status(azure_double, old["client_id"], old["client_secret"]) == 401  # grace "0"
    assert root_secrets(azure_double) == {current["key_id"]: "scaivault-root-prod-azure-1"}
    restarted.revoke(before.lease_id)
    restarted.revoke(restarted.issue(ENGINE, "existing").lease_id)


def test_a_secret_minted_before_the_vault_recorded_it_is_removed_by_the_next_rotation(
    rotating, vault_factory, azure_double, tmp_path
):
    rotating.close()
    _rotate_and_die(tmp_path, "before-recorded")
    [stray] = [k for k, name in root_secrets(azure_double).items() if name == "scaivault-root-prod-azure-1"]

    restarted = vault_factory()  # nothing was recorded: the old secret is still the root credential
    assert restarted.get_secret(ROOT_PATH).version == 1
    restarted.revoke(restarted.issue(ENGINE, "existing").lease_id)
    restarted.rotate_secret(ROOT_PATH, grace_period="0")
    current = restarted.get_secret(ROOT_PATH).data
    assert current["key_id"] != stray
    assert root_secrets(azure_double) == {current["key_id"]: "scaivault-root-prod-azure-1"}
