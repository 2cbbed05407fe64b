"""The ssh engine's config, role and request fields, as the core structures them.

List fields also take a comma-separated string, as Vault's SSH API does. The core's converter
would otherwise turn a string given for a list into a list of its characters, and it reads any
non-empty string as True, so lists, switches and mappings are typed `Any` here and checked by
`policy.py` and the engine, whose errors name the field.
"""

from __future__ import annotations

from typing import Any

import attrs

from scaivault_core import file_field


def names(value: Any) -> Any:
    """A comma-separated string as a list of names; a list or tuple as a list; anything else unchanged."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, tuple):
        return list(value)
    return value


def optional_names(value: Any) -> Any:
    """Like `names`, keeping None (the field was not given)."""
    return None if value is None else names(value)


def extension_names(value: Any) -> Any:
    """Like `optional_names`; also takes Vault's map form (`{"permit-pty": ""}`) and keeps its keys."""
    if isinstance(value, dict):
        return list(value)
    return optional_names(value)


@attrs.define
class Config:
    """Engine config: where the KRL is exported, and how the CA key is found and certificates named."""

    krl_path: str = file_field()
    """Where the KRL is written for sshd's `RevokedKeys`; the revocation state lives beside it. Inside
    the operator's `SCAIVAULT_FILE_DIRS` (the core checks and resolves it)."""
    generate_ca: Any = False
    """When the root secret holds no `private_key`: generate a CA key and store it there."""
    ca_key_type: str = "ed25519"
    ca_key_bits: int | None = None
    key_id_format: str = "{{lease_id}}"
    """Template of each certificate's key id; must use `{{lease_id}}` (also: engine, role, principals, serial)."""
    backdate: Any = 60
    """How far `valid_after` lies before the issue time (clock skew); also how long past its expiry a
    revoked certificate stays in the KRL. A duration such as `"1m"`, or seconds."""
    trusted_ca_keys_path: str | None = file_field(default=None)
    """Where to keep sshd's `TrustedUserCAKeys` file current: every CA key not retired, one line each.
    Inside the operator's `SCAIVAULT_FILE_DIRS`."""


@attrs.define
class Role:
    """A role: which principals, extensions and critical options a certificate may carry, and which keys."""

    allowed_users: Any = attrs.field(converter=names)
    default_user: str | None = None
    allowed_extensions: Any = attrs.field(factory=list, converter=extension_names)
    default_extensions: Any = attrs.field(factory=list, converter=extension_names)
    critical_options: Any = attrs.field(factory=dict)
    """Imposed on every certificate, e.g. `{"force-command": "/usr/bin/backup"}`."""
    allowed_critical_options: Any = attrs.field(factory=list, converter=names)
    """Critical options a request may set (overriding the role's value for that option)."""
    allowed_key_types: Any = attrs.field(factory=lambda: ["ed25519", "ecdsa", "rsa"], converter=names)
    min_rsa_bits: int = 2048
    allow_key_generation: Any = True
    generated_key_type: str = "ed25519"
    generated_key_bits: int | None = None


@attrs.define
class Request:
    """What a credentials request may add: the caller's public key (or `generate_key`), and what to sign."""

    # Not secret, but a caller who pastes a private key here by mistake must not see it in a repr.
    public_key: str | None = attrs.field(default=None, repr=False)
    generate_key: Any = False
    valid_principals: Any = attrs.field(default=None, converter=optional_names)
    extensions: Any = attrs.field(default=None, converter=extension_names)
    critical_options: Any = None
