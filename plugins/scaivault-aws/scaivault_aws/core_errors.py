"""This package's exceptions as the core's errors: the one place the engine translates them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from scaivault_core import (
    EngineError,
    EngineUnreachable,
    InvalidConfig,
    InvalidRequest,
    ScaiVaultError,
    TTLExceedsMax,
    format_duration,
)

from .errors import (
    AwsAccessDenied,
    AwsBadCredentials,
    AwsError,
    AwsUnreachable,
    InvalidField,
    TtlOutOfRange,
    TtlTooLong,
)

__all__ = ["as_core_error", "core_errors"]

ROOT_FIELD = "config.root_credentials_path"
# What each code says about the root key pair, in words an operator can act on.
_BAD_KEY_REASONS = {
    "InvalidClientTokenId": "AWS does not know the access key id",
    "InvalidAccessKeyId": "AWS does not know the access key id",
    "SignatureDoesNotMatch": "the secret access key does not belong to the access key id",
    "ExpiredToken": "the session token has expired",
    "ExpiredTokenException": "the session token has expired",
    "AccessDenied": "the key pair was refused",
}


def as_core_error(exc: BaseException) -> ScaiVaultError:
    """The core error for one of this package's exceptions (messages hold no secret)."""
    if isinstance(exc, InvalidField):
        return InvalidConfig(f"{exc.field}: {exc.problem}.", field=exc.field)
    if isinstance(exc, TtlTooLong):
        return TTLExceedsMax(
            f"{exc}; ask for at most {format_duration(exc.limit)}.",
            ttl=format_duration(exc.requested), max_ttl=format_duration(exc.limit),
        )
    if isinstance(exc, TtlOutOfRange):
        return InvalidRequest(f"{exc}.", field="ttl")
    if not isinstance(exc, AwsError):
        return EngineError(f"{type(exc).__name__} in the aws engine.")
    details = {"aws_code": exc.code, "operation": exc.operation}
    if isinstance(exc, AwsUnreachable):
        return EngineUnreachable(f"Cannot reach AWS: {exc}.", **details)
    if isinstance(exc, AwsBadCredentials):
        reason = _BAD_KEY_REASONS.get(exc.code or "", "the key pair is incomplete or malformed")
        return InvalidConfig(
            f"AWS refused the engine's root credentials ({exc.code or 'no key'}: {reason}); store a "
            "valid access_key_id and secret_access_key at the engine's root_credentials_path.",
            field=ROOT_FIELD, **details,
        )
    if isinstance(exc, AwsAccessDenied):
        return EngineError(
            f"AWS denied {exc.operation} to the engine's root credentials ({exc}); grant it in "
            "their IAM policy (docs/engines/aws.md lists what the engine needs).",
            **details,
        )
    return EngineError(f"AWS refused the request: {exc}.", **details)


@contextlib.contextmanager
def core_errors() -> Iterator[None]:
    """Re-raise this package's exceptions raised inside the block as the core's errors."""
    try:
        yield
    except (AwsError, InvalidField, TtlOutOfRange) as exc:
        # `from None`: the botocore error underneath may quote a signed request's headers.
        raise as_core_error(exc) from None
