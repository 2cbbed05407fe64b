"""The `aws` engine's iam_user leases through a real Vault, against moto with IAM enforcement on.

moto leniencies met here (our code does what AWS requires regardless; the building-block tests
in test_iam_users.py check the call order):
- moto's DeleteUser succeeds while keys, policies or groups remain (AWS: DeleteConflict).
- moto evaluates the policies of the key that signs a request but does not require iam:TagUser
  for CreateUser with Tags, as AWS does; docs/engines/aws.md lists it among the root's permissions.
"""

from __future__ import annotations

import json

import pytest

from scaivault_aws import AwsBadCredentials, verify
from scaivault_core import EngineError, InvalidRequest, LeaseState

ENGINE = "aws"

S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


@pytest.fixture
def buckets(moto_enforcing):
    """Buckets `reports` and `other` with one object each, made with the admin key."""
    s3 = moto_enforcing.client("s3")
    for bucket in ("reports", "other"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="q1.csv", Body=b"a,b\n")


@pytest.fixture
def vault(make_vault, moto_enforcing, kit):
    """A vault with engine `aws` on the enforcing moto and the guide's `s3-read` role."""
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing)
    vault.create_role(
        ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS, default_ttl="30m", max_ttl="2h"
    )
    return vault


def test_lease_keys_authenticate_and_the_policy_allows_only_the_prefix(kit, vault, moto_enforcing, buckets):
    issued = vault.issue(ENGINE, "s3-read")
    assert issued.lease_id.startswith("lease_aws_")
    assert set(issued.data) == {"access_key_id", "secret_access_key", "arn"}
    body = issued.to_dict()
    assert body["renewable"] is True and body["lease_duration"] == "30m"
    user = issued.lease.subject
    assert user.startswith("v_s3_read_") and len(user) <= 64
    assert issued.data["arn"] == f"arn:aws:iam::123456789012:user/{user}"

    creds = kit.credentials_of(issued.data)
    assert verify(moto_enforcing.clients_for(creds)).arn == issued.data["arn"]
    s3 = moto_enforcing.client("s3", creds)
    assert s3.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"
    assert kit.error_code(s3.get_object, Bucket="other", Key="q1.csv") == "AccessDenied"
    assert kit.error_code(s3.put_object, Bucket="reports", Key="new.csv", Body=b"") == "AccessDenied"

    admin = moto_enforcing.client("iam")
    tags = {t["Key"]: t["Value"] for t in admin.get_user(UserName=user)["User"]["Tags"]}
    assert tags == {"scaivault:lease": issued.lease_id, "scaivault:engine": ENGINE}


def test_revoke_removes_the_user_its_keys_and_policies(kit, vault, moto_enforcing, buckets):
    admin = moto_enforcing.client("iam")
    admin.create_group(GroupName="readers")
    managed = admin.create_policy(
        PolicyName="list-reports",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports"}],
            }
        ),
    )["Policy"]["Arn"]
    vault.create_role(
        ENGINE,
        "full",
        credential_type="iam_user",
        policy_document=S3_READ_REPORTS,
        policy_arns=[managed],
        groups=["readers"],
        path="/scaivault/",
        tags={"team": "reports"},
    )
    issued = vault.issue(ENGINE, "full")
    user = issued.lease.subject
    assert admin.get_user(UserName=user)["User"]["Path"] == "/scaivault/"
    assert admin.list_user_policies(UserName=user)["PolicyNames"] == ["scaivault"]
    assert [g["GroupName"] for g in admin.list_groups_for_user(UserName=user)["Groups"]] == ["readers"]
    s3 = moto_enforcing.client("s3", kit.credentials_of(issued.data))
    s3.get_object(Bucket="reports", Key="q1.csv")

    lease = vault.revoke(issued.lease_id)

    assert lease.state == LeaseState.REVOKED
    assert kit.error_code(admin.get_user, UserName=user) == "NoSuchEntity"
    assert kit.error_code(admin.list_access_keys, UserName=user) == "NoSuchEntity"
    assert kit.error_code(admin.list_user_policies, UserName=user) == "NoSuchEntity"
    assert admin.list_entities_for_policy(PolicyArn=managed)["PolicyUsers"] == []
    assert admin.get_group(GroupName="readers")["Users"] == []  # the group itself stays
    assert kit.error_code(s3.get_object, Bucket="reports", Key="q1.csv") == "InvalidAccessKeyId"
    with pytest.raises(AwsBadCredentials):
        verify(moto_enforcing.clients_for(kit.credentials_of(issued.data)))
    assert kit.user_names(moto_enforcing) == []


def test_expiry_deletes_the_user_and_renewal_extends_the_lease(kit, vault, moto_enforcing):
    first = vault.issue(ENGINE, "s3-read", ttl="30m")
    second = vault.issue(ENGINE, "s3-read", ttl="30m")
    renewed = vault.renew(second.lease_id, "1h")
    assert renewed.lease.renewable and renewed.lease.lease_duration == 90 * 60
    assert len(kit.user_names(moto_enforcing)) == 2

    vault.clock.advance(31 * 60)
    assert vault.expire_due() == 1
    assert vault.lookup(first.lease_id).state == LeaseState.REVOKED
    assert kit.user_names(moto_enforcing) == [second.lease.subject]

    vault.clock.advance(60 * 60)
    vault.expire_due()
    assert kit.user_names(moto_enforcing) == []


def test_several_leases_expire_in_one_batch(kit, vault, moto_enforcing):
    leases = [vault.issue(ENGINE, "s3-read") for _ in range(6)]
    vault.clock.advance(31 * 60)
    assert vault.expire_due() == 6
    assert {vault.lookup(lease.lease_id).state for lease in leases} == {LeaseState.REVOKED}
    assert kit.user_names(moto_enforcing) == []


def test_a_user_deleted_out_of_band_counts_as_revoked(vault, moto_enforcing):
    issued = vault.issue(ENGINE, "s3-read")
    admin = moto_enforcing.client("iam")
    user = issued.lease.subject
    key = admin.list_access_keys(UserName=user)["AccessKeyMetadata"][0]["AccessKeyId"]
    admin.delete_access_key(UserName=user, AccessKeyId=key)
    admin.delete_user_policy(UserName=user, PolicyName="scaivault")
    admin.delete_user(UserName=user)
    assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED
    assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED  # idempotent


def test_revoke_leaves_a_namesake_that_is_not_the_leases_user_alone(kit, vault, moto_enforcing):
    # What an EntityAlreadyExists on CreateUser leaves: the planned name belongs to someone else.
    admin = moto_enforcing.client("iam")
    admin.create_user(UserName="v_s3_read_namesake0000")
    handle = {"credential_type": "iam_user", "user_name": "v_s3_read_namesake0000", "lease_id": "lease_aws_notthisone"}
    kit.live_engine(vault).revoke(handle)
    assert kit.user_names(moto_enforcing) == ["v_s3_read_namesake0000"]


def test_a_failed_step_after_create_user_leaves_no_user_and_rolls_the_intent_back(kit, vault, moto_enforcing):
    vault.create_role(
        ENGINE, "bad-group", credential_type="iam_user", policy_document=S3_READ_REPORTS, groups=["no-such-group"]
    )
    with pytest.raises(EngineError) as caught:
        vault.issue(ENGINE, "bad-group")
    assert caught.value.details["aws_code"] == "NoSuchEntity"
    assert caught.value.details["operation"] == "AddUserToGroup"
    assert kit.user_names(moto_enforcing) == []
    [lease] = vault.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.ROLLED_BACK


def test_wait_for_propagation_returns_once_the_key_is_accepted(kit, vault, moto_enforcing):
    issued = vault.issue(ENGINE, "s3-read", wait_for_propagation=True)
    assert issued.data["propagated"] is True
    assert 0 <= issued.data["propagation_seconds"] < 5
    verify(moto_enforcing.clients_for(kit.credentials_of(issued.data)))


def test_wait_for_propagation_must_be_a_boolean(vault):
    with pytest.raises(InvalidRequest) as caught:
        vault.issue(ENGINE, "s3-read", wait_for_propagation="false")
    assert "wait_for_propagation" in caught.value.message
    with pytest.raises(InvalidRequest):
        vault.issue(ENGINE, "s3-read", role_arn="arn:aws:iam::123456789012:role/x")
    assert vault.list_leases(engine=ENGINE) == []  # refused before any intent


def test_a_key_not_accepted_in_time_is_still_leased_with_a_warning(kit, make_vault, moto, moto_enforcing):
    # IAM on the plain server, STS on the enforcing one: the enforcing STS accepts the root key
    # (its admin's) but never learns the new user's key, which is what a slow propagation looks
    # like from the outside.
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing, iam_endpoint=moto.url, propagation_timeout=2)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS)
    issued = vault.issue(ENGINE, "s3-read", wait_for_propagation=True)
    assert issued.data["propagated"] is False
    assert "retry on first use" in issued.data["warning"]
    assert issued.data["secret_access_key"] not in issued.data["warning"]
    assert vault.lookup(issued.lease_id).state == LeaseState.ACTIVE
    assert kit.user_names(moto) == [issued.lease.subject]
    vault.revoke(issued.lease_id)
    assert kit.user_names(moto) == []
