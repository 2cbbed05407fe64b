"""Engine config, root credentials, endpoints and role validation of the `aws` engine.

moto leniency: the plain server accepts any key pair, so refused root keys are tested against
the enforcing one, which checks both the access key id and the signature.
"""

from __future__ import annotations

import json
import time

import pytest

from scaivault_aws import AwsCredentials
from scaivault_core import EngineNotFound, EngineUnreachable, InvalidConfig, LeaseState

ENGINE = "aws"
S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def assert_secret_free(error, *secrets: str) -> None:
    text = f"{error.message} {json.dumps(error.details)} {error!r}"
    for secret in secrets:
        assert secret not in text


# -- root credentials and endpoints ------------------------------------------------------------


def test_an_unknown_access_key_is_invalid_config(kit, make_vault, moto_enforcing):
    vault = make_vault()
    bogus = AwsCredentials("AKIAUNKNOWNKEY000001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    with pytest.raises(InvalidConfig) as caught:
        kit.add_engine(vault, moto_enforcing, root=bogus)
    error = caught.value
    assert error.details["field"] == "config.root_credentials_path"
    assert error.details["aws_code"] == "InvalidClientTokenId"
    assert "does not know the access key id" in error.message
    assert_secret_free(error, bogus.secret_access_key)
    with pytest.raises(EngineNotFound):
        vault.get_engine(ENGINE)  # nothing stored


def test_a_wrong_secret_for_a_real_key_is_invalid_config(kit, make_vault, moto_enforcing):
    vault = make_vault()
    wrong = AwsCredentials(moto_enforcing.root.access_key_id, "not-the-secret-of-this-key-0000")
    with pytest.raises(InvalidConfig) as caught:
        kit.add_engine(vault, moto_enforcing, root=wrong)
    assert caught.value.details["aws_code"] == "SignatureDoesNotMatch"
    assert "does not belong to the access key id" in caught.value.message
    assert_secret_free(caught.value, wrong.secret_access_key, moto_enforcing.root.secret_access_key)


def test_an_incomplete_root_secret_is_invalid_config(kit, make_vault, moto):
    vault = make_vault()
    kit.store_root(vault, moto.root)
    vault.put_secret(kit.ROOT_PATH, {"access_key_id": "AKIAIOSFODNN7EXAMPLE"})
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine(ENGINE, "aws", kit.config(moto))
    assert "secret_access_key" in caught.value.message
    assert caught.value.details["field"] == "config.root_credentials_path"


def test_an_endpoint_that_is_down_is_engine_unreachable(kit, make_vault, moto, unreachable_target):
    vault = make_vault()
    kit.store_root(vault, moto.root)
    started = time.monotonic()
    with pytest.raises(EngineUnreachable) as caught:
        vault.create_engine(ENGINE, "aws", kit.config(unreachable_target.sts_endpoint))
    assert caught.value.code == "engine_unreachable"
    assert unreachable_target.sts_endpoint in caught.value.message
    assert time.monotonic() - started < 15  # botocore's retries, not a hang


def test_an_iam_user_issued_while_aws_is_down_is_retried_by_the_worker(kit, make_vault, spare_moto):
    vault = make_vault()
    kit.add_engine(vault, spare_moto)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS)
    spare_moto.server.stop()
    with pytest.raises(EngineUnreachable):
        vault.issue(ENGINE, "s3-read")
    # Nothing may exist, but nobody could check: the intent stays for the worker to undo.
    [lease] = vault.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.INTENT and lease.last_error


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"region": "Europe"}, "config.region"),
        ({"iam_endpoint": "localhost:4566"}, "config.iam_endpoint"),
        ({"propagation_timeout": 600}, "propagation_timeout"),
        ({"regoin": "us-east-1"}, "regoin"),
    ],
)
def test_bad_config_fields_are_invalid_config(kit, make_vault, moto, config, field):
    vault = make_vault()
    kit.store_root(vault, moto.root)
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine(ENGINE, "aws", kit.config(moto, **config))
    assert field in caught.value.message


@pytest.mark.parametrize("field", ["iam_endpoint", "sts_endpoint"])
@pytest.mark.parametrize("url", ["http://iam.example.com", "http://10.0.0.5:4566/", "http://127.0.0.1.nip.io:4566"])
def test_plain_http_to_another_host_is_refused(kit, make_vault, moto, field, url):
    # Requests carry SigV4 signatures and answers carry new secret keys: only https leaves this machine.
    vault = make_vault()
    kit.store_root(vault, moto.root)
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine(ENGINE, "aws", kit.config(moto, **{field: url}))
    assert caught.value.details["field"] == f"config.{field}" and "must use https" in caught.value.message
    assert vault.list_engines() == []


def test_one_clients_object_is_reused_until_the_root_key_changes(kit, make_vault, moto_enforcing):
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS)
    engine = kit.live_engine(vault)
    first = engine.clients()
    vault.issue(ENGINE, "s3-read")
    vault.issue(ENGINE, "s3-read")
    assert engine.clients() is first

    # Rotate the root key by hand: a new key in the store, the old one deleted at AWS.
    admin = moto_enforcing.client("iam")
    new = admin.create_access_key(UserName="scaivault-admin")["AccessKey"]
    kit.store_root(vault, AwsCredentials(new["AccessKeyId"], new["SecretAccessKey"]))
    admin.delete_access_key(UserName="scaivault-admin", AccessKeyId=moto_enforcing.root.access_key_id)

    # The enforcing server refuses the deleted key, so this works only with rebuilt clients.
    issued = vault.issue(ENGINE, "s3-read")
    assert kit.live_engine(vault) is engine and engine.clients() is not first
    vault.revoke(issued.lease_id)


# -- role validation ---------------------------------------------------------------------------


@pytest.fixture
def vault(make_vault, moto, kit):
    vault = make_vault()
    kit.add_engine(vault, moto)
    return vault


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"credential_type": "access_key"}, "credential_type"),
        ({"credential_type": "iam_user", "policy_document": '{"Version": "2012-10-17",'}, "policy_document"),
        ({"credential_type": "iam_user", "policy_document": {"Statement": []}}, "policy_document.Version"),
        (
            {
                "credential_type": "iam_user",
                "policy_document": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "s3 GetObject", "Resource": "*"}],
                },
            },
            "policy_document.Statement[0].Action",
        ),
        ({"credential_type": "iam_user", "policy_arns": ["arn:aws:iam::123:policy/x"]}, "policy_arns[0]"),
        ({"credential_type": "iam_user", "policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, "policy_arns"),
        (
            {"credential_type": "iam_user", "policy_document": S3_READ_REPORTS, "permissions_boundary": "boundary"},
            "permissions_boundary",
        ),
        ({"credential_type": "iam_user", "policy_document": S3_READ_REPORTS, "path": "scaivault"}, "path"),
        ({"credential_type": "iam_user", "policy_document": S3_READ_REPORTS, "tags": {"scaivault:lease": "x"}}, "tags"),
        (
            {
                "credential_type": "iam_user",
                "policy_document": S3_READ_REPORTS,
                "role_arns": ["arn:aws:iam::123456789012:role/r"],
            },
            "role_arns",
        ),
        ({"credential_type": "iam_user"}, "policy_document"),
        ({"credential_type": "assumed_role"}, "role_arns"),
        ({"credential_type": "assumed_role", "role_arns": ["arn:aws:iam::123456789012:user/u"]}, "role_arns[0]"),
        ({"credential_type": "assumed_role", "role_arns": "arn:aws:iam::123456789012:role/r"}, "role_arns"),
        (
            {
                "credential_type": "assumed_role",
                "role_arns": ["arn:aws:iam::123456789012:role/r"],
                "groups": ["readers"],
            },
            "groups",
        ),
        ({"credential_type": "federation_token"}, "policy_document"),
        ({"credential_type": "federation_token", "policy_document": S3_READ_REPORTS, "path": "/x/"}, "path"),
    ],
)
def test_a_malformed_role_is_invalid_config_naming_the_field(vault, fields, field):
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role(ENGINE, "bad", **fields)
    assert caught.value.details["field"] == field
    assert caught.value.message.startswith(f"{field}: ")
    assert vault.list_roles(ENGINE) == []


def test_a_policy_document_may_be_a_json_string(vault):
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=json.dumps(S3_READ_REPORTS))
    issued = vault.issue(ENGINE, "s3-read")
    vault.revoke(issued.lease_id)
