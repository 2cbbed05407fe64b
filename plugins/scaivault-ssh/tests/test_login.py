"""Certificates signed here, presented by paramiko to a real sshd that trusts the CA."""

from __future__ import annotations

import time

import paramiko
import pytest

from scaivault_ssh import (
    ca_public_key_line,
    generate_ca_key,
    generate_key_pair,
    random_serial,
    sign_user_certificate,
)

PRINCIPAL_REFUSED = r"Certificate invalid: name is not a listed principal"


def sign(ca_key, public_key, **fields):
    """Sign with test defaults: principal deploy, five minutes, random serial."""
    fields.setdefault("serial", random_serial())
    fields.setdefault("key_id", "lease/test")
    fields.setdefault("principals", ["deploy"])
    fields.setdefault("valid_before", int(time.time()) + 300)
    return sign_user_certificate(ca_key, public_key, **fields)


@pytest.fixture
def ca_key(sshd):
    """An Ed25519 CA the test sshd trusts."""
    key = generate_ca_key("ed25519")
    sshd.trust(ca_public_key_line(key, "scaivault-test-ca"))
    return key


@pytest.fixture(scope="module")
def client_pair():
    """The caller's own key pair (the caller-key mode: only the public half is sent)."""
    return generate_key_pair("ed25519")


def login_key(sshd, pair, cert):
    return sshd.client_key(pair.private_key, cert.certificate)


@pytest.mark.parametrize(
    "ca_type,bits",
    [("ed25519", None), ("ecdsa", 256), ("ecdsa", 384), ("ecdsa", 521), ("rsa", 2048), ("rsa", 4096)],
)
def test_each_ca_key_type_is_accepted_by_sshd(sshd, client_pair, ca_type, bits):
    ca = generate_ca_key(ca_type, bits)
    sshd.trust(ca_public_key_line(ca))
    cert = sign(ca, client_pair.public_key, key_id=f"lease/{ca_type}")
    with sshd.connect("deploy", login_key(sshd, client_pair, cert)) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")
    sshd.wait_for_log(rf'Accepted certificate ID "lease/{ca_type}" \(serial {cert.serial}\)')


@pytest.mark.parametrize("key_type,bits", [("ed25519", None), ("ecdsa", 256), ("ecdsa", 521), ("rsa", 3072)])
def test_each_user_key_type_logs_in(sshd, ca_key, key_type, bits):
    pair = generate_key_pair(key_type, bits)
    cert = sign(ca_key, pair.public_key)
    with sshd.connect("deploy", login_key(sshd, pair, cert)) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")


def test_certificate_for_deploy_is_refused_as_another_user(sshd, ca_key, client_pair):
    cert = sign(ca_key, client_pair.public_key, principals=["deploy"])
    key = login_key(sshd, client_pair, cert)
    with sshd.connect("deploy", key) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy2", key)
    sshd.wait_for_log(PRINCIPAL_REFUSED)


def test_certificate_listing_both_users_reaches_both(sshd, ca_key, client_pair):
    cert = sign(ca_key, client_pair.public_key, principals=["deploy", "deploy2"])
    key = login_key(sshd, client_pair, cert)
    for user in ("deploy", "deploy2"):
        with sshd.connect(user, key) as client:
            assert sshd.run(client, "id -un") == (0, f"{user}\n")


def test_expired_certificate_is_refused(sshd, ca_key, client_pair):
    now = int(time.time())
    cert = sign(ca_key, client_pair.public_key, valid_after=now - 3600, valid_before=now - 60)
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login_key(sshd, client_pair, cert))
    sshd.wait_for_log(r"Certificate invalid: expired")


def test_not_yet_valid_certificate_is_refused(sshd, ca_key, client_pair):
    now = int(time.time())
    cert = sign(ca_key, client_pair.public_key, valid_after=now + 600, valid_before=now + 1200)
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login_key(sshd, client_pair, cert))
    sshd.wait_for_log(r"Certificate invalid: not yet valid")


def test_backdated_certificate_survives_a_host_clock_behind(sshd, ca_key, client_pair):
    # Signed as if the CA's clock ran 30 s ahead of the host: the default backdate absorbs it.
    cert = sign(ca_key, client_pair.public_key, now=time.time() + 30)
    with sshd.connect("deploy", login_key(sshd, client_pair, cert)) as client:
        assert sshd.run(client, "true")[0] == 0


def test_certificate_from_another_ca_is_refused(sshd, ca_key, client_pair):
    other_ca = generate_ca_key("ed25519")
    cert = sign(other_ca, client_pair.public_key)
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login_key(sshd, client_pair, cert))
    sshd.wait_for_log(r"Failed publickey for deploy .* ID lease/test")
    assert "Accepted certificate" not in sshd.log()


def test_plain_key_without_certificate_is_refused(sshd, ca_key, client_pair):
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", sshd.client_key(client_pair.private_key))


def test_without_permit_pty_exec_works_but_no_terminal(sshd, ca_key, client_pair):
    cert = sign(ca_key, client_pair.public_key, extensions=[])
    with sshd.connect("deploy", login_key(sshd, client_pair, cert)) as client:
        assert sshd.run(client, "echo hello") == (0, "hello\n")
        with pytest.raises(paramiko.SSHException):
            sshd.run(client, "tty", pty=True)


def test_with_permit_pty_a_terminal_is_granted(sshd, ca_key, client_pair):
    cert = sign(ca_key, client_pair.public_key, extensions=["permit-pty"])
    with sshd.connect("deploy", login_key(sshd, client_pair, cert)) as client:
        status, output = sshd.run(client, "tty", pty=True)
    assert status == 0 and output.startswith("/dev/pts/")


def test_force_command_replaces_the_requested_command(sshd, ca_key, client_pair):
    forced = "echo forced:$SSH_ORIGINAL_COMMAND"
    cert = sign(ca_key, client_pair.public_key, critical_options={"force-command": forced})
    with sshd.connect("deploy", login_key(sshd, client_pair, cert)) as client:
        assert sshd.run(client, "id -un") == (0, "forced:id -un\n")
    sshd.wait_for_log(r"Starting session: forced-command \(key-option\)")


def test_source_address_admits_only_listed_clients(sshd, ca_key, client_pair):
    allowed = sign(ca_key, client_pair.public_key, critical_options={"source-address": "127.0.0.0/8,::1"})
    with sshd.connect("deploy", login_key(sshd, client_pair, allowed)) as client:
        assert sshd.run(client, "true")[0] == 0
    elsewhere = sign(ca_key, client_pair.public_key, critical_options={"source-address": "10.0.0.0/8"})
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", login_key(sshd, client_pair, elsewhere))
    sshd.wait_for_log(r"not from a permitted source address")


def test_generated_key_pair_works_with_its_certificate(sshd, ca_key):
    pair = generate_key_pair("ed25519", comment="lease/generated")
    cert = sign(ca_key, pair.public_key)
    with sshd.connect("deploy", sshd.client_key(pair.private_key, cert.certificate)) as client:
        assert sshd.run(client, "id -un") == (0, "deploy\n")
