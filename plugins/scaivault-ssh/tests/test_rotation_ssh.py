"""Rotating the CA key against a real sshd: hosts trust both CAs during the grace period, only the new one after.

sshd reads `TrustedUserCAKeys` from the file the engine keeps at `trusted_ca_keys_path` and
`RevokedKeys` from the engine's KRL, both at every login.
"""

from __future__ import annotations

import time

import paramiko
import pytest

from scaivault_core import InvalidConfig, ManualClock, PermissionDenied
from scaivault_core.testing import rotate_and_die
from scaivault_ssh import SSHEngine, ca_public_key_line, generate_ca_key, generate_key_pair, load_ca_key

ROOT_PATH = "infra/ssh/ca"
COMMENT = " scaivault-ca:ssh"


@pytest.fixture(scope="module")
def caller():
    return generate_key_pair("ed25519")


@pytest.fixture
def clock():
    return ManualClock(start=time.time())  # sshd checks validity against the real time


@pytest.fixture
def rotating(sshd, vaults, clock):
    """A vault whose engine writes sshd's KRL and TrustedUserCAKeys file itself."""
    vault = vaults.open(clock)
    vaults.configure(vault, sshd.krl_path, ca_key=generate_ca_key(), trusted_ca_keys_path=str(sshd.trusted_ca_path))
    vault.create_role("ssh", "deploy", allowed_users=["deploy"], default_user="deploy", default_ttl="1h", max_ttl="8h")
    return vault


def ca_line(vault, version: int | None = None) -> str:
    """The CA public key line of a version of the root secret."""
    return ca_public_key_line(load_ca_key(vault.get_secret(ROOT_PATH, version).data["private_key"]))


def logs_in(sshd, caller, data: dict) -> bool:
    try:
        with sshd.connect("deploy", sshd.client_key(caller.private_key, data["signed_key"])) as client:
            return sshd.run(client, "true")[0] == 0
    except paramiko.AuthenticationException:
        return False


def signed_by(data: dict, line: str) -> bool:
    """Does this certificate name the CA `line` as its signer?"""
    return (
        paramiko.PublicBlob.from_string(data["signed_key"]).key_blob.find(
            paramiko.PublicBlob.from_string(line).key_blob
        )
        >= 0
    )


def test_both_cas_work_during_the_grace_period_and_only_the_new_one_after(sshd, vaults, rotating, caller, clock):
    vault = rotating
    before = vault.issue("ssh", "deploy", public_key=caller.public_key)
    old = ca_line(vault)
    assert sshd.trusted_ca_path.read_text() == old + COMMENT + "\n"  # written when the engine was created

    version = vault.rotate_secret(ROOT_PATH, reason="yearly", grace_period="1h")
    assert version.version == 2
    new = ca_line(vault)
    assert new != old and new.startswith("ssh-ed25519 ")
    engine = vaults.engine(vault)
    assert engine.trusted_ca_keys() == sshd.trusted_ca_path.read_text() == f"{old}{COMMENT}\n{new}{COMMENT}\n"
    assert engine.ca_public_key() == new + COMMENT

    after = vault.issue("ssh", "deploy", public_key=caller.public_key)
    assert signed_by(after.data, new) and signed_by(before.data, old) and not signed_by(after.data, old)
    assert logs_in(sshd, caller, before.data) and logs_in(sshd, caller, after.data)

    # A lease from before the rotation renews: the new certificate is signed by the new CA.
    renewed = vault.renew(before.lease_id, "2h")
    assert signed_by(renewed.data, new) and logs_in(sshd, caller, renewed.data)
    handle = vaults.handle(vault, before.lease_id)
    assert handle["ca"] == new and handle["certificates"][0]["ca"] == old

    clock.advance(3601)
    assert vault._rotator.run_due() == 1  # the grace period ended: the old CA is retired
    assert engine.trusted_ca_keys() == sshd.trusted_ca_path.read_text() == f"{new}{COMMENT}\n"
    assert not logs_in(sshd, caller, before.data)
    sshd.wait_for_log(rf"Failed publickey for deploy .* ID {before.lease_id}")
    assert logs_in(sshd, caller, after.data) and logs_in(sshd, caller, renewed.data)

    # Revoking it lists both of its certificates, each under the CA that signed it.
    vault.revoke(before.lease_id)
    listed = {(r["ca"], r["serial_number"]) for r in engine.revoked_certificates()}
    assert listed == {(old, before.data["serial_number"]), (new, renewed.data["serial_number"])}
    assert not logs_in(sshd, caller, renewed.data)
    sshd.wait_for_log(r"revoked by file")
    assert logs_in(sshd, caller, after.data)


def test_a_certificate_from_before_the_rotation_is_revocable_during_the_grace_period(sshd, vaults, rotating, caller):
    vault = rotating
    before = vault.issue("ssh", "deploy", public_key=caller.public_key)
    vault.rotate_secret(ROOT_PATH, grace_period="1h")
    assert logs_in(sshd, caller, before.data)
    vault.revoke(before.lease_id)
    assert not logs_in(sshd, caller, before.data)
    sshd.wait_for_log(r"revoked by file")
    assert {r["ca"] for r in vaults.engine(vault).revoked_certificates()} == {ca_line(vault, 1)}


def test_grace_zero_trusts_only_the_new_ca_at_once(sshd, vaults, rotating, caller):
    vault = rotating
    before = vault.issue("ssh", "deploy", public_key=caller.public_key)
    vault.rotate_secret(ROOT_PATH, grace_period="0")
    assert sshd.trusted_ca_path.read_text() == ca_line(vault) + COMMENT + "\n"
    assert not logs_in(sshd, caller, before.data)
    assert logs_in(sshd, caller, vault.issue("ssh", "deploy", public_key=caller.public_key).data)
    vault.revoke(before.lease_id)  # still revocable, under the retired CA
    assert [r["serial_number"] for r in vaults.engine(vault).revoked_certificates()] == [before.data["serial_number"]]


def test_the_new_ca_has_the_configured_type(vaults):
    vault = vaults.open()
    engine = vaults.configure(vault, ca_key=generate_ca_key(), ca_key_type="ecdsa", ca_key_bits=384)
    assert engine.trusted_ca_keys().count("\n") == 1
    vault.rotate_secret(ROOT_PATH, grace_period="1d")
    lines = vaults.engine(vault).trusted_ca_keys().splitlines()
    assert [line.split()[0] for line in lines] == ["ssh-ed25519", "ecdsa-sha2-nistp384"]
    assert vault.get_secret(ROOT_PATH).data["public_key"] == lines[1].rsplit(" ", 1)[0]


def test_trusted_ca_keys_path_must_be_absolute(vaults):
    vault = vaults.open()
    with pytest.raises(InvalidConfig) as caught:
        vaults.configure(vault, ca_key=generate_ca_key(), trusted_ca_keys_path="trusted.pub")
    assert caught.value.details["field"] == "config.trusted_ca_keys_path"


def test_rotation_needs_the_rotate_grant(vaults):
    vault = vaults.open()
    vaults.configure(vault, ca_key=generate_ca_key())
    vault.create_policy("reader", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
    vault.bind_policy("reader", "sa:reader")
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:reader").rotate_secret(ROOT_PATH)
    assert vault.get_secret(ROOT_PATH).version == 1


@pytest.mark.parametrize("when", ["before-target", "after-target"])
def test_a_crash_mid_rotation_leaves_a_working_vault(sshd, vaults, rotating, caller, tmp_path, when):
    vault = rotating
    before = vault.issue("ssh", "deploy", public_key=caller.public_key)
    old = ca_line(vault)
    vault.close()
    rotate_and_die(vaults.store_dir / "vault.db", SSHEngine, ROOT_PATH, when, settings=vaults.settings)
    trusted = sshd.trusted_ca_path.read_text().splitlines()
    assert trusted[0] == old + COMMENT and len(trusted) == (1 if when == "before-target" else 2)

    restarted = vaults.open()  # start-up finishes the rotation (grace "0": the old CA is retired at once)
    new = ca_line(restarted)
    assert restarted.get_secret(ROOT_PATH).version == 2 and new != old
    assert sshd.trusted_ca_path.read_text() == new + COMMENT + "\n"
    after = restarted.issue("ssh", "deploy", public_key=caller.public_key)
    assert logs_in(sshd, caller, after.data) and not logs_in(sshd, caller, before.data)
    restarted.renew(before.lease_id)
    restarted.revoke(before.lease_id)
    restarted.revoke(after.lease_id)
    assert not logs_in(sshd, caller, after.data)
