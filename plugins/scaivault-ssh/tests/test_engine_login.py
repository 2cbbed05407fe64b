"""The issue's checks end to end: certificates leased from a Vault, presented by paramiko to a real sshd.

sshd trusts the engine's `ca_public_key()` (TrustedUserCAKeys) and reads the engine's exported KRL
(RevokedKeys). sshd checks certificate validity against the real time, so these vaults run on a
manual clock started at the real time (or set back, to make a certificate that really expired).
"""

from __future__ import annotations

import time

import paramiko
import pytest

from scaivault_core import ManualClock, SystemClock
from scaivault_ssh import generate_key_pair

PRINCIPAL_REFUSED = r"Certificate invalid: name is not a listed principal"


@pytest.fixture(scope="module")
def caller():
    """The caller's own key pair: only the public half goes to the vault."""
    return generate_key_pair("ed25519")


@pytest.fixture
def ca(sshd, vaults):
    """A vault whose `ssh` engine exports its KRL to sshd's RevokedKeys and whose CA sshd trusts."""
    vault = vaults.open(ManualClock(start=time.time()))
    engine = vaults.configure(vault, sshd.krl_path, generate_ca=True)
    sshd.trust(engine.ca_public_key())
    vault.create_role(
        "ssh",
        "deploy",
        allowed_users=["deploy"],
        default_user="deploy",
        allowed_extensions=["permit-pty"],
        default_extensions=["permit-pty"],
    )
    return vault, engine


def login(sshd, caller_or_private, issued):
    """A paramiko key for the certificate in `issued` (and the caller's private key, or a generated one)."""
    private = caller_or_private if isinstance(caller_or_private, str) else caller_or_private.private_key
    return sshd.client_key(private, issued.data["signed_key"])


def test_certificate_for_deploy_logs_in_as_deploy_and_is_refused_as_another_user(sshd, ca, caller):
    vault, _ = ca
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    key = login(sshd, caller, issued)
    with sshd.connect("deploy", key) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")
    sshd.wait_for_log(rf'Accepted certificate ID "{issued.lease_id}" \(serial {issued.data["serial_number"]}\)')
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy2", key)
    sshd.wait_for_log(PRINCIPAL_REFUSED)


def test_certificate_past_its_valid_before_is_refused(sshd, vaults, caller):
    # The vault's clock stands two hours back: the one-hour certificate it signs expired an hour ago.
    vault = vaults.open(ManualClock(start=time.time() - 7200))
    engine = vaults.configure(vault, sshd.krl_path, generate_ca=True)
    sshd.trust(engine.ca_public_key())
    vault.create_role("ssh", "deploy", allowed_users=["deploy"], default_user="deploy")
    issued = vault.issue("ssh", "deploy", ttl="1h", public_key=caller.public_key)
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login(sshd, caller, issued))
    sshd.wait_for_log(r"Certificate invalid: expired")


def test_certificate_stops_working_when_its_lease_ends(sshd, vaults, caller):
    vault = vaults.open(SystemClock())
    engine = vaults.configure(vault, sshd.krl_path, generate_ca=True)
    sshd.trust(engine.ca_public_key())
    vault.create_role("ssh", "deploy", allowed_users=["deploy"], default_user="deploy")
    issued = vault.issue("ssh", "deploy", ttl="2s", public_key=caller.public_key)
    key = login(sshd, caller, issued)
    with sshd.connect("deploy", key) as client:
        assert sshd.run(client, "true")[0] == 0
    time.sleep(max(0.0, issued.lease.expires_at - time.time()) + 1.1)
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", key)
    sshd.wait_for_log(r"Certificate invalid: expired")


def test_certificate_from_another_ca_is_refused(sshd, ca, vaults, caller, tmp_path):
    vault, _ = ca
    # A second engine, with its own generated CA, that sshd does not trust.
    vaults.configure(vault, tmp_path / "other.krl", engine="other-ca", generate_ca=True, root_path="infra/ssh/other-ca")
    vault.create_role("other-ca", "deploy", allowed_users=["deploy"], default_user="deploy")
    foreign = vault.issue("other-ca", "deploy", public_key=caller.public_key)
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login(sshd, caller, foreign))
    sshd.wait_for_log(rf"Failed publickey for deploy .* ID {foreign.lease_id}")
    assert "Accepted certificate" not in sshd.log()


def test_revoked_lease_certificate_is_refused_while_still_valid(sshd, ca, caller):
    vault, engine = ca
    issued = vault.issue("ssh", "deploy", ttl="1h", public_key=caller.public_key)
    other = vault.issue("ssh", "deploy", ttl="1h", public_key=caller.public_key)
    key = login(sshd, caller, issued)
    with sshd.connect("deploy", key) as client:
        assert sshd.run(client, "true")[0] == 0
    vault.revoke(issued.lease_id)  # exports the KRL to sshd's RevokedKeys at once
    assert time.time() < issued.lease.expires_at - 3000  # well inside the validity window
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", key)
    sshd.wait_for_log(r"revoked by file")
    # The other lease's certificate, same key, is untouched.
    with sshd.connect("deploy", login(sshd, caller, other)) as client:
        assert sshd.run(client, "true")[0] == 0


def test_revoking_a_renewed_lease_refuses_every_certificate_it_was_given(sshd, ca, caller):
    vault, _ = ca
    issued = vault.issue("ssh", "deploy", ttl="30m", public_key=caller.public_key)
    renewed = vault.renew(issued.lease_id, "30m")
    first, second = login(sshd, caller, issued), sshd.client_key(caller.private_key, renewed.data["signed_key"])
    for key in (first, second):
        with sshd.connect("deploy", key) as client:
            assert sshd.run(client, "true")[0] == 0
    vault.revoke(issued.lease_id)
    for key in (first, second):
        with pytest.raises(paramiko.AuthenticationException):
            sshd.connect("deploy", key)


def test_without_permit_pty_no_terminal_is_granted(sshd, ca, caller):
    vault, _ = ca
    plain = vault.issue("ssh", "deploy", public_key=caller.public_key, extensions=[])
    assert plain.data["extensions"] == []
    with sshd.connect("deploy", login(sshd, caller, plain)) as client:
        assert sshd.run(client, "echo hello") == (0, "hello\n")
        with pytest.raises(paramiko.SSHException):
            sshd.run(client, "tty", pty=True)
    with_pty = vault.issue("ssh", "deploy", public_key=caller.public_key)  # the role's default: permit-pty
    with sshd.connect("deploy", login(sshd, caller, with_pty)) as client:
        status, output = sshd.run(client, "tty", pty=True)
    assert status == 0 and output.startswith("/dev/pts/")


def test_force_command_of_the_role_is_enforced(sshd, ca, caller):
    vault, _ = ca
    vault.create_role(
        "ssh",
        "report",
        allowed_users=["deploy"],
        default_user="deploy",
        critical_options={"force-command": "echo forced:$SSH_ORIGINAL_COMMAND"},
    )
    issued = vault.issue("ssh", "report", public_key=caller.public_key)
    with sshd.connect("deploy", login(sshd, caller, issued)) as client:
        assert sshd.run(client, "id -un") == (0, "forced:id -un\n")
        assert sshd.run(client, "cat /etc/shadow") == (0, "forced:cat /etc/shadow\n")
    sshd.wait_for_log(r"Starting session: forced-command \(key-option\)")


def test_source_address_of_the_request_is_enforced(sshd, ca, caller):
    vault, _ = ca
    vault.create_role(
        "ssh",
        "pinned",
        allowed_users=["deploy"],
        default_user="deploy",
        critical_options={"source-address": "127.0.0.0/8"},
        allowed_critical_options=["source-address"],
    )
    here = vault.issue("ssh", "pinned", public_key=caller.public_key)
    with sshd.connect("deploy", login(sshd, caller, here)) as client:
        assert sshd.run(client, "true")[0] == 0
    elsewhere = vault.issue(
        "ssh", "pinned", public_key=caller.public_key, critical_options={"source-address": "192.0.2.0/24"}
    )
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login(sshd, caller, elsewhere))
    sshd.wait_for_log(r"not from a permitted source address")


@pytest.mark.parametrize("key_type", ["ed25519", "ecdsa", "rsa"])
def test_generated_key_mode_returns_a_private_key_that_works_with_the_certificate(sshd, ca, key_type):
    vault, _ = ca
    vault.create_role(
        "ssh", f"gen-{key_type}", allowed_users=["deploy"], default_user="deploy", generated_key_type=key_type
    )
    issued = vault.issue("ssh", f"gen-{key_type}", generate_key=True)
    with sshd.connect("deploy", login(sshd, issued.data["private_key"], issued)) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")


def test_caller_key_mode_works_and_the_vault_never_holds_the_private_key(sshd, ca, vaults, caller):
    vault, _ = ca
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    with sshd.connect("deploy", login(sshd, caller, issued)) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")
    assert "private_key" not in issued.data and "public_key" not in issued.data
    handle = vaults.handle(vault, issued.lease_id)
    assert "private_key" not in handle and "PRIVATE KEY" not in repr(handle)
    assert handle["public_key"] == caller.public_key
    assert caller.private_key.splitlines()[1] not in repr(issued.to_dict())


def test_a_ca_sshd_does_not_trust_yet_works_once_trusted(sshd, ca, caller):
    vault, engine = ca
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    sshd.trust()  # no CA at all
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login(sshd, caller, issued))
    sshd.trust(engine.ca_public_key())
    with sshd.connect("deploy", login(sshd, caller, issued)) as client:
        assert sshd.run(client, "true")[0] == 0
