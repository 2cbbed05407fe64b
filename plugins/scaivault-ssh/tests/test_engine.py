"""The ssh engine through a real Vault: CA key, config, roles, requests, certificates and lease handles."""

from __future__ import annotations

import logging
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from scaivault_core import InvalidConfig, InvalidRequest, ManualClock, Vault
from scaivault_ssh import (
    SSHEngine,
    ca_private_key_text,
    ca_public_key_line,
    generate_ca_key,
    generate_key_pair,
    load_ca_key,
    public_key_line,
)

ROLE = {
    "allowed_users": ["deploy", "ops"],
    "default_user": "deploy",
    "allowed_extensions": ["permit-pty", "permit-port-forwarding"],
    "default_extensions": ["permit-pty"],
}


def certificate(line: str) -> serialization.SSHCertificate:
    cert = serialization.load_ssh_public_identity(line.encode())
    cert.verify_cert_signature()
    return cert


def openssh(key) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture(scope="module")
def caller():
    """The caller's own key pair; only the public half is ever sent."""
    return generate_key_pair("ed25519", comment="alice@laptop")


@pytest.fixture
def clock():
    return ManualClock(start=time.time())


@pytest.fixture
def setup(vaults, clock):
    """A vault, an Ed25519 CA stored at the root path, the engine and the `deploy` role."""
    vault = vaults.open(clock)
    ca = generate_ca_key("ed25519")
    engine = vaults.configure(vault, ca_key=ca)
    vault.create_role("ssh", "deploy", **ROLE, default_ttl="1h", max_ttl="4h")
    return vault, engine, ca


# -- registration and the CA -----------------------------------------------------------------------


def test_installed_distribution_registers_the_engine_through_its_entry_point(tmp_path):
    with Vault(tmp_path / "v.db", start_worker=False) as vault:
        assert any("ssh/ssh" in info.engines for info in vault.plugins())
        assert vault.registry.get("ssh", "ssh") is SSHEngine


@pytest.mark.parametrize("ca_type,bits", [("ed25519", None), ("ecdsa", 384), ("rsa", 3072)])
def test_ca_key_comes_from_the_root_secret(vaults, tmp_path, ca_type, bits):
    vault = vaults.open()
    ca = generate_ca_key(ca_type, bits)
    engine = vaults.configure(vault, ca_key=ca)
    line = engine.ca_public_key()
    # One TrustedUserCAKeys line: the CA's public key and a comment naming the engine.
    assert line.split()[:2] == ca_public_key_line(ca).split() and line.endswith(" scaivault-ca:ssh")
    assert "\n" not in line and "PRIVATE" not in line
    # verify() exported an (empty) KRL, so sshd's RevokedKeys file exists before any revocation.
    # Equal apart from the header's KRL version and generation time (seconds), which may tick in between.
    assert (tmp_path / "revoked.krl").read_bytes()[36:] == engine.krl()[36:]
    assert (tmp_path / "revoked.krl").read_bytes()[:8] == b"SSHKRL\n\0"
    assert engine.revoked_certificates() == []


def test_generate_ca_creates_and_stores_the_key_once(vaults, tmp_path):
    vault = vaults.open()
    engine = vaults.configure(vault, generate_ca=True, ca_key_type="ecdsa", ca_key_bits=256)
    stored = vault.get_secret(vaults.root_path)
    assert stored.version == 2 and "generated" in stored.reason
    assert stored.data["public_key"] == ca_public_key_line(load_ca_key(stored.data["private_key"]))
    assert engine.ca_public_key().startswith(stored.data["public_key"] + " ")
    assert engine.ca_public_key().startswith("ecdsa-sha2-nistp256 ")
    # Another process (a second vault on the same store) and a later update use that same key.
    other = vaults.open()
    assert vaults.engine(other).ca_public_key() == engine.ca_public_key()
    vault.update_engine(
        "ssh",
        "ssh",
        {"root_credentials_path": vaults.root_path, "krl_path": str(tmp_path / "revoked.krl"), "generate_ca": True},
    )
    assert vault.get_secret(vaults.root_path).version == 2
    assert vaults.engine(vault).ca_public_key() == engine.ca_public_key()


def test_generate_ca_also_answers_a_root_secret_that_is_not_there(vaults):
    # The core refuses to create an engine whose root secret is missing, so reach that case by
    # deleting it afterwards: the engine then generates (and stores) a CA key again.
    vault = vaults.open()
    engine = vaults.configure(vault, generate_ca=True)
    first = engine.ca_public_key()
    vault.delete_secret(vaults.root_path)
    second = engine.ca_public_key()
    assert second != first
    assert second.startswith(vault.get_secret(vaults.root_path).data["public_key"] + " ")


def test_a_stored_key_wins_over_generate_ca(vaults):
    vault = vaults.open()
    ca = generate_ca_key()
    engine = vaults.configure(vault, ca_key=ca, generate_ca=True)
    assert engine.ca_public_key().split()[:2] == ca_public_key_line(ca).split()
    assert vault.get_secret(vaults.root_path).version == 1


def test_root_secret_without_private_key_is_invalid_config_unless_generating(vaults):
    vault = vaults.open()
    with pytest.raises(InvalidConfig, match="hold no private_key.*generate_ca") as excinfo:
        vaults.configure(vault)
    assert excinfo.value.details["field"] == "config.root_credentials_path"


def test_generate_ca_does_not_hide_a_missing_grant(vaults, tmp_path):
    vault = vaults.open()
    vault.put_secret(vaults.root_path, {})
    with pytest.raises(InvalidConfig) as excinfo:
        vault.create_engine(
            "ssh",
            "ssh",
            {"root_credentials_path": vaults.root_path, "krl_path": str(tmp_path / "krl"), "generate_ca": True},
        )
    assert excinfo.value.details["missing_grant"]["identity"] == "dynamic:ssh"
    assert vault.get_secret(vaults.root_path).version == 1


def test_unusable_ca_key_is_invalid_config_without_quoting_it(vaults):
    vault = vaults.open()
    text = ca_private_key_text(generate_ca_key())
    lines = text.splitlines()
    damaged = text.replace(lines[2], lines[2][::-1])
    vault.put_secret(vaults.root_path, {"private_key": damaged})
    with pytest.raises(InvalidConfig, match="CA key in the root credentials is unusable") as excinfo:
        vaults.configure(vault, store_secret=False)
    assert not any(part in excinfo.value.message for part in damaged.splitlines()[1:-1])


def test_encrypted_ca_key_is_read_with_the_stored_passphrase(vaults):
    vault = vaults.open()
    ca = generate_ca_key()
    encrypted = ca.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(b"s3cret-pass"),
    ).decode()
    vault.put_secret(vaults.root_path, {"private_key": encrypted, "passphrase": "s3cret-pass"})
    engine = vaults.configure(vault, store_secret=False)
    assert engine.ca_public_key().split()[:2] == ca_public_key_line(ca).split()


@pytest.mark.parametrize(
    "config,field",
    [
        ({"krl_path": "relative/revoked.krl"}, "config.krl_path"),
        ({"krl_path": "/nonexistent-dir-scaivault/revoked.krl"}, "config.krl_path"),
        ({"generate_ca": "false"}, "config.generate_ca"),
        ({"ca_key_type": "dsa"}, "config.ca_key_type"),
        ({"key_id_format": "{{role}}-cert"}, "config.key_id_format"),
        ({"key_id_format": "{{lease_id}}-{{user}}"}, "config.key_id_format"),
        ({"key_id_format": "{{lease_id"}, "config.key_id_format"),
        ({"ca_key_type": "ecdsa", "ca_key_bits": 255}, "config.ca_key_bits"),
        ({"ca_key_type": "rsa", "ca_key_bits": 1024}, "config.ca_key_bits"),
        ({"backdate": "2h"}, "config.backdate"),
        ({"backdate": "soon"}, "config.backdate"),
        ({"ttl": "1h"}, None),  # unknown keys are refused by the core
    ],
)
def test_bad_config_is_invalid_config_naming_the_field(vaults, config, field):
    vault = vaults.open()
    with pytest.raises(InvalidConfig) as excinfo:
        vaults.configure(vault, ca_key=generate_ca_key(), **config)
    if field:
        assert excinfo.value.details.get("field") == field, excinfo.value.message


# -- roles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"allowed_users": []}, "allowed_users"),
        ({"allowed_users": ["*"]}, "allowed_users"),
        ({"allowed_users": ["deploy", "bad name"]}, "allowed_users"),
        ({"allowed_users": [1, 2]}, "allowed_users"),
        ({"default_user": "root"}, "default_user"),
        ({"allowed_extensions": ["permit-everything"]}, "allowed_extensions"),
        ({"default_extensions": ["permit-agent-forwarding"]}, "default_extensions"),
        ({"critical_options": {"verify-required": ""}}, "critical_options"),
        ({"critical_options": {"source-address": "10.0.0.0/33"}}, "critical_options"),
        ({"critical_options": "force-command=/bin/true"}, "critical_options"),
        ({"allowed_critical_options": ["no-touch-required"]}, "allowed_critical_options"),
        ({"allowed_key_types": ["dsa"]}, "allowed_key_types"),
        ({"allowed_key_types": []}, "allowed_key_types"),
        ({"min_rsa_bits": 512}, "min_rsa_bits"),
        ({"allow_key_generation": "no"}, "allow_key_generation"),
        ({"generated_key_type": "dsa"}, "generated_key_type"),
        ({"generated_key_type": "ecdsa", "generated_key_bits": 255}, "generated_key_bits"),
        ({"generated_key_type": "rsa", "generated_key_bits": 2048, "min_rsa_bits": 3072}, "generated_key_bits"),
        ({"allowed_key_types": ["rsa"]}, "generated_key_type"),
    ],
)
def test_bad_role_is_invalid_config_naming_the_field(setup, fields, field):
    vault = setup[0]
    with pytest.raises(InvalidConfig) as excinfo:
        vault.create_role("ssh", "bad", **{**ROLE, **fields})
    assert excinfo.value.details.get("field") == field, excinfo.value.message


def test_role_takes_comma_separated_names_and_vault_style_extension_maps(setup, caller):
    vault = setup[0]
    vault.create_role(
        "ssh",
        "ops",
        allowed_users="ops, deploy",
        default_user="ops",
        allowed_extensions={"permit-pty": "", "permit-X11-forwarding": ""},
        default_extensions={"permit-pty": ""},
    )
    issued = vault.issue(
        "ssh",
        "ops",
        public_key=caller.public_key,
        valid_principals="ops,deploy",
        extensions={"permit-X11-forwarding": ""},
    )
    assert issued.data["principals"] == ["ops", "deploy"]
    assert issued.data["extensions"] == ["permit-X11-forwarding"]


# -- issuing ---------------------------------------------------------------------------------------


def test_certificate_names_the_lease_and_ends_with_it(setup, caller, clock):
    vault, engine, ca = setup
    issued = vault.issue("ssh", "deploy", ttl="30m", public_key=caller.public_key)
    data, lease = issued.data, issued.lease
    cert = certificate(data["signed_key"])
    assert openssh(cert.signature_key()) == ca_public_key_line(ca)
    assert openssh(cert.public_key()) == public_key_line(
        serialization.load_ssh_public_identity(caller.public_key.encode())
    )
    assert cert.type is serialization.SSHCertificateType.USER
    assert str(cert.serial) == data["serial_number"] and cert.serial > 0
    assert cert.key_id.decode() == data["key_id"] == issued.lease_id
    assert cert.valid_principals == [b"deploy"] and data["principals"] == ["deploy"]
    # valid_after lies the backdate (60 s) before issue; valid_before is the lease's expiry.
    assert cert.valid_after == int(clock.time()) - 60
    assert cert.valid_before == int(lease.expires_at) == int(clock.time()) + 1800
    assert data["valid_before"] == issued.to_dict()["expires_at"]
    assert cert.extensions == {b"permit-pty": b""} and cert.critical_options == {}
    assert lease.subject == f"deploy serial {cert.serial}"
    assert issued.lease_id.startswith("lease_ssh_")


def test_caller_key_mode_never_stores_or_returns_a_private_key(setup, vaults, caller, tmp_path, caplog):
    vault, engine, ca = setup
    with caplog.at_level(logging.DEBUG):
        issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    assert set(issued.data) == {
        "signed_key",
        "serial_number",
        "key_id",
        "principals",
        "extensions",
        "critical_options",
        "valid_after",
        "valid_before",
    }
    handle = vaults.handle(vault, issued.lease_id)
    # The handle keeps the public key (for re-signing) without the caller's comment, and what revocation needs.
    assert handle["public_key"] == " ".join(caller.public_key.split()[:2])
    assert handle["certificates"] == [
        {"serial": int(issued.data["serial_number"]), "valid_before": int(issued.lease.expires_at)}
    ]
    assert set(handle) == {"lease_id", "ca", "key_id", "certificates", "renewals", "public_key", "asked", "fields"}
    assert "PRIVATE KEY" not in repr(handle) and "alice@laptop" not in repr(handle)
    private_body = caller.private_key.splitlines()[1]
    assert private_body not in repr(issued.to_dict()) and private_body not in caplog.text
    # Nor anywhere in the store or the engine's files, in any form.
    for path in tmp_path.iterdir():
        if path.is_file():
            assert b"PRIVATE KEY" not in path.read_bytes(), path


def test_generated_key_mode_returns_a_matching_key_pair(setup):
    vault, engine, ca = setup
    issued = vault.issue("ssh", "deploy", generate_key=True)
    data = issued.data
    private = serialization.load_ssh_private_key(data["private_key"].encode(), None)
    cert = certificate(data["signed_key"])
    assert openssh(cert.public_key()) == openssh(private.public_key())
    assert data["public_key"].startswith(openssh(private.public_key()))
    assert data["public_key"].endswith(f"scaivault:{issued.lease_id}")


def test_generated_key_type_follows_the_role(setup):
    vault = setup[0]
    vault.create_role(
        "ssh",
        "rsa",
        allowed_users=["deploy"],
        default_user="deploy",
        allowed_key_types=["rsa"],
        generated_key_type="rsa",
        min_rsa_bits=3072,
    )
    issued = vault.issue("ssh", "rsa", generate_key=True)
    private = serialization.load_ssh_private_key(issued.data["private_key"].encode(), None)
    assert isinstance(private, rsa.RSAPrivateKey) and private.key_size == 3072


def test_custom_key_id_format(vaults, caller):
    vault = vaults.open()
    vaults.configure(vault, ca_key=generate_ca_key(), key_id_format="{{engine}}/{{role}}/{{principals}}/{{lease_id}}")
    vault.create_role("ssh", "deploy", **ROLE)
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key, valid_principals=["deploy", "ops"])
    assert issued.data["key_id"] == f"ssh/deploy/deploy,ops/{issued.lease_id}"
    assert certificate(issued.data["signed_key"]).key_id.decode() == issued.data["key_id"]


def test_serials_are_unique_across_leases(setup, caller):
    vault = setup[0]
    serials = {vault.issue("ssh", "deploy", public_key=caller.public_key).data["serial_number"] for _ in range(40)}
    assert len(serials) == 40


@pytest.mark.parametrize(
    "params,field,named",
    [
        ({"valid_principals": ["deploy", "root", "admin"]}, "valid_principals", ["root", "admin"]),
        ({"valid_principals": "root"}, "valid_principals", ["root"]),
        ({"extensions": ["permit-pty", "permit-agent-forwarding"]}, "extensions", ["permit-agent-forwarding"]),
        ({"extensions": ["permit-anything"]}, "extensions", ["permit-anything"]),
        ({"critical_options": {"force-command": "/bin/sh"}}, "critical_options", ["force-command"]),
        ({"critical_options": {"source-address": "0.0.0.0/0"}}, "critical_options", ["source-address"]),
    ],
)
def test_request_outside_the_role_is_invalid_request_naming_it(setup, caller, params, field, named):
    vault = setup[0]
    with pytest.raises(InvalidRequest) as excinfo:
        vault.issue("ssh", "deploy", public_key=caller.public_key, **params)
    assert excinfo.value.details["field"] == field
    assert excinfo.value.details["not_allowed"] == named
    assert all(name in excinfo.value.message for name in named)
    assert vault.list_leases(engine="ssh") == []  # refused before any intent was recorded


def test_without_default_user_principals_must_be_named(setup, caller):
    vault = setup[0]
    vault.create_role("ssh", "pick", allowed_users=["deploy", "ops"])
    with pytest.raises(InvalidRequest, match="valid_principals is required"):
        vault.issue("ssh", "pick", public_key=caller.public_key)
    assert vault.issue("ssh", "pick", public_key=caller.public_key, valid_principals=["ops"]).data["principals"] == [
        "ops"
    ]


def test_role_critical_options_are_imposed_and_only_allowed_ones_overridden(setup, caller):
    vault = setup[0]
    vault.create_role(
        "ssh",
        "backup",
        allowed_users=["deploy"],
        default_user="deploy",
        critical_options={"force-command": "/usr/local/bin/backup", "source-address": "10.0.0.0/8"},
        allowed_critical_options=["source-address"],
    )
    issued = vault.issue("ssh", "backup", public_key=caller.public_key)
    assert certificate(issued.data["signed_key"]).critical_options == {
        b"force-command": b"/usr/local/bin/backup",
        b"source-address": b"10.0.0.0/8",
    }
    narrowed = vault.issue(
        "ssh", "backup", public_key=caller.public_key, critical_options={"source-address": "10.1.2.3/32"}
    )
    assert narrowed.data["critical_options"] == {
        "force-command": "/usr/local/bin/backup",
        "source-address": "10.1.2.3/32",
    }
    with pytest.raises(InvalidRequest, match="critical_options outside the role: force-command"):
        vault.issue("ssh", "backup", public_key=caller.public_key, critical_options={"force-command": "/bin/sh"})
    with pytest.raises(InvalidRequest, match="not an IP address"):
        vault.issue("ssh", "backup", public_key=caller.public_key, critical_options={"source-address": "anywhere"})


def test_key_policy_of_the_role(setup):
    vault = setup[0]
    vault.create_role(
        "ssh",
        "strict",
        allowed_users=["deploy"],
        default_user="deploy",
        allowed_key_types=["ed25519", "rsa"],
        min_rsa_bits=3072,
    )
    ecdsa = generate_key_pair("ecdsa", 256).public_key
    with pytest.raises(InvalidRequest, match="ecdsa-sha2-nistp256 is not allowed") as excinfo:
        vault.issue("ssh", "strict", public_key=ecdsa)
    assert excinfo.value.details["field"] == "public_key"
    with pytest.raises(InvalidRequest, match="2048 bits; this role requires at least 3072"):
        vault.issue("ssh", "strict", public_key=generate_key_pair("rsa", 2048).public_key)
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidRequest, match="1024 bits; this role requires at least 2048"):
        vault.issue("ssh", "deploy", public_key=openssh(weak.public_key()))  # the default minimum
    assert vault.issue("ssh", "strict", public_key=generate_key_pair("rsa", 3072).public_key).data["signed_key"]


@pytest.mark.parametrize(
    "params,match",
    [
        ({}, "public_key is required"),
        ({"generate_key": True, "public_key": "ssh-ed25519 AAAA"}, "either public_key or generate_key"),
        ({"generate_key": "yes"}, "generate_key must be true or false"),
        ({"public_key": "ssh-ed25519 not-base64!"}, "not a valid ssh-ed25519 key"),
        ({"public_key": "ssh-dss AAAAB3NzaC1kc3M="}, "not supported"),
        ({"valid_principals": {"deploy": True}, "generate_key": True}, "valid_principals must be a list"),
        ({"critical_options": {"force-command": 1}, "generate_key": True}, "critical_options must be an object"),
        ({"unknown_field": 1, "generate_key": True}, "unknown_field"),
    ],
)
def test_malformed_requests_are_invalid_request(setup, params, match):
    with pytest.raises(InvalidRequest, match=match):
        setup[0].issue("ssh", "deploy", **params)


def test_a_private_key_sent_as_public_key_is_refused_without_echo(setup, caller, caplog):
    vault = setup[0]
    with caplog.at_level(logging.DEBUG), pytest.raises(InvalidRequest) as excinfo:
        vault.issue("ssh", "deploy", public_key=caller.private_key)
    body = caller.private_key.splitlines()[1]
    assert body not in excinfo.value.message and body not in str(excinfo.value.details)
    assert body not in caplog.text


def test_role_may_forbid_generated_keys(setup):
    vault = setup[0]
    vault.create_role("ssh", "own-keys", allowed_users=["deploy"], default_user="deploy", allow_key_generation=False)
    with pytest.raises(InvalidRequest, match="does not generate keys"):
        vault.issue("ssh", "own-keys", generate_key=True)
