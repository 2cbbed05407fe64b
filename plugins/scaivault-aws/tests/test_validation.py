"""Role settings are checked against IAM's and STS's documented syntax before AWS is called."""

from __future__ import annotations

import pytest

from scaivault_aws import (
    AwsCredentials,
    AwsTarget,
    InvalidField,
    TtlLimit,
    TtlTooLong,
    TtlTooShort,
    validate_iam_path,
    validate_iam_user_settings,
    validate_policy_arn,
    validate_policy_document,
    validate_role_arn,
    validate_session_policy,
)
from scaivault_aws.validation import (
    validate_federation_name,
    validate_session_name,
    validate_tags,
    validate_user_name,
)

S3_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def field_of(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidField) as caught:
        call(*args, **kwargs)
    assert isinstance(caught.value, ValueError)
    return caught.value.field


def test_the_guides_policy_is_valid_as_object_and_as_json_text():
    assert validate_policy_document(S3_READ) == S3_READ
    assert validate_policy_document(
        '{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "NotAction": ["iam:*"], "NotResource": "*"}}'
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("{not json", "policy_document"),
        (["Statement"], "policy_document"),
        ({"Statement": S3_READ["Statement"]}, "policy_document.Version"),
        ({"Version": "2020-01-01", "Statement": S3_READ["Statement"]}, "policy_document.Version"),
        ({"Version": "2012-10-17"}, "policy_document.Statement"),
        ({"Version": "2012-10-17", "Statement": []}, "policy_document.Statement"),
        ({**S3_READ, "Extra": 1}, "policy_document.Extra"),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]},
            "policy_document.Statement[0].Effect",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]},
            "policy_document.Statement[0]",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*"}]},
            "policy_document.Statement[0]",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]},
            "policy_document.Statement[0].Action",
        ),
        (
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "reports"}]},
            "policy_document.Statement[0].Resource",
        ),
        (
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}],
            },
            "policy_document.Statement[0].Principal",
        ),
    ],
)
def test_malformed_policy_documents_name_the_field(document, field):
    assert field_of(validate_policy_document, document) == field


def test_policy_size_limits_follow_iam_and_sts():
    big = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [f"arn:aws:s3:::bucket-{i:04d}/*" for i in range(80)],
            }
        ],
    }
    # IAM's per-user inline limit is 2,048 characters without whitespace.
    assert field_of(validate_policy_document, big) == "policy_document"
    spaced = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": " " * 2000, "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    validate_policy_document(spaced)  # whitespace does not count for IAM...
    with pytest.raises(InvalidField):  # ...but does for an STS session policy's plaintext
        validate_session_policy(spaced)


def test_policy_characters_are_limited_to_latin_1():
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "caf\u00e9", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
    validate_policy_document(document)
    document["Statement"][0]["Sid"] = "\u4e2d"
    assert field_of(validate_policy_document, document) == "policy_document"


def test_arns():
    role = validate_role_arn("arn:aws:iam::123456789012:role/team/deployer")
    assert (role["account"], role["role_name"]) == ("123456789012", "deployer")
    assert validate_policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")["account"] == "aws"
    validate_policy_arn("arn:aws-us-gov:iam::123456789012:policy/path/p")
    for bad in (
        "deployer",
        "arn:aws:iam::12345:role/x",
        "arn:aws:s3:::reports",
        "arn:aws:iam::123456789012:user/x",
        "arn:aws:iam::123456789012:role/",
    ):
        assert field_of(validate_role_arn, bad) == "role_arns"
    assert field_of(validate_policy_arn, "arn:aws:iam::123456789012:role/x") == "policy_arns"


def test_paths_names_and_tags():
    assert validate_iam_path("/") == "/"
    assert validate_iam_path("/scaivault/leases/") == "/scaivault/leases/"
    for bad in ("", "scaivault", "/scaivault", "/a b/", "//", "/a//b/", "/" + "a" * 512 + "/"):
        assert field_of(validate_iam_path, bad) == "path"
    validate_user_name("v-s3-read-" + "x" * 54)  # exactly 64
    assert field_of(validate_user_name, "v" * 65) == "user_name"
    assert field_of(validate_user_name, "bad name") == "user_name"
    assert field_of(validate_user_name, "caf\u00e9") == "user_name"  # AWS's \w is ASCII
    assert field_of(validate_session_name, "x") == "session_name"
    assert field_of(validate_federation_name, "f" * 33) == "name"
    assert validate_tags({"team": "data", "lease": "abc"}) == {"team": "data", "lease": "abc"}
    assert field_of(validate_tags, {"aws:x": "1"}) == "tags.aws:x"
    assert field_of(validate_tags, {f"k{i}": "v" for i in range(51)}) == "tags"
    assert field_of(validate_tags, ["team"]) == "tags"


def test_iam_user_settings_name_the_first_bad_field():
    validate_iam_user_settings(policy_document=S3_READ)
    validate_iam_user_settings(groups=["readers"])
    assert field_of(validate_iam_user_settings) == "policy_document"
    assert (
        field_of(validate_iam_user_settings, policy_document=S3_READ, policy_arns=["arn:aws:iam::aws:policy/A", "nope"])
        == "policy_arns[1]"
    )
    assert field_of(validate_iam_user_settings, policy_document=S3_READ, groups=["ok", "not ok"]) == "groups[1]"
    assert (
        field_of(validate_iam_user_settings, policy_document=S3_READ, permissions_boundary="boundary")
        == "permissions_boundary"
    )
    assert field_of(validate_iam_user_settings, policy_document=S3_READ, path="x") == "path"


def test_session_policy_settings():
    assert validate_session_policy(None) is None
    assert validate_session_policy(S3_READ) == S3_READ
    assert field_of(validate_session_policy, None, required=True) == "policy_document"
    arns = [f"arn:aws:iam::aws:policy/P{i}" for i in range(11)]
    assert field_of(validate_session_policy, None, arns) == "policy_arns"


def test_ttl_limit_names_its_source():
    limit = TtlLimit(900, 7200, "MaxSessionDuration of arn:aws:iam::123456789012:role/r")
    assert limit.check(7200) == 7200
    with pytest.raises(TtlTooLong) as too_long:
        limit.check(7201)
    assert (too_long.value.limit, too_long.value.requested) == (7200, 7201)
    assert "7200s maximum (MaxSessionDuration of arn:aws:iam::123456789012:role/r)" in str(too_long.value)
    with pytest.raises(TtlTooShort) as too_short:
        limit.check(60)
    assert too_short.value.limit == 900


def test_target_settings_are_checked():
    AwsTarget(region="eu-central-1", iam_endpoint="https://iam.example.internal")
    assert field_of(AwsTarget, region="Frankfurt") == "region"
    assert field_of(AwsTarget, region="us-east-1", sts_endpoint="sts.local") == "sts_endpoint"


def test_secrets_stay_out_of_repr():
    creds = AwsCredentials("AKIAEXAMPLE", "s3cr3t-value", session_token="t0ken-value")
    assert "s3cr3t" not in repr(creds) and "t0ken" not in repr(creds)
    assert creds.lease_data() == {
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "s3cr3t-value",
        "session_token": "t0ken-value",
    }
    assert "session_token" not in AwsCredentials("AKIAEXAMPLE", "s").lease_data()
