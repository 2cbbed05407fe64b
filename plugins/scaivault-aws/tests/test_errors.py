"""Wrong keys, missing permissions and a dead endpoint become this package's own errors."""

from __future__ import annotations

import time

import pytest

from scaivault_aws import (
    AwsAccessDenied,
    AwsBadCredentials,
    AwsCredentials,
    AwsTarget,
    AwsUnreachable,
    PropagationTimeout,
    create_iam_user,
    make_clients,
    revoke_iam_user,
    verify,
    wait_for_propagation,
)

S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def test_unknown_root_key_is_bad_credentials(moto_enforcing):
    clients = moto_enforcing.clients_for(AwsCredentials("AKIAUNKNOWNKEY000000", "wrong-secret-1"))
    with pytest.raises(AwsBadCredentials) as caught:
        verify(clients)
    assert caught.value.code == "InvalidClientTokenId"
    assert "wrong-secret-1" not in str(caught.value)
    with pytest.raises(AwsBadCredentials):
        create_iam_user(clients, "v-x-1", policy_document=S3_READ_REPORTS)


def test_wrong_secret_for_a_real_key_is_bad_credentials(moto_enforcing):
    creds = AwsCredentials(moto_enforcing.root.access_key_id, "wrong-secret-2")
    with pytest.raises(AwsBadCredentials) as caught:
        verify(moto_enforcing.clients_for(creds))
    assert caught.value.code == "SignatureDoesNotMatch"
    assert "wrong-secret-2" not in str(caught.value)


def test_valid_keys_without_iam_rights_are_access_denied_not_bad_credentials(moto_enforcing):
    weak = create_iam_user(moto_enforcing.clients, "v-weak-1", policy_document=S3_READ_REPORTS)
    clients = moto_enforcing.clients_for(weak)
    assert verify(clients).arn.endswith(":user/v-weak-1")
    with pytest.raises(AwsAccessDenied) as caught:
        create_iam_user(clients, "v-other-1", policy_document=S3_READ_REPORTS)
    assert caught.value.operation == "CreateUser"


def test_closed_port_is_unreachable_quickly(unreachable_target):
    clients = make_clients(unreachable_target, AwsCredentials("AKIAEXAMPLE", "secret"))
    for call in (
        lambda: verify(clients),
        lambda: create_iam_user(clients, "v-x-1", policy_document=S3_READ_REPORTS),
        lambda: revoke_iam_user(clients, "v-x-1"),
        lambda: wait_for_propagation(unreachable_target, AwsCredentials("AKIAEX", "s"), timeout=5),
    ):
        started = time.monotonic()
        with pytest.raises(AwsUnreachable) as caught:
            call()
        assert time.monotonic() - started < 2.0
        assert unreachable_target.sts_endpoint in str(caught.value)


def test_default_retries_still_give_up_within_seconds(unreachable_target):
    # The production defaults (3 attempts, standard retry mode) against a refused connection.
    target = AwsTarget(region="us-east-1", sts_endpoint=unreachable_target.sts_endpoint, connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(AwsUnreachable):
        verify(make_clients(target, AwsCredentials("AKIAEXAMPLE", "secret")))
    assert time.monotonic() - started < 10.0


def test_new_keys_propagate_and_revoked_keys_time_out(moto_enforcing):
    creds = create_iam_user(moto_enforcing.clients, "v-prop-1", policy_document=S3_READ_REPORTS)
    assert wait_for_propagation(moto_enforcing.target, creds, timeout=5) < 1.0
    revoke_iam_user(moto_enforcing.clients, "v-prop-1")
    started = time.monotonic()
    with pytest.raises(PropagationTimeout) as caught:
        wait_for_propagation(moto_enforcing.target, creds, timeout=1.0, interval=0.2)
    assert 1.0 <= time.monotonic() - started < 3.0
    assert creds.secret_access_key not in str(caught.value)
    assert "v-prop-1" in str(caught.value)
