"""SSH keys: parse and check a caller's public key, generate key pairs, serialise them."""

from __future__ import annotations

import base64
from collections.abc import Iterable

import attrs
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from .errors import InvalidKey, KeyNotAllowed

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

#: Key families, as `ssh-keygen -t` names them.
KEY_FAMILIES = ("ed25519", "ecdsa", "rsa")
#: OpenSSH algorithm names of the keys this package signs and generates, with their family.
KEY_ALGORITHMS = {
    "ssh-ed25519": "ed25519",
    "ecdsa-sha2-nistp256": "ecdsa",
    "ecdsa-sha2-nistp384": "ecdsa",
    "ecdsa-sha2-nistp521": "ecdsa",
    "ssh-rsa": "rsa",
}
ECDSA_CURVES = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}
DEFAULT_RSA_BITS = 3072
# OpenSSH itself refuses RSA keys under 1024 bits; 2048 is today's floor for anything we create.
MIN_GENERATED_RSA_BITS = 2048
MAX_RSA_BITS = 16384
# An RSA-16384 public key line is about 2.8 KB; anything far longer is not a key.
_MAX_PUBLIC_KEY_CHARS = 16384
_CERT_SUFFIX = "-cert-v01@openssh.com"


@attrs.frozen
class KeyPair:
    """A key pair the engine generated: OpenSSH private key text and the public key line."""

    private_key: str = attrs.field(repr=False)
    public_key: str


def parse_public_key(text: str) -> PublicKey:
    """Parse a caller's public key in OpenSSH one-line form (`type base64 [comment]`)."""
    if not isinstance(text, str):
        raise InvalidKey("public key must be text in OpenSSH one-line form")
    line = text.strip()
    if not line:
        raise InvalidKey("public key is empty; send the contents of your id_*.pub file")
    if len(line) > _MAX_PUBLIC_KEY_CHARS or "\n" in line or "\r" in line:
        raise InvalidKey("public key must be a single line in OpenSSH form (`type base64 [comment]`)")
    algorithm = line.split(None, 1)[0]
    if algorithm.endswith(_CERT_SUFFIX):
        raise InvalidKey("a certificate was given; send the plain public key it was issued for")
    if algorithm not in KEY_ALGORITHMS:
        raise KeyNotAllowed(
            f"key type {algorithm[:64]!r} is not supported; use ed25519, ecdsa (nistp256/384/521) or rsa"
        )
    try:
        key = serialization.load_ssh_public_identity(line.encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise InvalidKey(f"public key is not a valid {algorithm} key in OpenSSH one-line form") from None
    if isinstance(key, serialization.SSHCertificate):  # pragma: no cover - caught by the suffix check
        raise InvalidKey("a certificate was given; send the plain public key it was issued for")
    return key


def key_algorithm(key: PublicKey | PrivateKey) -> str:
    """The OpenSSH algorithm name of a key, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp384`, `ssh-rsa`."""
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return "ssh-ed25519"
    if isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)):
        return f"ecdsa-sha2-nistp{key.curve.key_size}"
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)):
        return "ssh-rsa"
    raise KeyNotAllowed(f"unsupported key object {type(key).__name__}")


def key_bits(key: PublicKey | PrivateKey) -> int:
    """The key size in bits (256 for Ed25519)."""
    if isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey)):
        return 256
    return key.key_size


def normalize_key_types(names: Iterable[str]) -> frozenset[str]:
    """Check a role's allowed key types (families such as `rsa` or OpenSSH algorithm names)."""
    result = set()
    for name in names:
        normal = str(name).strip().lower()
        if normal not in KEY_FAMILIES and normal not in KEY_ALGORITHMS:
            raise KeyNotAllowed(
                f"unknown key type {str(name)[:64]!r}; use {', '.join(KEY_FAMILIES)} "
                f"or one of {', '.join(KEY_ALGORITHMS)}"
            )
        result.add(normal)
    return frozenset(result)


def check_key_policy(
    key: PublicKey,
    *,
    allowed_types: Iterable[str] | None = None,
    min_rsa_bits: int = 2048,
) -> None:
    """Refuse a key whose type the role does not allow, or an RSA key shorter than `min_rsa_bits`."""
    algorithm = key_algorithm(key)
    if allowed_types is not None:
        allowed = normalize_key_types(allowed_types)
        if algorithm not in allowed and KEY_ALGORITHMS[algorithm] not in allowed:
            raise KeyNotAllowed(
                f"key type {algorithm} is not allowed by this role; allowed: {', '.join(sorted(allowed))}"
            )
    if algorithm == "ssh-rsa" and key_bits(key) < min_rsa_bits:
        raise KeyNotAllowed(f"RSA key is {key_bits(key)} bits; this role requires at least {min_rsa_bits} bits")


def public_key_line(key: PublicKey | PrivateKey, comment: str = "") -> str:
    """A key's public half in OpenSSH one-line form, with an optional comment."""
    if isinstance(key, PrivateKey):
        key = key.public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")
    comment = comment.strip()
    if any(c in comment for c in "\r\n\0"):
        raise InvalidKey("key comment must be a single line")
    return f"{line} {comment}" if comment else line


def public_key_blob(key: str | PublicKey | PrivateKey) -> bytes:
    """The SSH wire encoding of a public key (the base64 field of its one-line form)."""
    line = public_key_line(parse_public_key(key) if isinstance(key, str) else key)
    return base64.b64decode(line.split()[1])


def generate_private_key(key_type: str = "ed25519", bits: int | None = None) -> PrivateKey:
    """Generate a private key: `ed25519`, `ecdsa` (bits 256/384/521) or `rsa` (bits >= 2048)."""
    key_type = str(key_type).strip().lower()
    if key_type == "ed25519":
        if bits not in (None, 0, 256):
            raise KeyNotAllowed("ed25519 keys have a fixed size; leave bits unset")
        return ed25519.Ed25519PrivateKey.generate()
    if key_type == "ecdsa":
        curve = ECDSA_CURVES.get(bits or 256)
        if curve is None:
            raise KeyNotAllowed("ecdsa keys take bits 256, 384 or 521")
        return ec.generate_private_key(curve())
    if key_type == "rsa":
        size = bits or DEFAULT_RSA_BITS
        if not MIN_GENERATED_RSA_BITS <= size <= MAX_RSA_BITS:
            raise KeyNotAllowed(f"rsa keys take bits from {MIN_GENERATED_RSA_BITS} to {MAX_RSA_BITS}")
        return rsa.generate_private_key(public_exponent=65537, key_size=size)
    raise KeyNotAllowed(f"cannot generate key type {key_type[:64]!r}; use {', '.join(KEY_FAMILIES)}")


def private_key_openssh(key: PrivateKey) -> str:
    """Serialise a private key, unencrypted, in OpenSSH format (what `ssh -i` reads)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")


def generate_key_pair(key_type: str = "ed25519", bits: int | None = None, comment: str = "") -> KeyPair:
    """Generate a key pair for the caller, for the mode where the engine makes the key."""
    key = generate_private_key(key_type, bits)
    return KeyPair(private_key=private_key_openssh(key), public_key=public_key_line(key, comment))
