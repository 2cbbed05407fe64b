"""Assumed roles (moto with IAM enforcement) and federation tokens (moto without it).

moto leniencies, with what our code does instead:
- AssumeRole of a role that does not exist succeeds in moto: `assume_role_ttl_limit` reads the
  role with GetRole first and reports a missing role as a bad `role_arn`.
- AssumeRole with DurationSeconds above the role's MaxSessionDuration succeeds in moto (AWS
  fails): `assume_role_ttl_limit` gives the role's maximum and `TtlLimit.check` refuses beyond it.
- With enforcement on, moto refuses the (fixed) credentials GetFederationToken returns, so
  federation tokens are tested without enforcement, where only their shape can be checked.
- moto honours only trust policies that name the principal's ARN (not the account root).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from scaivault_aws import (
    CallerIdentity,
    InvalidField,
    TtlTooLong,
    TtlTooShort,
    assume_role,
    assume_role_ttl_limit,
    federation_token_ttl_limit,
    get_federation_token,
    verify,
)

S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def make_role(account, name: str, max_session: int | None = None) -> str:
    """A role the engine's admin user may assume, allowed to read reports/*; returns its ARN."""
    iam = account.client("iam")
    admin_arn = verify(account.clients).arn
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "sts:AssumeRole"}],
    }
    extra = {"MaxSessionDuration": max_session} if max_session else {}
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **extra)
    iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(S3_READ_REPORTS))
    return role["Role"]["Arn"]


@pytest.fixture
def buckets(moto_enforcing):
    s3 = moto_enforcing.client("s3")
    for bucket in ("reports", "other"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="q1.csv", Body=b"a,b\n")


def test_assumed_role_credentials_work_and_carry_the_roles_policy(moto_enforcing, buckets):
    role_arn = make_role(moto_enforcing, "reports-reader")
    before = datetime.now(UTC)
    creds = assume_role(moto_enforcing.clients, role_arn, "lease_abc", duration_seconds=900)
    assert creds.session_token
    assert creds.principal_arn.endswith(":assumed-role/reports-reader/lease_abc")
    assert set(creds.lease_data()) == {"access_key_id", "secret_access_key", "session_token"}
    assert before + timedelta(seconds=890) <= creds.expiration <= before + timedelta(seconds=910)

    assert verify(moto_enforcing.clients_for(creds)).kind == "assumed-role"
    s3 = moto_enforcing.client("s3", creds)
    assert s3.get_object(Bucket="reports", Key="q1.csv")["Body"].read() == b"a,b\n"
    with pytest.raises(s3.exceptions.ClientError) as denied:
        s3.get_object(Bucket="other", Key="q1.csv")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"


def test_session_policy_and_policy_arns_are_sent(moto_enforcing):
    role_arn = make_role(moto_enforcing, "reports-reader")
    sent = moto_enforcing.record_calls(moto_enforcing.clients.sts, with_params=True)
    narrow = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/q1.csv"}],
    }
    assume_role(
        moto_enforcing.clients,
        role_arn,
        "lease_abc",
        duration_seconds=1800,
        policy=narrow,
        policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"],
    )
    name, params = sent[-1]
    assert name == "AssumeRole" and params["DurationSeconds"] == 1800
    assert json.loads(params["Policy"]) == narrow
    assert params["PolicyArns"] == [{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]


def test_role_ttl_limit_comes_from_max_session_duration(moto_enforcing):
    limit = assume_role_ttl_limit(moto_enforcing.clients, make_role(moto_enforcing, "long", 7200))
    assert (limit.minimum, limit.maximum) == (900, 7200)
    assert "MaxSessionDuration" in limit.source
    limit.check(7200)
    with pytest.raises(TtlTooLong):
        limit.check(7201)
    with pytest.raises(TtlTooShort):
        limit.check(899)


def test_role_without_max_session_duration_allows_one_hour(moto_enforcing):
    role_arn = make_role(moto_enforcing, "default")
    limit = assume_role_ttl_limit(moto_enforcing.clients, role_arn)
    assert limit.maximum == 3600
    # moto would hand out a 10,000 s session here; AWS refuses. Our limit stops it first.
    with pytest.raises(TtlTooLong):
        limit.check(10_000)


def test_role_of_another_account_gets_the_one_hour_floor_without_asking_iam(moto_enforcing):
    calls = moto_enforcing.record_calls(moto_enforcing.clients.iam)
    limit = assume_role_ttl_limit(moto_enforcing.clients, "arn:aws:iam::210987654321:role/partner")
    assert limit.maximum == 3600 and "could not be read" in limit.source
    assert calls == []  # GetRole by name would have looked in our own account


def test_a_missing_role_is_a_bad_role_arn(moto_enforcing):
    with pytest.raises(InvalidField) as caught:
        assume_role_ttl_limit(moto_enforcing.clients, "arn:aws:iam::123456789012:role/absent")
    assert caught.value.field == "role_arn"


def test_stss_fixed_ranges_are_checked_before_calling(moto_enforcing):
    role_arn = make_role(moto_enforcing, "r")
    calls = moto_enforcing.record_calls(moto_enforcing.clients.sts)
    with pytest.raises(TtlTooLong):
        assume_role(moto_enforcing.clients, role_arn, "s1", duration_seconds=43_201)
    with pytest.raises(TtlTooShort):
        assume_role(moto_enforcing.clients, role_arn, "s1", duration_seconds=600)
    with pytest.raises(TtlTooLong):
        get_federation_token(moto_enforcing.clients, "fed", duration_seconds=129_601, policy=S3_READ_REPORTS)
    with pytest.raises(InvalidField):
        assume_role(moto_enforcing.clients, role_arn, "x", duration_seconds=900)  # name too short
    assert calls == []


def test_federation_token_returns_session_credentials(moto):
    # Without enforcement: moto accepts any key, so this checks the request and the answer's
    # shape, not that the policy scopes anything.
    sent = moto.record_calls(moto.clients.sts, with_params=True)
    creds = get_federation_token(moto.clients, "lease_abc", duration_seconds=3600, policy=S3_READ_REPORTS)
    assert creds.access_key_id and creds.secret_access_key and creds.session_token
    assert creds.principal_arn == "arn:aws:sts::123456789012:federated-user/lease_abc"
    assert creds.expiration > datetime.now(UTC) + timedelta(seconds=3500)
    assert sent[0][0] == "GetFederationToken" and sent[0][1]["DurationSeconds"] == 3600
    assert json.loads(sent[0][1]["Policy"]) == S3_READ_REPORTS
    verify(moto.clients_for(creds))


def test_federation_token_needs_a_policy(moto):
    with pytest.raises(InvalidField) as caught:
        get_federation_token(moto.clients, "lease_abc", duration_seconds=900)
    assert caught.value.field == "policy_document"


def test_federation_ttl_limit_depends_on_who_calls(moto):
    assert federation_token_ttl_limit(moto.clients).maximum == 129_600  # moto acts as an IAM user
    # moto cannot sign as an account root user; set the identity these clients cache.
    moto.clients._identity = CallerIdentity("123456789012", "arn:aws:iam::123456789012:root", "123456789012")
    root_limit = federation_token_ttl_limit(moto.clients)
    assert root_limit.maximum == 3600 and "root" in root_limit.source
    moto.clients._identity = CallerIdentity(
        "123456789012", "arn:aws:sts::123456789012:assumed-role/r/s", "AROAEXAMPLE:s"
    )
    with pytest.raises(InvalidField):
        federation_token_ttl_limit(moto.clients)
    # Role chaining: a role session may assume another role for at most one hour.
    assert assume_role_ttl_limit(moto.clients, "arn:aws:iam::123456789012:role/r").maximum == 3600
