"""The `aws` engine's assumed_role and federation_token leases through a real Vault.

moto leniencies met here, with what our code does instead:
- AssumeRole of a role that does not exist succeeds in moto: the engine reads the role with
  GetRole at role creation (and for each TTL limit) and refuses a missing one.
- AssumeRole above the role's MaxSessionDuration succeeds in moto (AWS fails): the engine's
  LeaseLimits carry the role's maximum, and the core refuses a longer ttl before AWS is called.
- With enforcement on, moto refuses the credentials GetFederationToken returns, so federation
  tokens are tested against the plain server, where only their shape and the STS call are checked.
"""

from __future__ import annotations

import json

import pytest

from scaivault_aws import verify
from scaivault_core import InvalidConfig, InvalidRequest, LeaseState, TTLExceedsMax

ENGINE = "aws"
S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def make_role(account, name: str, max_session: int | None = None) -> str:
    """An IAM role the engine's admin may assume, allowed to read reports/*; returns its ARN."""
    iam = account.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": verify(account.clients).arn}, "Action": "sts:AssumeRole"}
        ],
    }
    extra = {"MaxSessionDuration": max_session} if max_session else {}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(S3_READ_REPORTS))
    return arn


@pytest.fixture
def buckets(moto_enforcing):
    s3 = moto_enforcing.client("s3")
    for bucket in ("reports", "other"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="q1.csv", Body=b"a,b\n")


@pytest.fixture
def vault(make_vault, moto_enforcing, kit):
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing)
    return vault


def test_assumed_role_lease_returns_working_session_credentials(kit, vault, moto_enforcing, buckets):
    role_arn = make_role(moto_enforcing, "reports-reader", max_session=7200)
    vault.create_role(ENGINE, "reader", credential_type="assumed_role", role_arns=[role_arn])
    issued = vault.issue(ENGINE, "reader", ttl="2h")

    assert set(issued.data) == {"access_key_id", "secret_access_key", "session_token", "arn"}
    assert issued.data["arn"].endswith(f":assumed-role/reports-reader/{issued.lease_id}")
    assert issued.lease.subject == issued.data["arn"]
    body = issued.to_dict()
    assert body["renewable"] is False and body["lease_duration"] == "2h"

    creds = kit.credentials_of(issued.data)
    assert verify(moto_enforcing.clients_for(creds)).kind == "assumed-role"
    s3 = moto_enforcing.client("s3", creds)
    assert s3.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"
    assert kit.error_code(s3.get_object, Bucket="other", Key="q1.csv") == "AccessDenied"

    with pytest.raises(InvalidRequest) as caught:
        vault.renew(issued.lease_id, "1h")
    assert "not renewable" in caught.value.message

    # Revoking ends the lease, not the session: AWS has no call that revokes one session's
    # credentials, so they keep working until STS's own expiry (docs/engines/aws.md says so).
    assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED
    assert s3.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"


def test_assumed_role_ttl_is_bounded_by_the_roles_max_session_duration(vault, moto_enforcing):
    role_arn = make_role(moto_enforcing, "short")  # MaxSessionDuration defaults to 1 hour
    vault.create_role(ENGINE, "short", credential_type="assumed_role", role_arns=[role_arn])

    with pytest.raises(TTLExceedsMax) as caught:
        vault.issue(ENGINE, "short", ttl="2h")
    assert caught.value.code == "ttl_exceeds_max"
    assert f"MaxSessionDuration of {role_arn}" in caught.value.message
    assert caught.value.details == {"ttl": "2h", "max_ttl": "1h"}
    with pytest.raises(InvalidRequest) as caught:
        vault.issue(ENGINE, "short", ttl="10m")
    assert "15m" in caught.value.message
    assert vault.list_leases(engine=ENGINE) == []

    # Without a ttl the engine's default (1h) applies, which is within the role's limit.
    assert vault.issue(ENGINE, "short").to_dict()["lease_duration"] == "1h"


def test_session_policy_narrows_the_assumed_role(kit, vault, moto_enforcing, buckets):
    role_arn = make_role(moto_enforcing, "reports-reader")
    only_q1 = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/q1.csv"}],
    }
    vault.create_role(
        ENGINE, "narrow", credential_type="assumed_role", role_arns=[role_arn], policy_document=json.dumps(only_q1)
    )
    sent = moto_enforcing.record_calls(kit.live_engine(vault).clients().sts, with_params=True)
    issued = vault.issue(ENGINE, "narrow")
    name, params = sent[-1]
    assert name == "AssumeRole" and json.loads(params["Policy"]) == only_q1
    assert params["RoleSessionName"] == issued.lease_id and params["DurationSeconds"] == 3600
    s3 = moto_enforcing.client("s3", kit.credentials_of(issued.data))
    s3.get_object(Bucket="reports", Key="q1.csv")


def test_a_role_with_several_arns_needs_role_arn_in_the_request(vault, moto_enforcing):
    first, second = make_role(moto_enforcing, "one"), make_role(moto_enforcing, "two")
    vault.create_role(ENGINE, "either", credential_type="assumed_role", role_arns=[first, second])
    with pytest.raises(InvalidRequest) as caught:
        vault.issue(ENGINE, "either")
    assert caught.value.details["field"] == "role_arn"
    with pytest.raises(InvalidRequest):
        vault.issue(ENGINE, "either", role_arn="arn:aws:iam::123456789012:role/other")
    issued = vault.issue(ENGINE, "either", role_arn=second)
    assert ":assumed-role/two/" in issued.data["arn"]


def test_a_role_arn_that_does_not_exist_is_refused_at_role_creation(vault):
    # moto would happily assume it; AWS would refuse every issue.
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role(
            ENGINE, "ghost", credential_type="assumed_role", role_arns=["arn:aws:iam::123456789012:role/absent"]
        )
    assert caught.value.details["field"] == "role_arns[0]"


def test_expiry_of_an_sts_lease_just_ends_it(vault, moto_enforcing):
    vault.create_role(ENGINE, "reader", credential_type="assumed_role", role_arns=[make_role(moto_enforcing, "reader")])
    issued = vault.issue(ENGINE, "reader", ttl="15m")
    vault.clock.advance(16 * 60)
    assert vault.expire_due() == 1
    assert vault.lookup(issued.lease_id).state == LeaseState.REVOKED


@pytest.fixture
def plain_vault(make_vault, moto, kit):
    """A vault whose engine uses the non-enforcing moto (federation tokens)."""
    vault = make_vault()
    kit.add_engine(vault, moto)
    return vault


def test_federation_token_lease_returns_session_credentials(kit, plain_vault, moto):
    vault = plain_vault
    vault.create_role(ENGINE, "fed", credential_type="federation_token", policy_document=S3_READ_REPORTS)
    sent = moto.record_calls(kit.live_engine(vault).clients().sts, with_params=True)
    issued = vault.issue(ENGINE, "fed", ttl="12h", wait_for_propagation=True)

    assert {"access_key_id", "secret_access_key", "session_token"} <= set(issued.data)
    assert issued.data["arn"] == f"arn:aws:sts::123456789012:federated-user/{issued.lease_id}"
    assert issued.data["propagated"] is True
    assert issued.to_dict()["renewable"] is False
    name, params = sent[-1]
    assert name == "GetFederationToken" and params["Name"] == issued.lease_id
    assert params["DurationSeconds"] == 12 * 3600
    assert json.loads(params["Policy"]) == S3_READ_REPORTS
    # Accepted, but the plain server answers GetCallerIdentity as its default user for any key.
    verify(moto.clients_for(kit.credentials_of(issued.data)))
    with pytest.raises(InvalidRequest):
        vault.renew(issued.lease_id)
    assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED


def test_federation_token_ttl_is_bounded_by_sts(plain_vault):
    vault = plain_vault  # engine max_ttl 48h; STS allows 36h
    vault.create_role(ENGINE, "fed", credential_type="federation_token", policy_document=S3_READ_REPORTS)
    with pytest.raises(TTLExceedsMax) as caught:
        vault.issue(ENGINE, "fed", ttl="37h")
    assert "GetFederationToken" in caught.value.message
    assert caught.value.details["max_ttl"] == "36h"
    assert vault.issue(ENGINE, "fed", ttl="36h").to_dict()["lease_duration"] == "36h"
