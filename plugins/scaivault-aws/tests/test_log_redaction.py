"""No issued or root secret reaches a log line, even with botocore's DEBUG wire logging on."""

from __future__ import annotations

import json
import logging

from scaivault_aws.log_redaction import SecretMaskingFilter

ENGINE = "aws"


def masked(message: str, *args) -> str:
    record = logging.LogRecord("botocore.parsers", logging.DEBUG, __file__, 1, message, args, None)
    SecretMaskingFilter().filter(record)
    return record.getMessage()


def test_secret_shapes_are_masked():
    xml = (
        b"<CreateAccessKeyResult><AccessKey><AccessKeyId>AKIAEXAMPLE</AccessKeyId>"
        b"<SecretAccessKey>wJalr/XUtn+FEMI</SecretAccessKey></AccessKey></CreateAccessKeyResult>"
    )
    out = masked("Response body:\n%s", xml)
    assert "wJalr" not in out and "<SecretAccessKey>***</SecretAccessKey>" in out
    assert "AKIAEXAMPLE" in out  # an identifier, kept for debugging
    body = json.dumps({"Credentials": {"SessionToken": "FwoGZXIvYXdz", "SecretAccessKey": "abc/def"}})
    out = masked("Response body:\n%s", body.encode())
    assert "FwoGZXIvYXdz" not in out and "abc/def" not in out
    headers = {"X-Amz-Security-Token": b"IQoJb3JpZ2lu", "X-Amz-Date": b"20260101T000000Z"}
    out = masked("Sending http request: <AWSPreparedRequest headers=%s>", headers)
    assert "IQoJb3JpZ2lu" not in out and "20260101T000000Z" in out


def test_sts_and_iam_leases_leave_no_secret_in_debug_logs(kit, make_vault, moto_enforcing, caplog):
    caplog.set_level(logging.DEBUG)
    admin = moto_enforcing.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Principal": {"AWS": "arn:aws:iam::123456789012:user/scaivault-admin"},
            }
        ],
    }
    role_arn = admin.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    vault = make_vault()
    # Enforcing moto never accepts federation-token credentials: keep that wait short.
    kit.add_engine(vault, moto_enforcing, propagation_timeout=1)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    vault.create_role(ENGINE, "user", credential_type="iam_user", policy_document=policy)
    vault.create_role(ENGINE, "role", credential_type="assumed_role", role_arns=[role_arn])
    vault.create_role(ENGINE, "fed", credential_type="federation_token", policy_document=policy)
    leases = [vault.issue(ENGINE, name, wait_for_propagation=True) for name in ("user", "role", "fed")]
    for lease in leases:
        vault.revoke(lease.lease_id)

    secrets = [moto_enforcing.root.secret_access_key]
    for lease in leases:
        secrets += [v for k, v in lease.data.items() if k in ("secret_access_key", "session_token")]
    assert len(secrets) == 6
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "SecretAccessKey>***<" in logged  # botocore did log the bodies, masked
    for secret in secrets:
        assert secret not in logged


def test_a_canonical_request_signed_with_a_session_token_is_masked():
    canonical = "POST\n/\n\nhost:127.0.0.1\nx-amz-security-token:FQoGZXIv+/abc=\n\nhost;x-amz-security-token"
    out = masked("CanonicalRequest:\n%s", canonical)
    assert "FQoGZXIv" not in out and "x-amz-security-token:***" in out
    assert out.endswith("host;x-amz-security-token")
