"""What a role allows: checking a role, and resolving a request's principals, extensions, options and key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from scaivault_core import InvalidConfig, InvalidRequest

from .ca import CRITICAL_OPTIONS, EXTENSIONS, check_critical_options, check_principals
from .errors import SSHError
from .fields import Request, Role
from .keys import (
    DEFAULT_RSA_BITS,
    ECDSA_CURVES,
    KEY_ALGORITHMS,
    KEY_FAMILIES,
    MAX_RSA_BITS,
    MIN_GENERATED_RSA_BITS,
    PublicKey,
    check_key_policy,
    normalize_key_types,
)

# OpenSSH refuses RSA keys under 1024 bits, so a lower role minimum would promise nothing.
MIN_RSA_FLOOR = 1024
_SHOWN = 20  # names quoted in one message, at most


@attrs.frozen
class CertificateFields:
    """What one certificate says besides its key, serial and validity."""

    principals: tuple[str, ...]
    extensions: tuple[str, ...]
    critical_options: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """Plain data for the lease handle."""
        return {
            "principals": list(self.principals),
            "extensions": list(self.extensions),
            "critical_options": dict(self.critical_options),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CertificateFields:
        """Back from `to_json`."""
        return cls(tuple(data["principals"]), tuple(data["extensions"]), dict(data["critical_options"]))


@attrs.frozen
class Asked:
    """What a request asked for; None means "the role's default". Kept in the handle for renewal."""

    valid_principals: tuple[str, ...] | None = None
    extensions: tuple[str, ...] | None = None
    critical_options: dict[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain data for the lease handle."""
        return {
            "valid_principals": None if self.valid_principals is None else list(self.valid_principals),
            "extensions": None if self.extensions is None else list(self.extensions),
            "critical_options": self.critical_options,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Asked:
        """Back from `to_json`."""
        principals, extensions = data.get("valid_principals"), data.get("extensions")
        return cls(
            None if principals is None else tuple(principals),
            None if extensions is None else tuple(extensions),
            data.get("critical_options"),
        )


# -- roles -----------------------------------------------------------------------------------------


def check_role(role: Role) -> None:
    """Refuse a role that could not sign a sensible certificate; `invalid_config` names the field."""
    users = _names(role.allowed_users, "allowed_users", InvalidConfig)
    if not users:
        raise InvalidConfig(
            "allowed_users needs at least one user name: a certificate is valid only for the principals it lists.",
            field="allowed_users",
        )
    if "*" in users:
        raise InvalidConfig(
            "allowed_users takes user names, not wildcards: list each user a certificate of this role may log in as.",
            field="allowed_users",
        )
    _ssh(lambda: check_principals(users), "allowed_users", InvalidConfig)
    if role.default_user is not None and role.default_user not in users:
        raise InvalidConfig(f"default_user {_quote(role.default_user)} is not in allowed_users.", field="default_user")

    allowed = _names(role.allowed_extensions, "allowed_extensions", InvalidConfig)
    unknown = [e for e in allowed if e not in EXTENSIONS]
    if unknown:
        raise InvalidConfig(
            f"allowed_extensions has unknown extensions: {_list(unknown)}; known: {', '.join(EXTENSIONS)}.",
            field="allowed_extensions",
            unknown=unknown[:_SHOWN],
        )
    defaults = _names(role.default_extensions, "default_extensions", InvalidConfig)
    outside = [e for e in defaults if e not in allowed]
    if outside:
        raise InvalidConfig(
            f"default_extensions {_list(outside)} must also be in allowed_extensions.",
            field="default_extensions",
            not_allowed=outside[:_SHOWN],
        )

    options = _options(role.critical_options, "critical_options", InvalidConfig)
    _ssh(lambda: check_critical_options(options), "critical_options", InvalidConfig)
    settable = _names(role.allowed_critical_options, "allowed_critical_options", InvalidConfig)
    unknown = [o for o in settable if o not in CRITICAL_OPTIONS]
    if unknown:
        raise InvalidConfig(
            f"allowed_critical_options has unknown options: {_list(unknown)}; known: {', '.join(CRITICAL_OPTIONS)}.",
            field="allowed_critical_options",
        )

    types = _names(role.allowed_key_types, "allowed_key_types", InvalidConfig)
    if not types:
        raise InvalidConfig(
            "allowed_key_types needs at least one key type (ed25519, ecdsa, rsa).", field="allowed_key_types"
        )
    _ssh(lambda: normalize_key_types(types), "allowed_key_types", InvalidConfig)
    bits = role.min_rsa_bits
    if isinstance(bits, bool) or not isinstance(bits, int) or not MIN_RSA_FLOOR <= bits <= MAX_RSA_BITS:
        raise InvalidConfig(
            f"min_rsa_bits must be a whole number from {MIN_RSA_FLOOR} to {MAX_RSA_BITS}.", field="min_rsa_bits"
        )
    if not isinstance(role.allow_key_generation, bool):
        raise InvalidConfig("allow_key_generation must be true or false.", field="allow_key_generation")
    if role.allow_key_generation:
        _check_generated_key(role)


def _check_generated_key(role: Role) -> None:
    key_type, bits = generated_key_spec(role)
    if key_type not in KEY_FAMILIES:
        raise InvalidConfig(f"generated_key_type must be one of {', '.join(KEY_FAMILIES)}.", field="generated_key_type")
    if key_type == "ed25519" and bits != 256:
        raise InvalidConfig(
            "ed25519 keys have a fixed size: leave generated_key_bits unset.", field="generated_key_bits"
        )
    if key_type == "ecdsa" and bits not in ECDSA_CURVES:
        raise InvalidConfig("generated_key_bits for ecdsa must be 256, 384 or 521.", field="generated_key_bits")
    if key_type == "rsa" and not max(MIN_GENERATED_RSA_BITS, role.min_rsa_bits) <= bits <= MAX_RSA_BITS:
        raise InvalidConfig(
            f"generated_key_bits for rsa must be from {max(MIN_GENERATED_RSA_BITS, role.min_rsa_bits)} "
            f"(min_rsa_bits) to {MAX_RSA_BITS}.",
            field="generated_key_bits",
        )
    algorithm = (
        "ssh-ed25519" if key_type == "ed25519" else "ssh-rsa" if key_type == "rsa" else f"ecdsa-sha2-nistp{bits}"
    )
    allowed = normalize_key_types(role.allowed_key_types)
    if algorithm not in allowed and KEY_ALGORITHMS[algorithm] not in allowed:
        raise InvalidConfig(
            f"generated keys ({algorithm}) must be a type allowed_key_types allows, or set "
            "allow_key_generation: false.",
            field="generated_key_type",
        )


def generated_key_spec(role: Role) -> tuple[str, int]:
    """The (family, bits) of keys the engine generates for this role."""
    key_type = str(role.generated_key_type).strip().lower()
    bits = role.generated_key_bits
    if isinstance(bits, bool) or not isinstance(bits, (int, type(None))):
        raise InvalidConfig("generated_key_bits must be a whole number.", field="generated_key_bits")
    default = {"ed25519": 256, "ecdsa": 256, "rsa": max(DEFAULT_RSA_BITS, role.min_rsa_bits)}.get(key_type, 0)
    return key_type, bits or default


# -- requests --------------------------------------------------------------------------------------


def key_mode(request: Request) -> str:
    """`caller` (the request sent its public key) or `generate` (the engine makes the key pair)."""
    if not isinstance(request.generate_key, bool):
        raise InvalidRequest("generate_key must be true or false.", field="generate_key")
    if request.generate_key and request.public_key is not None:
        raise InvalidRequest("Send either public_key or generate_key: true, not both.", field="public_key")
    if request.generate_key:
        return "generate"
    if request.public_key is None:
        raise InvalidRequest(
            "public_key is required: send your OpenSSH public key (the contents of ~/.ssh/id_ed25519.pub; "
            "the private key never leaves your machine), or generate_key: true to receive a new key pair.",
            field="public_key",
        )
    return "caller"


def asked(request: Request) -> Asked:
    """The principals, extensions and options the request asked for, type-checked."""
    principals = None
    if request.valid_principals is not None:
        principals = tuple(_names(request.valid_principals, "valid_principals", InvalidRequest)) or None
    extensions = None
    if request.extensions is not None:
        extensions = tuple(_names(request.extensions, "extensions", InvalidRequest))
    options = None
    if request.critical_options is not None:
        options = _options(request.critical_options, "critical_options", InvalidRequest)
    return Asked(principals, extensions, options)


def resolve(role: Role, wanted: Asked) -> CertificateFields:
    """The certificate's fields: the request's, or the role's defaults; anything outside the role is refused."""
    principals = wanted.valid_principals or ((role.default_user,) if role.default_user else ())
    if not principals:
        raise InvalidRequest(
            f"valid_principals is required: this role has no default_user. Allowed: {_list(role.allowed_users)}.",
            field="valid_principals",
        )
    outside = [p for p in dict.fromkeys(principals) if p not in role.allowed_users]
    if outside:
        raise InvalidRequest(
            f"valid_principals outside the role: {_list(outside)}; allowed: {_list(role.allowed_users)}.",
            field="valid_principals",
            not_allowed=outside[:_SHOWN],
        )

    extensions = role.default_extensions if wanted.extensions is None else wanted.extensions
    outside = [e for e in dict.fromkeys(extensions) if e not in role.allowed_extensions]
    if outside:
        allowed = _list(role.allowed_extensions) if role.allowed_extensions else "none"
        raise InvalidRequest(
            f"extensions outside the role: {_list(outside)}; allowed: {allowed}.",
            field="extensions",
            not_allowed=outside[:_SHOWN],
        )

    options = dict(role.critical_options)
    if wanted.critical_options:
        outside = [o for o in wanted.critical_options if o not in role.allowed_critical_options]
        if outside:
            allowed = _list(role.allowed_critical_options) if role.allowed_critical_options else "none"
            raise InvalidRequest(
                f"critical_options outside the role: {_list(outside)}; the request may set: {allowed}.",
                field="critical_options",
                not_allowed=outside[:_SHOWN],
            )
        options.update(wanted.critical_options)
    checked = _ssh(lambda: check_critical_options(options), "critical_options", InvalidRequest)
    names = _ssh(lambda: check_principals(principals), "valid_principals", InvalidRequest)
    return CertificateFields(names, tuple(sorted(set(extensions))), checked)


def check_key(role: Role, key: PublicKey) -> None:
    """Refuse a caller's key whose type the role does not allow, or an RSA key under `min_rsa_bits`."""
    _ssh(
        lambda: check_key_policy(key, allowed_types=role.allowed_key_types, min_rsa_bits=role.min_rsa_bits),
        "public_key",
        InvalidRequest,
    )


# -- helpers ---------------------------------------------------------------------------------------


def _names(value: Any, field: str, error: type) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise error(f"{field} must be a list of names (or one comma-separated string).", field=field)
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def _options(value: Any, field: str, error: type) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise error(
            f'{field} must be an object of option names to string values, e.g. {{"force-command": "/usr/bin/uptime"}}.',
            field=field,
        )
    return dict(value)


def _ssh(check: Callable[[], Any], field: str, error: type) -> Any:
    """Run one of this package's checks; its refusal (never quoting key material) becomes `error`."""
    try:
        return check()
    except SSHError as exc:
        raise error(f"{field}: {exc}", field=field) from None


def _quote(name: str) -> str:
    return repr(name[:64])


def _list(names: Any) -> str:
    names = list(names)
    shown = ", ".join(n[:64] for n in names[:_SHOWN])
    return shown + (f" (and {len(names) - _SHOWN} more)" if len(names) > _SHOWN else "")
