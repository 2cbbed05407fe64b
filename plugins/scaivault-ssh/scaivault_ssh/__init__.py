"""The ScaiVault `ssh` engine: an OpenSSH user-certificate authority whose leases are signed certificates.

`SSHEngine` is registered through the `register_engines` hook; the other names are its building
blocks (CA key handling, certificate signing, key checks, KRLs), usable without a vault.
"""

from scaivault_core import hookimpl

from .ca import (
    CRITICAL_OPTIONS,
    DEFAULT_BACKDATE,
    EXTENSIONS,
    SignedCertificate,
    ca_private_key_text,
    ca_public_key_line,
    check_ca_key,
    generate_ca_key,
    load_ca_key,
    random_serial,
    sign_user_certificate,
)
from .engine import SSHEngine
from .errors import InvalidCertificateRequest, InvalidKey, KeyNotAllowed, SSHError
from .keys import (
    KEY_ALGORITHMS,
    KEY_FAMILIES,
    KeyPair,
    check_key_policy,
    generate_key_pair,
    key_algorithm,
    key_bits,
    normalize_key_types,
    parse_public_key,
    public_key_line,
)
from .krl import build_krl, build_multi_ca_krl, export_krl, write_krl
from .revocations import RevocationList, Revoked

__all__ = [
    "CRITICAL_OPTIONS",
    "DEFAULT_BACKDATE",
    "EXTENSIONS",
    "KEY_ALGORITHMS",
    "KEY_FAMILIES",
    "InvalidCertificateRequest",
    "InvalidKey",
    "KeyNotAllowed",
    "KeyPair",
    "RevocationList",
    "Revoked",
    "SSHEngine",
    "SSHError",
    "SignedCertificate",
    "build_krl",
    "build_multi_ca_krl",
    "ca_private_key_text",
    "ca_public_key_line",
    "check_ca_key",
    "check_key_policy",
    "export_krl",
    "generate_ca_key",
    "generate_key_pair",
    "key_algorithm",
    "key_bits",
    "load_ca_key",
    "normalize_key_types",
    "parse_public_key",
    "public_key_line",
    "random_serial",
    "sign_user_certificate",
    "write_krl",
]


@hookimpl
def register_engines(register):
    register(SSHEngine)
