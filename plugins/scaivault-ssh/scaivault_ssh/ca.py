"""The certificate authority: its key, its `TrustedUserCAKeys` line, and signed user certificates."""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import attrs
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .errors import InvalidCertificateRequest, InvalidKey, KeyNotAllowed
from .keys import (
    ECDSA_CURVES,
    PrivateKey,
    PublicKey,
    generate_private_key,
    parse_public_key,
    private_key_openssh,
    public_key_line,
)

#: Extensions sshd knows for user certificates; each grants a feature when present.
EXTENSIONS = (
    "permit-X11-forwarding",
    "permit-agent-forwarding",
    "permit-port-forwarding",
    "permit-pty",
    "permit-user-rc",
)
#: Critical options sshd enforces: the command run, and the client addresses allowed (CIDR list).
CRITICAL_OPTIONS = ("force-command", "source-address")
#: Seconds `valid_after` is set before now, so a host whose clock runs behind still accepts it.
DEFAULT_BACKDATE = 60
MIN_CA_RSA_BITS = 2048
_MAX_SERIAL = 2**64 - 1
_MAX_PRINCIPALS = 256  # the most cryptography's builder accepts
_MAX_NAME_CHARS = 1024


@attrs.frozen
class SignedCertificate:
    """A signed user certificate (OpenSSH one-line form) and the fields it was signed with."""

    certificate: str
    serial: int
    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int
    extensions: tuple[str, ...]
    critical_options: Mapping[str, str]


def load_ca_key(text: str | bytes, password: str | bytes | None = None) -> PrivateKey:
    """Load a CA private key (Ed25519, ECDSA or RSA) from OpenSSH or PEM (PKCS#1/SEC1/PKCS#8) text."""
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    secret = password.encode("utf-8") if isinstance(password, str) else password
    try:
        if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
            key = serialization.load_ssh_private_key(data, secret)
        else:
            key = serialization.load_pem_private_key(data, secret)
    except TypeError:
        # cryptography says TypeError when a passphrase is missing, or given for a plain key.
        if secret is None:
            raise InvalidKey("CA private key is encrypted; give its passphrase") from None
        raise InvalidKey("CA private key is not encrypted; give no passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        if secret is not None:
            raise InvalidKey("could not decrypt the CA private key: wrong passphrase or damaged key") from None
        raise InvalidKey("CA private key is not a readable private key in OpenSSH or PEM form") from None
    check_ca_key(key)
    return key


def check_ca_key(key: object) -> None:
    """Refuse a CA key this package cannot sign with, or an RSA key too short to trust."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.key_size not in ECDSA_CURVES or key.curve.name != ECDSA_CURVES[key.curve.key_size].name:
            raise KeyNotAllowed("ECDSA CA keys must use curve nistp256, nistp384 or nistp521")
        return
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_CA_RSA_BITS:
            raise KeyNotAllowed(f"RSA CA key is {key.key_size} bits; at least {MIN_CA_RSA_BITS} are required")
        return
    raise KeyNotAllowed("CA key must be Ed25519, ECDSA or RSA")


def generate_ca_key(key_type: str = "ed25519", bits: int | None = None) -> PrivateKey:
    """Generate a CA private key: `ed25519`, `ecdsa` (bits 256/384/521) or `rsa` (bits >= 2048)."""
    return generate_private_key(key_type, bits)


def ca_private_key_text(ca_key: PrivateKey) -> str:
    """The CA private key in unencrypted OpenSSH form, for the engine to store."""
    return private_key_openssh(ca_key)


def ca_public_key_line(ca_key: PrivateKey, comment: str = "") -> str:
    """The CA public key as one line, as sshd's `TrustedUserCAKeys` file takes it."""
    return public_key_line(ca_key, comment)


def random_serial() -> int:
    """A random non-zero 63-bit serial (a KRL cannot revoke serial 0)."""
    return secrets.randbelow(2**63 - 1) + 1


def sign_user_certificate(
    ca_key: PrivateKey,
    public_key: str | PublicKey,
    *,
    serial: int,
    key_id: str,
    principals: Sequence[str],
    valid_before: int | float | datetime,
    valid_after: int | float | datetime | None = None,
    backdate: int = DEFAULT_BACKDATE,
    extensions: Iterable[str] = (),
    critical_options: Mapping[str, str] | None = None,
    now: float | None = None,
) -> SignedCertificate:
    """Sign a user certificate for `public_key`; `valid_after` defaults to now minus `backdate`."""
    key = parse_public_key(public_key) if isinstance(public_key, str) else public_key
    check_ca_key(ca_key)
    serial = _check_serial(serial)
    key_id = _check_text("key id", key_id)
    names = check_principals(principals)
    exts = check_extensions(extensions)
    options = check_critical_options(critical_options or {})
    before = _epoch("valid_before", valid_before)
    if valid_after is None:
        if backdate < 0:
            raise InvalidCertificateRequest("backdate must be zero or more seconds")
        after = max(0, int(time.time() if now is None else now) - int(backdate))
    else:
        after = _epoch("valid_after", valid_after)
    if before <= after:
        raise InvalidCertificateRequest("valid_before must be later than valid_after")

    builder = (
        serialization.SSHCertificateBuilder()
        .public_key(key)
        .serial(serial)
        .type(serialization.SSHCertificateType.USER)
        .key_id(key_id.encode("utf-8"))
        .valid_principals([name.encode("utf-8") for name in names])
        .valid_after(after)
        .valid_before(before)
    )
    for name in exts:
        builder = builder.add_extension(name.encode("ascii"), b"")
    for name, value in options.items():
        builder = builder.add_critical_option(name.encode("ascii"), value.encode("utf-8"))
    try:
        cert = builder.sign(ca_key)
    except (TypeError, ValueError) as exc:  # pragma: no cover - inputs are checked above
        raise InvalidCertificateRequest(f"certificate could not be signed: {exc}") from None
    return SignedCertificate(
        certificate=cert.public_bytes().decode("ascii"),
        serial=serial,
        key_id=key_id,
        principals=names,
        valid_after=after,
        valid_before=before,
        extensions=exts,
        critical_options=options,
    )


def _check_serial(serial: int) -> int:
    if isinstance(serial, bool) or not isinstance(serial, int) or not 1 <= serial <= _MAX_SERIAL:
        raise InvalidCertificateRequest("serial must be an integer from 1 to 2**64-1")
    return serial


def _check_text(what: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidCertificateRequest(f"{what} must be a non-empty string")
    if len(value) > _MAX_NAME_CHARS or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise InvalidCertificateRequest(
            f"{what} must be at most {_MAX_NAME_CHARS} characters, without control characters"
        )
    return value


def check_principals(principals: Sequence[str]) -> tuple[str, ...]:
    """Principal names, de-duplicated in order; refuses an empty list, spaces, commas, control characters."""
    # A certificate without principals is valid for every user on every host that trusts the CA.
    if isinstance(principals, str) or not principals:
        raise InvalidCertificateRequest("principals must be a non-empty list of user names")
    names = tuple(dict.fromkeys(_check_text("principal", p) for p in principals))
    if len(names) > _MAX_PRINCIPALS:
        raise InvalidCertificateRequest(f"a certificate holds at most {_MAX_PRINCIPALS} principals")
    bad = [n for n in names if any(c.isspace() or c == "," for c in n)]
    if bad:
        raise InvalidCertificateRequest(f"principals may not contain spaces or commas: {', '.join(bad)}")
    return names


def check_extensions(extensions: Iterable[str]) -> tuple[str, ...]:
    """Extension names sshd knows, de-duplicated and sorted; refuses unknown names, naming them."""
    if isinstance(extensions, str):
        raise InvalidCertificateRequest("extensions must be a list of names")
    names = tuple(dict.fromkeys(extensions))
    unknown = [str(n) for n in names if n not in EXTENSIONS]
    if unknown:
        raise InvalidCertificateRequest(f"unknown extensions: {', '.join(unknown)}; known: {', '.join(EXTENSIONS)}")
    return tuple(sorted(names))


def check_critical_options(options: Mapping[str, str]) -> dict[str, str]:
    """Critical options sshd enforces, with their values checked (a command line, CIDR blocks)."""
    unknown = [str(n) for n in options if n not in CRITICAL_OPTIONS]
    if unknown:
        raise InvalidCertificateRequest(
            f"unknown critical options: {', '.join(unknown)}; known: {', '.join(CRITICAL_OPTIONS)}"
        )
    result = {}
    if "force-command" in options:
        command = options["force-command"]
        if not isinstance(command, str) or not command.strip() or "\0" in command:
            raise InvalidCertificateRequest("force-command must be a non-empty command line")
        result["force-command"] = command
    if "source-address" in options:
        result["source-address"] = _check_source_address(options["source-address"])
    return result


def _check_source_address(value: str) -> str:
    # sshd takes a comma-separated list of addresses or CIDR blocks; a typo would lock everyone out.
    if not isinstance(value, str) or not value.strip():
        raise InvalidCertificateRequest("source-address must be a comma-separated list of CIDR blocks")
    blocks = [part.strip() for part in value.split(",")]
    for block in blocks:
        try:
            ipaddress.ip_network(block, strict=False)
        except ValueError:
            raise InvalidCertificateRequest(
                f"source-address {block[:64]!r} is not an IP address or CIDR block"
            ) from None
    return ",".join(blocks)


def _epoch(what: str, value: int | float | datetime) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidCertificateRequest(f"{what} must be a timezone-aware datetime")
        value = value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 2**64:
        raise InvalidCertificateRequest(f"{what} must be a time in seconds since the epoch")
    return int(value)
