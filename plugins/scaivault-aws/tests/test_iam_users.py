"""iam_user credentials against moto with IAM enforcement on.

Where moto is more lenient than AWS, the tests say so and check that our code does what AWS
requires anyway:
- moto's DeleteUser succeeds while the user still has access keys, policies, group memberships,
  a login profile or MFA devices; AWS answers DeleteConflict. We check that every one of those is
  removed *before* DeleteUser is sent.
- moto ignores CreateUser's PermissionsBoundary (GetUser shows none); we check the request.
- moto has no ListServiceSpecificCredentials (it answers 500), so the DeleteConflict path that
  looks for service-specific credentials cannot run here.
"""

from __future__ import annotations

import json

import botocore.exceptions
import pytest

from scaivault_aws import (
    AwsBadCredentials,
    AwsConflict,
    AwsRequestRejected,
    InvalidField,
    create_iam_user,
    revoke_iam_user,
    verify,
    wait_for_propagation,
)

S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}
# What AWS requires gone before DeleteUser (API reference, DeleteUser).
DETACHING_CALLS = {
    "DeleteAccessKey",
    "DeleteLoginProfile",
    "DeleteSigningCertificate",
    "DeleteSSHPublicKey",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
    "DeleteUserPolicy",
    "DetachUserPolicy",
    "RemoveUserFromGroup",
}


def aws_error_code(call, *args, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.response["Error"]["Code"]


@pytest.fixture
def buckets(moto_enforcing):
    """Buckets `reports` and `other`, one object each, created with the admin key."""
    s3 = moto_enforcing.client("s3")
    for bucket in ("reports", "other"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="q1.csv", Body=b"a,b\n")
    return s3


def test_iam_user_keys_authenticate_and_the_policy_scopes_s3(moto_enforcing, buckets):
    creds = create_iam_user(moto_enforcing.clients, "v-s3-read-1", policy_document=S3_READ_REPORTS)
    assert creds.user_name == "v-s3-read-1"
    assert creds.principal_arn == "arn:aws:iam::123456789012:user/v-s3-read-1"
    assert creds.session_token is None
    assert set(creds.lease_data()) == {"access_key_id", "secret_access_key"}

    assert wait_for_propagation(moto_enforcing.target, creds, timeout=10) < 10
    identity = verify(moto_enforcing.clients_for(creds))
    assert identity.arn == creds.principal_arn

    s3 = moto_enforcing.client("s3", creds)
    assert s3.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"
    assert aws_error_code(s3.get_object, Bucket="other", Key="q1.csv") == "AccessDenied"
    assert aws_error_code(s3.put_object, Bucket="reports", Key="x", Body=b"") == "AccessDenied"
    assert aws_error_code(moto_enforcing.client("iam", creds).list_users) == "AccessDenied"


def test_all_settings_are_applied(moto_enforcing):
    admin_iam = moto_enforcing.client("iam")
    admin_iam.create_group(GroupName="readers")
    managed = admin_iam.create_policy(
        PolicyName="list-reports",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports"}],
            }
        ),
    )["Policy"]["Arn"]
    boundary = admin_iam.create_policy(
        PolicyName="boundary",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]

    sent = moto_enforcing.record_calls(moto_enforcing.clients.iam, with_params=True)
    create_iam_user(
        moto_enforcing.clients,
        "v-full-1",
        policy_document=S3_READ_REPORTS,
        policy_arns=[managed],
        groups=["readers"],
        permissions_boundary=boundary,
        path="/scaivault/",
        tags={"scaivault:lease": "lease_123"},
    )
    user = admin_iam.get_user(UserName="v-full-1")["User"]
    assert user["Path"] == "/scaivault/"
    # moto drops a user's permissions boundary, so check what we asked AWS for.
    assert sent[0] == (
        "CreateUser",
        {
            "UserName": "v-full-1",
            "Path": "/scaivault/",
            "PermissionsBoundary": boundary,
            "Tags": [{"Key": "scaivault:lease", "Value": "lease_123"}],
        },
    )
    assert {"Key": "scaivault:lease", "Value": "lease_123"} in user["Tags"]
    assert admin_iam.list_user_policies(UserName="v-full-1")["PolicyNames"] == ["scaivault"]
    attached = admin_iam.list_attached_user_policies(UserName="v-full-1")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [managed]
    groups = admin_iam.list_groups_for_user(UserName="v-full-1")["Groups"]
    assert [g["GroupName"] for g in groups] == ["readers"]
    assert len(admin_iam.list_access_keys(UserName="v-full-1")["AccessKeyMetadata"]) == 1


def test_revoke_removes_user_keys_and_policies_and_the_old_key_is_refused(moto_enforcing, buckets):
    admin_iam = moto_enforcing.client("iam")
    admin_iam.create_group(GroupName="readers")
    managed = admin_iam.create_policy(
        PolicyName="list-reports",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::reports"}],
            }
        ),
    )["Policy"]["Arn"]
    creds = create_iam_user(
        moto_enforcing.clients,
        "v-revoke-1",
        policy_document=S3_READ_REPORTS,
        policy_arns=[managed],
        groups=["readers"],
    )
    # Things an operator might have added by hand; AWS refuses DeleteUser until they are gone.
    admin_iam.create_login_profile(UserName="v-revoke-1", Password="Initial-passw0rd!")
    mfa = admin_iam.create_virtual_mfa_device(VirtualMFADeviceName="v-revoke-1")["VirtualMFADevice"]
    admin_iam.enable_mfa_device(
        UserName="v-revoke-1",
        SerialNumber=mfa["SerialNumber"],
        AuthenticationCode1="123456",
        AuthenticationCode2="654321",
    )
    admin_iam.create_access_key(UserName="v-revoke-1")  # a second key
    s3 = moto_enforcing.client("s3", creds)
    s3.get_object(Bucket="reports", Key="q1.csv")

    calls = moto_enforcing.record_calls(moto_enforcing.clients.iam)
    assert revoke_iam_user(moto_enforcing.clients, "v-revoke-1") is True

    # AWS's order, which moto does not enforce: everything detached, then DeleteUser, last.
    mutating = [c for c in calls if not c.startswith(("List", "Get"))]
    assert mutating[-1] == "DeleteUser" and mutating.count("DeleteUser") == 1
    assert set(mutating[:-1]) <= DETACHING_CALLS
    assert DETACHING_CALLS - {"DeleteSigningCertificate", "DeleteSSHPublicKey"} <= set(mutating)
    assert mutating.count("DeleteAccessKey") == 2
    assert mutating[0] == "DeleteAccessKey"  # the lease's access ends with the first change

    assert aws_error_code(admin_iam.get_user, UserName="v-revoke-1") == "NoSuchEntity"
    assert admin_iam.get_group(GroupName="readers")["Users"] == []
    entities = admin_iam.list_entities_for_policy(PolicyArn=managed)
    assert entities["PolicyUsers"] == []
    assert admin_iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []
    # The old key is refused outright: by S3 as an unknown key, by STS as a bad token.
    assert aws_error_code(s3.get_object, Bucket="reports", Key="q1.csv") == "InvalidAccessKeyId"
    with pytest.raises(AwsBadCredentials):
        verify(moto_enforcing.clients_for(creds))


def test_revoke_twice_and_revoke_of_an_unknown_user_succeed(moto_enforcing):
    create_iam_user(moto_enforcing.clients, "v-twice-1", policy_document=S3_READ_REPORTS)
    assert revoke_iam_user(moto_enforcing.clients, "v-twice-1") is True
    assert revoke_iam_user(moto_enforcing.clients, "v-twice-1") is False
    assert revoke_iam_user(moto_enforcing.clients, "v-never-existed") is False


def test_a_failed_step_after_create_user_removes_the_half_created_user(moto_enforcing):
    admin_iam = moto_enforcing.client("iam")
    with pytest.raises(AwsRequestRejected) as caught:
        create_iam_user(
            moto_enforcing.clients,
            "v-half-1",
            policy_document=S3_READ_REPORTS,
            groups=["no-such-group"],
        )
    assert caught.value.operation == "AddUserToGroup" and caught.value.code == "NoSuchEntity"
    assert aws_error_code(admin_iam.get_user, UserName="v-half-1") == "NoSuchEntity"


def test_an_existing_user_of_the_same_name_is_left_alone(moto_enforcing):
    admin_iam = moto_enforcing.client("iam")
    admin_iam.create_user(UserName="v-taken-1")
    admin_iam.create_access_key(UserName="v-taken-1")
    with pytest.raises(AwsConflict) as caught:
        create_iam_user(moto_enforcing.clients, "v-taken-1", policy_document=S3_READ_REPORTS)
    assert caught.value.code == "EntityAlreadyExists"
    # Not ours: no cleanup may touch it.
    assert len(admin_iam.list_access_keys(UserName="v-taken-1")["AccessKeyMetadata"]) == 1


def test_invalid_settings_fail_before_any_call(moto_enforcing):
    calls = moto_enforcing.record_calls(moto_enforcing.clients.iam)
    with pytest.raises(InvalidField) as caught:
        create_iam_user(moto_enforcing.clients, "v" * 65, policy_document=S3_READ_REPORTS)
    assert caught.value.field == "user_name"
    with pytest.raises(InvalidField) as caught:
        create_iam_user(moto_enforcing.clients, "v-bad-1", policy_document={"Statement": []})
    assert caught.value.field == "policy_document.Version"
    assert calls == []
