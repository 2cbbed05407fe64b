"""The engine's request fields reach it through the front ends: `wait_for_propagation` over REST (the
client's `issue` and `dynamic_credentials`) and as a CLI `--param`, embedded and remote, on moto."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from scaivault_core import InvalidRequest
from scaivault_core.cli import cli
from scaivault_core.client import ScaiVaultClient
from scaivault_core.rest import create_app
from scaivault_core.testing.servers import ThreadedServer

ENGINE = "aws"
S3_READ = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


@pytest.fixture
def served(make_vault, moto_enforcing, kit):
    """A vault with engine `aws` on the enforcing moto and role `s3-read`, served over HTTP in this process."""
    vault = make_vault()
    kit.add_engine(vault, moto_enforcing)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ)
    with ThreadedServer(create_app(vault)) as server:
        server.vault, server.token = vault, vault.create_admin_token()
        yield server


def test_wait_for_propagation_through_the_client(served, kit, moto_enforcing):
    with ScaiVaultClient(served.url, served.token) as client:
        issued = client.issue(ENGINE, "s3-read", wait_for_propagation=True)
        assert issued.data["propagated"] is True and 0 <= issued.data["propagation_seconds"] < 5
        client.revoke(issued.lease_id)

        with client.dynamic_credentials(ENGINE, "s3-read", ttl="30m", wait_for_propagation=True) as creds:
            assert creds["propagated"] is True
            kit.credentials_of(creds.data)  # a key pair moto accepted before the answer came back
            user = served.vault.lookup(creds.lease_id).subject
            assert user in kit.user_names(moto_enforcing)
        assert kit.user_names(moto_enforcing) == []

        plain = client.issue(ENGINE, "s3-read")
        assert "propagated" not in plain.data  # not asked for, not waited for
        client.revoke(plain.lease_id)
        with pytest.raises(InvalidRequest) as refused:
            client.issue(ENGINE, "s3-read", wait_for_propagation="yes")
        assert refused.value.status == 400 and "wait_for_propagation" in refused.value.message


@pytest.mark.parametrize("mode", ["embedded", "remote"])
def test_wait_for_propagation_as_a_cli_param(served, tmp_path, mode):
    env = {"SCAIVAULT_STORE": str(tmp_path / "vault.db"), "SCAIVAULT_ADDR": None, "SCAIVAULT_TOKEN": None}
    if mode == "remote":
        env.update(SCAIVAULT_ADDR=served.url, SCAIVAULT_TOKEN=served.token)
    run = CliRunner().invoke(
        cli,
        ["--format", "json", "creds", ENGINE, "s3-read", "--param", "wait_for_propagation=true", "--reveal"],
        env=env,
        obj=served.vault.pm,
    )
    assert run.exit_code == 0, run.output
    body = json.loads(run.stdout)
    assert body["data"]["propagated"] is True
    served.vault.revoke(body["lease_id"])
