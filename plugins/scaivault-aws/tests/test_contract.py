"""The shared engine contract (scaivault_core.testing) with iam_user leases on enforcing moto.

The engine reaches moto through the suite's TCP proxy, so "unreachable" is a refused or cut
connection; whether a key works is asked of moto directly (sts:GetCallerIdentity, which enforcing
moto answers only for a key it knows).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from scaivault_aws import AwsBadCredentials, AwsEngine, verify
from scaivault_core.testing import EngineContract

S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


class TestContract(EngineContract):
    engine_class = AwsEngine

    @pytest.fixture
    def target(self, moto_enforcing):
        yield moto_enforcing

    def target_address(self, target):
        url = urlsplit(target.url)
        return url.hostname, url.port

    def engine_config(self, target, address):
        url = f"http://{address[0]}:{address[1]}" if address else target.url
        return {"region": "us-east-1", "iam_endpoint": url, "sts_endpoint": url}

    def root_credentials(self, target):
        return {"access_key_id": target.root.access_key_id, "secret_access_key": target.root.secret_access_key}

    def role(self, target):
        return {"credential_type": "iam_user", "policy_document": S3_READ_REPORTS}

    def secret_values(self, data):
        # An access key id is an identifier, not a secret: AWS shows it in CloudTrail and in
        # every signed request's Authorization header (which botocore logs at DEBUG).
        return super().secret_values({k: v for k, v in data.items() if k != "access_key_id"})

    def credential_works(self, target, issued):
        try:
            verify(
                target.clients_for(type(target.root)(issued.data["access_key_id"], issued.data["secret_access_key"]))
            )
        except AwsBadCredentials:
            return False
        return True

    def create_foreign_user(self, target, name):
        target.client("iam").create_user(UserName=name)

    def drop_foreign_user(self, target, name):
        target.client("iam").delete_user(UserName=name)

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        return {
            "unknown access key": (
                good,
                {"access_key_id": "AKIAUNKNOWNKEY000001", "secret_access_key": "unknown-secret-key-000"},
            ),
            "wrong secret": (
                good,
                {"access_key_id": target.root.access_key_id, "secret_access_key": "wrong-secret-key-0000"},
            ),
            "no secret": (good, {"access_key_id": target.root.access_key_id}),
            "bad region": ({**good, "region": "Moon"}, None),
            "endpoint without scheme": ({**good, "sts_endpoint": "127.0.0.1:1"}, None),
        }
