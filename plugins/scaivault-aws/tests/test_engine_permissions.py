"""The root key policy in docs/engines/aws.md is enough for everything the engine does.

The engine runs on enforcing moto with a root key whose only policy is the documented one. moto
evaluates IAM actions but not IAM resource ARNs (every IAM request is matched against `*`), so the
documented statements are used with their resources widened to `*`; separately, every operation the
engine's clients send is checked against the documented action list.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaivault_aws import AwsCredentials, verify
from scaivault_core import EngineError

ENGINE = "aws"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "engines" / "aws.md"
S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def documented_policy() -> dict:
    """The first JSON block under "Permissions the root key needs" in the engine's docs."""
    section = DOCS.read_text().split("### Permissions the root key needs", 1)[1]
    return json.loads(section.split("```json", 1)[1].split("```", 1)[0])


def documented_actions() -> set[str]:
    return {a for s in documented_policy()["Statement"] for a in _actions(s)}


def _actions(statement: dict) -> list[str]:
    return [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]


def engine_user(account, without: tuple[str, ...] = ()) -> AwsCredentials:
    """An IAM user with the documented policy (resources widened, `without` actions removed)."""
    statements = [
        {**s, "Resource": "*", "Action": [a for a in _actions(s) if a not in without]}
        for s in documented_policy()["Statement"]
    ]
    iam = account.client("iam")
    iam.create_user(UserName="scaivault-engine")
    iam.put_user_policy(
        UserName="scaivault-engine",
        PolicyName="engine",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName="scaivault-engine")["AccessKey"]
    return AwsCredentials(key["AccessKeyId"], key["SecretAccessKey"])


def test_the_documented_policy_covers_every_credential_type(kit, make_vault, moto_enforcing):
    root = engine_user(moto_enforcing)
    admin = moto_enforcing.client("iam")
    admin.create_group(GroupName="readers")
    boundary = admin.create_policy(
        PolicyName="boundary",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    engine_arn = verify(moto_enforcing.clients_for(root)).arn
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": engine_arn}, "Action": "sts:AssumeRole"}],
    }
    role_arn = admin.create_role(RoleName="deployer", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

    vault = make_vault()
    kit.add_engine(vault, moto_enforcing, root=root)
    clients = kit.live_engine(vault).clients()
    iam_calls = moto_enforcing.record_calls(clients.iam)
    sts_calls = moto_enforcing.record_calls(clients.sts)
    vault.create_role(
        ENGINE,
        "full",
        credential_type="iam_user",
        policy_document=S3_READ_REPORTS,
        policy_arns=[boundary],
        groups=["readers"],
        permissions_boundary=boundary,
        path="/scaivault/",
        tags={"team": "reports"},
    )
    vault.create_role(ENGINE, "deploy", credential_type="assumed_role", role_arns=[role_arn])
    vault.create_role(ENGINE, "fed", credential_type="federation_token", policy_document=S3_READ_REPORTS)

    user_lease = vault.issue(ENGINE, "full", wait_for_propagation=True)
    assert user_lease.data["propagated"] is True
    # An MFA device an operator added by hand: revocation must be allowed to remove it.
    mfa = admin.create_virtual_mfa_device(VirtualMFADeviceName="m")["VirtualMFADevice"]["SerialNumber"]
    admin.enable_mfa_device(
        UserName=user_lease.lease.subject, SerialNumber=mfa, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    vault.revoke(user_lease.lease_id)
    assert kit.user_names(moto_enforcing) == ["scaivault-engine"]

    vault.revoke(vault.issue(ENGINE, "deploy").lease_id)
    vault.revoke(vault.issue(ENGINE, "fed").lease_id)
    assert vault.reconcile(ENGINE)["orphans"] == []
    # Rotation acts on the engine's own user: a new key, the old one deleted.
    vault.rotate_secret(kit.ROOT_PATH, grace_period="0")
    vault.revoke(vault.issue(ENGINE, "full").lease_id)

    used = {f"iam:{op}" for op in iam_calls} | {f"sts:{op}" for op in sts_calls}
    used.discard("sts:GetCallerIdentity")  # allowed to every key; no policy can deny it
    assert used <= documented_actions(), used - documented_actions()
    assert {
        "iam:CreateUser",
        "iam:DeleteUser",
        "iam:DeleteVirtualMFADevice",
        "iam:GetRole",
        "iam:ListUsers",
        "sts:AssumeRole",
        "sts:GetFederationToken",
    } <= used


def test_a_missing_permission_is_an_engine_error_naming_the_operation(kit, make_vault, moto_enforcing):
    root = engine_user(moto_enforcing, without=("iam:CreateAccessKey",))
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing, root=root)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS)
    with pytest.raises(EngineError) as caught:
        vault.issue(ENGINE, "s3-read")
    assert caught.value.details == {"aws_code": "AccessDenied", "operation": "CreateAccessKey"}
    assert "grant it in their IAM policy" in caught.value.message
    assert root.secret_access_key not in caught.value.message
    # The half-created user was removed with the permissions the key does have.
    assert kit.user_names(moto_enforcing) == ["scaivault-engine"]
