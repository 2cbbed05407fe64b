"""KRLs built here, checked by OpenSSH's own reader (`ssh-keygen -Q`) and by a real sshd."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import time

import paramiko
import pytest

from scaivault_ssh import (
    InvalidCertificateRequest,
    build_krl,
    ca_public_key_line,
    export_krl,
    generate_ca_key,
    generate_key_pair,
    sign_user_certificate,
    write_krl,
)

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen missing")


def sign(ca_key, public_key, serial, **fields):
    fields.setdefault("key_id", f"lease/{serial}")
    fields.setdefault("principals", ["deploy"])
    fields.setdefault("valid_before", int(time.time()) + 300)
    return sign_user_certificate(ca_key, public_key, serial=serial, **fields)


def query(krl_path, cert_path) -> bool:
    """Ask OpenSSH whether the certificate is revoked (ssh-keygen -Q exits 1 for revoked)."""
    result = subprocess.run(["ssh-keygen", "-Q", "-f", str(krl_path), str(cert_path)], capture_output=True, text=True)
    assert result.returncode in (0, 1), result.stderr
    assert ("REVOKED" in result.stdout) == (result.returncode == 1)
    return result.returncode == 1


def listing(krl_path) -> list[str]:
    """The revocations OpenSSH reads from a KRL, without its version, date and comment lines."""
    result = subprocess.run(["ssh-keygen", "-Q", "-l", "-f", str(krl_path)], capture_output=True, text=True, check=True)
    skipped = ("# KRL", "# Gen", "# Com")
    return [line for line in result.stdout.splitlines() if line and not line.startswith(skipped)]


@pytest.fixture(scope="module")
def ca_key():
    return generate_ca_key("ed25519")


@pytest.fixture(scope="module")
def client_pair():
    return generate_key_pair("ed25519")


@needs_ssh_keygen
@pytest.mark.parametrize("ca_type,bits", [("ed25519", None), ("ecdsa", 384), ("rsa", 2048)])
def test_ssh_keygen_reports_listed_serials_revoked(tmp_path, client_pair, ca_type, bits):
    ca = generate_ca_key(ca_type, bits)
    export_krl(tmp_path / "krl", ca_public_key_line(ca), [3, 7, 8, 9, 10, 42])
    for serial, revoked in [(3, True), (7, True), (9, True), (10, True), (42, True), (4, False), (11, False)]:
        cert_path = tmp_path / f"cert-{serial}.pub"
        cert_path.write_text(sign(ca, client_pair.public_key, serial).certificate + "\n")
        assert query(tmp_path / "krl", cert_path) is revoked, serial


@needs_ssh_keygen
def test_same_serial_from_another_ca_is_not_revoked(tmp_path, ca_key, client_pair):
    export_krl(tmp_path / "krl", ca_key, [5])
    cert_path = tmp_path / "cert.pub"
    cert_path.write_text(sign(generate_ca_key(), client_pair.public_key, 5).certificate + "\n")
    assert query(tmp_path / "krl", cert_path) is False


@needs_ssh_keygen
def test_listing_matches_a_krl_built_by_ssh_keygen(tmp_path, ca_key):
    serials = [1, 2, 3, 4, 10, 12, 13, 2**64 - 1]
    ca_pub = tmp_path / "ca.pub"
    ca_pub.write_text(ca_public_key_line(ca_key) + "\n")
    spec = tmp_path / "spec"
    spec.write_text("".join(f"serial: {s}\n" for s in serials))
    subprocess.run(
        ["ssh-keygen", "-q", "-k", "-f", str(tmp_path / "theirs"), "-s", str(ca_pub), str(spec)],
        check=True,
        capture_output=True,
    )
    export_krl(tmp_path / "ours", ca_key, reversed(serials), comment="scaivault")
    assert listing(tmp_path / "ours") == listing(tmp_path / "theirs")
    assert "serial: 1-4" in listing(tmp_path / "ours")
    dump = subprocess.run(["ssh-keygen", "-Q", "-l", "-f", str(tmp_path / "ours")], capture_output=True, text=True)
    assert "# Comment: scaivault" in dump.stdout


def test_header_and_sections_follow_protocol_krl(ca_key):
    data = build_krl(ca_key, [9, 5, 5, 6, 7], version=17, generated_at=1_700_000_000, comment="c")
    assert data[:8] == b"SSHKRL\n\0"
    assert struct.unpack(">IQQQ", data[8:36]) == (1, 17, 1_700_000_000, 0)
    empty = build_krl(ca_key, [], version=1, generated_at=1)
    # Header only: magic, format, version, date, flags, empty reserved, empty comment.
    assert len(empty) == 8 + 4 + 8 + 8 + 8 + 4 + 4


def test_serial_out_of_range_is_refused(ca_key):
    for bad in (0, -1, 2**64, "5", True):
        with pytest.raises(InvalidCertificateRequest):
            build_krl(ca_key, [bad])


def test_write_is_atomic_and_readable(tmp_path, ca_key):
    target = tmp_path / "revoked.krl"
    target.write_bytes(b"old")
    data = build_krl(ca_key, [1])
    write_krl(target, data)
    assert target.read_bytes() == data
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["revoked.krl"]


def test_failed_write_leaves_the_old_file(tmp_path, ca_key):
    target = tmp_path / "revoked.krl"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_krl(target, "not bytes")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["revoked.krl"]


def test_empty_krl_revokes_nothing_in_sshd(sshd, ca_key, client_pair):
    sshd.trust(ca_public_key_line(ca_key))
    sshd.revoke(build_krl(ca_key, []))
    cert = sign(ca_key, client_pair.public_key, 100)
    with sshd.connect("deploy", sshd.client_key(client_pair.private_key, cert.certificate)) as client:
        assert sshd.run(client, "true")[0] == 0


@pytest.mark.parametrize("ca_type,bits", [("ed25519", None), ("ecdsa", 256), ("rsa", 3072)])
def test_revoked_certificate_is_refused_while_still_valid(sshd, client_pair, ca_type, bits):
    ca = generate_ca_key(ca_type, bits)
    sshd.trust(ca_public_key_line(ca))
    revoked = sign(ca, client_pair.public_key, 500)
    kept = sign(ca, client_pair.public_key, 501)
    revoked_key = sshd.client_key(client_pair.private_key, revoked.certificate)
    kept_key = sshd.client_key(client_pair.private_key, kept.certificate)
    with sshd.connect("deploy", revoked_key) as client:
        assert sshd.run(client, "true")[0] == 0

    sshd.revoke(build_krl(ca, [499, 500, 502]))
    assert revoked.valid_before > time.time()
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", revoked_key)
    sshd.wait_for_log(r"revoked by file")
    with sshd.connect("deploy", kept_key) as client:
        assert sshd.run(client, "true")[0] == 0

    # Dropping the serial from the list (as the engine does once it expires) readmits it.
    sshd.revoke(build_krl(ca, [499, 502]))
    with sshd.connect("deploy", revoked_key) as client:
        assert sshd.run(client, "true")[0] == 0


def test_revoked_ranges_are_refused_by_sshd(sshd, ca_key, client_pair):
    sshd.trust(ca_public_key_line(ca_key))
    sshd.revoke(build_krl(ca_key, range(1000, 1100)))
    for serial, refused in [(1000, True), (1050, True), (1099, True), (1100, False), (999, False)]:
        cert = sign(ca_key, client_pair.public_key, serial)
        key = sshd.client_key(client_pair.private_key, cert.certificate)
        if refused:
            with pytest.raises(paramiko.AuthenticationException):
                sshd.connect("deploy", key)
        else:
            with sshd.connect("deploy", key) as client:
                assert sshd.run(client, "true")[0] == 0
