"""Rotating the engine's own access key, and reconciling IAM users no lease accounts for.

Against enforcing moto, so an old key that was deleted is refused and an engine still signing with
it would fail.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from scaivault_aws import AwsBadCredentials, AwsCredentials, verify
from scaivault_core import EngineError, InvalidConfig, InvalidRequest
from scaivault_core.testing import TCPProxy

ENGINE = "aws"
HOST = "127.0.0.1"
ADMIN = "scaivault-admin"
S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


@pytest.fixture
def vault(make_vault, moto_enforcing, kit):
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS)
    return vault


def admin_keys(account, signer: dict | None = None) -> list[str]:
    """The admin user's access key ids, asked with `signer` (the current root key) or the original."""
    creds = AwsCredentials(signer["access_key_id"], signer["secret_access_key"]) if signer else None
    answer = account.client("iam", creds).list_access_keys(UserName=ADMIN)
    return [k["AccessKeyId"] for k in answer["AccessKeyMetadata"]]


def test_rotation_replaces_the_access_key_and_deletes_the_old_one(kit, vault, moto_enforcing):
    before = vault.issue(ENGINE, "s3-read")
    old = moto_enforcing.root

    version = vault.rotate_secret(kit.ROOT_PATH, reason="test", grace_period="0")

    new = vault.get_secret(kit.ROOT_PATH).data
    assert version.version == 2 and new["access_key_id"] != old.access_key_id
    assert admin_keys(moto_enforcing, new) == [new["access_key_id"]]
    with pytest.raises(AwsBadCredentials):
        verify(moto_enforcing.clients_for(old))
    # The engine signs with the new key: leases from before the rotation revoke, new ones issue.
    vault.revoke(before.lease_id)
    vault.revoke(vault.issue(ENGINE, "s3-read").lease_id)
    users = moto_enforcing.client("iam", AwsCredentials(new["access_key_id"], new["secret_access_key"]))
    assert [u["UserName"] for u in users.list_users()["Users"]] == [ADMIN]


def test_with_a_grace_period_both_keys_work_until_it_ends(kit, vault, moto_enforcing):
    old = moto_enforcing.root
    vault.rotate_secret(kit.ROOT_PATH, grace_period="1h")
    new = vault.get_secret(kit.ROOT_PATH).data
    assert sorted(admin_keys(moto_enforcing)) == sorted([old.access_key_id, new["access_key_id"]])
    verify(moto_enforcing.clients_for(old))

    vault.clock.advance(3601)
    assert vault._rotator.run_due() == 1  # what the worker thread runs
    assert admin_keys(moto_enforcing, new) == [new["access_key_id"]]
    verify(moto_enforcing.clients_for(AwsCredentials(new["access_key_id"], new["secret_access_key"])))


def test_a_user_with_two_keys_already_is_refused_before_anything_changes(kit, vault, moto_enforcing):
    stray = moto_enforcing.client("iam").create_access_key(UserName=ADMIN)["AccessKey"]["AccessKeyId"]
    with pytest.raises(InvalidConfig) as caught:
        vault.rotate_secret(kit.ROOT_PATH)
    assert stray in caught.value.message and "delete the one not in use" in caught.value.message
    assert len(admin_keys(moto_enforcing)) == 2
    assert vault.get_secret(kit.ROOT_PATH).version == 1


def test_a_new_key_aws_cannot_confirm_is_deleted_again(kit, make_vault, moto_enforcing):
    # STS behind a proxy that is stopped after the engine was created: CreateAccessKey (IAM)
    # succeeds, the wait for the new key (STS) cannot, and the old key must stay the only one.
    with TCPProxy((HOST, urlsplit(moto_enforcing.url).port)).start() as proxy:
        vault = make_vault()
        sts = f"http://{proxy.address[0]}:{proxy.address[1]}"
        kit.add_engine(vault, moto_enforcing, sts_endpoint=sts, propagation_timeout=1)
        proxy.stop()
        with pytest.raises(EngineError) as caught:
            vault.rotate_secret(kit.ROOT_PATH)
    assert "old one stays in force" in caught.value.message
    assert admin_keys(moto_enforcing) == [moto_enforcing.root.access_key_id]
    assert vault.get_secret(kit.ROOT_PATH).version == 1


def test_reconcile_finds_only_this_engines_users_without_a_lease(kit, vault, moto_enforcing):
    live = vault.issue(ENGINE, "s3-read")
    admin = moto_enforcing.client("iam")
    tagged = [{"Key": "scaivault:engine", "Value": ENGINE}, {"Key": "scaivault:lease", "Value": "lease_aws_x"}]
    admin.create_user(UserName="v_s3_read_leftover0001", Tags=tagged)
    admin.create_access_key(UserName="v_s3_read_leftover0001")
    admin.create_user(UserName="v_someone_elses_user")  # no tag: not ours
    admin.create_user(UserName="v_other_engine_user", Tags=[{"Key": "scaivault:engine", "Value": "aws-eu"}])

    report = vault.reconcile(ENGINE)
    assert report["orphans"] == ["v_s3_read_leftover0001"]
    report = vault.reconcile(ENGINE, revoke=True)
    assert report["revoked"] == ["v_s3_read_leftover0001"] and report["failed"] == []
    assert kit.user_names(moto_enforcing) == sorted([live.lease.subject, "v_someone_elses_user", "v_other_engine_user"])

    with pytest.raises(InvalidRequest):
        kit.live_engine(vault).revoke_subject("v_someone_elses_user")
