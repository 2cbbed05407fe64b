"""The CA key (loaded from OpenSSH/PEM text or generated) and the certificates it signs."""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from scaivault_ssh import (
    DEFAULT_BACKDATE,
    InvalidCertificateRequest,
    InvalidKey,
    KeyNotAllowed,
    ca_private_key_text,
    ca_public_key_line,
    generate_ca_key,
    generate_key_pair,
    load_ca_key,
    sign_user_certificate,
)

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen missing")


def keygen(tmp_path, key_type, bits=None, fmt=None, passphrase=""):
    """A CA key written by OpenSSH's ssh-keygen (`fmt`: None for OpenSSH, or PEM / PKCS8)."""
    path = tmp_path / f"ca-{key_type}-{bits}-{fmt}"
    cmd = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", "ca", "-f", str(path)]
    if bits:
        cmd += ["-b", str(bits)]
    if fmt:
        cmd += ["-m", fmt]
    subprocess.run(cmd, check=True)
    return path


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@needs_ssh_keygen
@pytest.mark.parametrize("fmt", [None, "PEM", "PKCS8"])
@pytest.mark.parametrize("key_type,bits", [("ed25519", None), ("ecdsa", 256), ("ecdsa", 521), ("rsa", 2048)])
def test_loads_ssh_keygen_ca_keys(tmp_path, key_type, bits, fmt):
    path = keygen(tmp_path, key_type, bits, fmt)
    ca = load_ca_key(path.read_text())
    expected = path.with_name(path.name + ".pub").read_text().split()[:2]
    assert ca_public_key_line(ca).split() == expected
    assert ca_public_key_line(ca, "vault ca").split() == [*expected, "vault", "ca"]


@needs_ssh_keygen
def test_encrypted_ca_key_needs_its_passphrase(tmp_path):
    text = keygen(tmp_path, "ed25519", passphrase="correct horse").read_text()
    assert load_ca_key(text, "correct horse")
    with pytest.raises(InvalidKey, match="encrypted; give its passphrase"):
        load_ca_key(text)
    with pytest.raises(InvalidKey, match="wrong passphrase") as excinfo:
        load_ca_key(text, "wrong")
    assert "wrong" not in str(excinfo.value).replace("wrong passphrase", "")


def test_passphrase_for_a_plain_key_is_refused():
    with pytest.raises(InvalidKey, match="not encrypted"):
        load_ca_key(ca_private_key_text(generate_ca_key()), "pw")


def test_unreadable_key_error_holds_no_key_material():
    text = ca_private_key_text(generate_ca_key())
    damaged = text.replace(text.splitlines()[2], text.splitlines()[2][::-1])
    with pytest.raises(InvalidKey) as excinfo:
        load_ca_key(damaged)
    message = str(excinfo.value)
    assert "not a readable private key" in message
    assert not any(line in message for line in damaged.splitlines()[1:-1])
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__


@pytest.mark.parametrize(
    "key,message",
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=1024), "1024 bits"),
        (ec.generate_private_key(ec.SECP256K1()), "nistp256"),
        (dsa.generate_private_key(key_size=2048), "Ed25519, ECDSA or RSA"),
    ],
)
def test_refuses_ca_keys_it_should_not_sign_with(key, message):
    with pytest.raises(KeyNotAllowed, match=message):
        load_ca_key(pem(key))


@needs_ssh_keygen
@pytest.mark.parametrize("key_type,bits", [("ed25519", None), ("ecdsa", 384), ("rsa", 2048)])
def test_generated_ca_key_round_trips_through_openssh(tmp_path, key_type, bits):
    ca = generate_ca_key(key_type, bits)
    path = tmp_path / "ca"
    path.touch(mode=0o600)
    path.write_text(ca_private_key_text(ca))
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(path)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == ca_public_key_line(ca).split()
    assert ca_public_key_line(load_ca_key(path.read_text())) == ca_public_key_line(ca)


def test_certificate_carries_the_requested_fields():
    ca = generate_ca_key("ecdsa", 256)
    pair = generate_key_pair("ed25519")
    now = int(time.time())
    before = datetime.now(UTC) + timedelta(hours=1)
    signed = sign_user_certificate(
        ca,
        pair.public_key,
        serial=2**63 + 5,
        key_id="lease/ssh/deploy/abc123",
        principals=["deploy", "ops", "deploy"],
        valid_before=before,
        extensions=["permit-pty", "permit-agent-forwarding", "permit-pty"],
        critical_options={"force-command": "/usr/bin/uptime", "source-address": "10.0.0.0/8, 127.0.0.1"},
        now=now,
    )
    cert = serialization.load_ssh_public_identity(signed.certificate.encode())
    cert.verify_cert_signature()
    assert cert.signature_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode() == ca_public_key_line(ca)
    assert cert.type is serialization.SSHCertificateType.USER
    assert cert.serial == signed.serial == 2**63 + 5
    assert cert.key_id == b"lease/ssh/deploy/abc123"
    assert cert.valid_principals == [b"deploy", b"ops"] and signed.principals == ("deploy", "ops")
    assert cert.valid_after == signed.valid_after == now - DEFAULT_BACKDATE
    assert cert.valid_before == signed.valid_before == int(before.timestamp())
    assert cert.extensions == {b"permit-agent-forwarding": b"", b"permit-pty": b""}
    assert cert.critical_options == {
        b"force-command": b"/usr/bin/uptime",
        b"source-address": b"10.0.0.0/8,127.0.0.1",
    }
    assert signed.certificate.startswith("ssh-ed25519-cert-v01@openssh.com ")


def test_backdate_and_explicit_valid_after():
    ca, pair = generate_ca_key(), generate_key_pair()
    now = int(time.time())

    def sign(**fields):
        return sign_user_certificate(
            ca, pair.public_key, serial=1, key_id="a", principals=["deploy"], valid_before=now + 60, **fields
        )

    assert now - DEFAULT_BACKDATE - 1 <= sign().valid_after <= now - DEFAULT_BACKDATE + 1
    assert sign(backdate=0, now=now).valid_after == now
    assert sign(valid_after=now - 5).valid_after == now - 5


@pytest.mark.parametrize(
    "fields,message",
    [
        ({"serial": 0}, "serial"),
        ({"serial": 2**64}, "serial"),
        ({"serial": "7"}, "serial"),
        ({"key_id": ""}, "key id"),
        ({"key_id": "a\nb"}, "key id"),
        ({"principals": []}, "non-empty list"),
        ({"principals": "deploy"}, "non-empty list"),
        ({"principals": ["de ploy"]}, "spaces or commas: de ploy"),
        ({"principals": ["a,b"]}, "spaces or commas: a,b"),
        ({"extensions": ["permit-pty", "permit-everything"]}, "unknown extensions: permit-everything"),
        ({"extensions": "permit-pty"}, "list of names"),
        ({"critical_options": {"verify-required": ""}}, "unknown critical options: verify-required"),
        ({"critical_options": {"force-command": " "}}, "force-command"),
        ({"critical_options": {"source-address": "10.0.0.0/8,example.com"}}, "'example.com' is not an IP"),
        ({"valid_before": 1_000, "valid_after": 2_000}, "later than valid_after"),
        ({"valid_before": datetime(2030, 1, 1)}, "timezone-aware"),
        ({"valid_before": -5}, "seconds since the epoch"),
        ({"backdate": -1}, "backdate"),
    ],
)
def test_malformed_requests_are_refused_by_name(fields, message):
    ca, pair = generate_ca_key(), generate_key_pair()
    request = {"serial": 1, "key_id": "lease/x", "principals": ["deploy"], "valid_before": time.time() + 60}
    with pytest.raises(InvalidCertificateRequest, match=message):
        sign_user_certificate(ca, pair.public_key, **{**request, **fields})


def test_caller_key_errors_come_from_parsing():
    with pytest.raises(InvalidKey):
        sign_user_certificate(
            generate_ca_key(),
            "ssh-ed25519 AAAA",
            serial=1,
            key_id="x",
            principals=["deploy"],
            valid_before=time.time() + 60,
        )
