"""Callers' public keys, key policy, and generated key pairs, checked against ssh-keygen."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from scaivault_ssh import (
    InvalidKey,
    KeyNotAllowed,
    SSHError,
    check_key_policy,
    generate_key_pair,
    key_algorithm,
    key_bits,
    normalize_key_types,
    parse_public_key,
    public_key_line,
)

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen missing")

KEYGEN_TYPES = [
    ("ed25519", None, "ssh-ed25519", 256),
    ("ecdsa", 256, "ecdsa-sha2-nistp256", 256),
    ("ecdsa", 384, "ecdsa-sha2-nistp384", 384),
    ("ecdsa", 521, "ecdsa-sha2-nistp521", 521),
    ("rsa", 2048, "ssh-rsa", 2048),
]


def keygen(tmp_path, key_type, bits=None, name="id", comment="alice@laptop"):
    """A key pair made by OpenSSH's ssh-keygen; returns the private key path."""
    path = tmp_path / name
    cmd = ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        cmd += ["-b", str(bits)]
    subprocess.run(cmd, check=True)
    return path


@pytest.mark.parametrize("key_type,bits,algorithm,size", KEYGEN_TYPES)
def test_parses_ssh_keygen_public_keys(tmp_path, key_type, bits, algorithm, size):
    path = keygen(tmp_path, key_type, bits)
    line = path.with_suffix(".pub").read_text()
    key = parse_public_key(line)
    assert key_algorithm(key) == algorithm
    assert key_bits(key) == size
    assert public_key_line(key) == " ".join(line.split()[:2])


def test_refuses_a_certificate_in_place_of_a_key(tmp_path):
    ca = keygen(tmp_path, "ed25519", name="ca")
    user = keygen(tmp_path, "ed25519", name="user")
    subprocess.run(["ssh-keygen", "-q", "-s", str(ca), "-I", "x", "-n", "deploy", str(user) + ".pub"], check=True)
    with pytest.raises(InvalidKey, match="certificate was given"):
        parse_public_key((tmp_path / "user-cert.pub").read_text())


def test_refuses_a_dsa_key(tmp_path):
    # ssh-dss is disabled in current OpenSSH; it is refused by its type name, before parsing.
    line = "ssh-dss AAAAB3NzaC1kc3MAAACBAP" + "A" * 40 + " old@host"
    with pytest.raises(KeyNotAllowed, match="ssh-dss"):
        parse_public_key(line)


@pytest.mark.parametrize(
    "text,message",
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("ssh-ed25519 AAAA\nssh-ed25519 AAAA", "single line"),
        ("ssh-ed25519 not-base64!", "not a valid ssh-ed25519 key"),
        ("ssh-ed25519", "not a valid ssh-ed25519 key"),
        ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t", "not supported"),
        ("-----BEGIN PUBLIC KEY-----", "not supported"),
        ("ssh-ed25519 " + "A" * 20000, "single line"),
    ],
)
def test_refuses_malformed_public_keys(text, message):
    with pytest.raises(SSHError, match=message):
        parse_public_key(text)


def test_refuses_a_key_whose_blob_is_another_type(tmp_path):
    blob = keygen(tmp_path, "rsa", 2048).with_suffix(".pub").read_text().split()[1]
    with pytest.raises(InvalidKey):
        parse_public_key(f"ssh-ed25519 {blob}")


def test_policy_allows_families_and_algorithm_names(tmp_path):
    ecdsa384 = parse_public_key(keygen(tmp_path, "ecdsa", 384, name="e").with_suffix(".pub").read_text())
    check_key_policy(ecdsa384, allowed_types=["ecdsa"])
    check_key_policy(ecdsa384, allowed_types=["ecdsa-sha2-nistp384", "ed25519"])
    check_key_policy(ecdsa384)  # no list: every supported type
    refusal = "ecdsa-sha2-nistp384 is not allowed.*allowed: ecdsa-sha2-nistp256, ed25519"
    with pytest.raises(KeyNotAllowed, match=refusal):
        check_key_policy(ecdsa384, allowed_types=["ed25519", "ecdsa-sha2-nistp256"])


def test_policy_enforces_minimum_rsa_size(tmp_path):
    rsa2048 = parse_public_key(keygen(tmp_path, "rsa", 2048).with_suffix(".pub").read_text())
    check_key_policy(rsa2048, min_rsa_bits=2048)
    with pytest.raises(KeyNotAllowed, match="RSA key is 2048 bits; this role requires at least 3072"):
        check_key_policy(rsa2048, allowed_types=["rsa"], min_rsa_bits=3072)


def test_unknown_allowed_type_is_refused():
    assert normalize_key_types([" RSA", "ssh-ed25519"]) == {"rsa", "ssh-ed25519"}
    with pytest.raises(KeyNotAllowed, match="unknown key type 'dsa'"):
        normalize_key_types(["dsa"])


@pytest.mark.parametrize(
    "key_type,bits,algorithm",
    [("ed25519", None, "ssh-ed25519"), ("ecdsa", 384, "ecdsa-sha2-nistp384"), ("rsa", 2048, "ssh-rsa")],
)
def test_generated_pair_is_read_by_ssh_keygen(tmp_path, key_type, bits, algorithm):
    pair = generate_key_pair(key_type, bits, comment="lease/123")
    assert pair.public_key.startswith(f"{algorithm} ") and pair.public_key.endswith(" lease/123")
    private = tmp_path / "generated"
    private.touch(mode=0o600)
    private.write_text(pair.private_key)
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True)
    assert derived.stdout.split()[:2] == pair.public_key.split()[:2]
    assert pair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")


def test_generated_private_key_stays_out_of_repr():
    pair = generate_key_pair()
    assert "PRIVATE" not in repr(pair) and pair.private_key not in repr(pair)
    assert pair.public_key in repr(pair)


@pytest.mark.parametrize(
    "key_type,bits", [("ed25519", 4096), ("ecdsa", 512), ("rsa", 1024), ("rsa", 32768), ("dsa", None)]
)
def test_generation_refuses_bad_sizes_and_types(key_type, bits):
    with pytest.raises(KeyNotAllowed):
        generate_key_pair(key_type, bits)
