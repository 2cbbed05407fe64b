"""The AWS engine's exceptions, and the one place errors are translated on their way out.

Two steps, both here: ``translate_errors`` turns botocore's exceptions into this package's (what
the building blocks ``iam_users``, ``sts``, ``propagation`` and ``clients`` raise, usable without a
vault), and ``core_errors`` turns those into the core's errors where the engine answers the vault.
Messages never hold a secret: AWS's text is kept only where it cannot quote key material.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import botocore.exceptions

from scaivault_core import (
    EngineError,
    EngineUnreachable,
    InvalidConfig,
    InvalidRequest,
    ScaiVaultError,
    TTLExceedsMax,
    format_duration,
)

__all__ = [
    "AwsAccessDenied",
    "AwsApiError",
    "AwsBadCredentials",
    "AwsConflict",
    "AwsError",
    "AwsRequestRejected",
    "AwsUnreachable",
    "InvalidField",
    "PropagationTimeout",
    "TtlOutOfRange",
    "TtlTooLong",
    "TtlTooShort",
    "as_core_error",
    "aws_code",
    "core_errors",
    "translate_errors",
]

# Codes AWS (and moto) use when the signing key pair itself is wrong, unknown or expired.
BAD_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "IncompleteSignature",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
CONFLICT_CODES = frozenset({"EntityAlreadyExists", "DeleteConflict", "ConcurrentModification"})
# Codes meaning AWS refused the request's content: a setting we passed on is wrong.
REJECTED_CODES = frozenset(
    {
        "MalformedPolicyDocument",
        "MalformedPolicyDocumentException",
        "InvalidInput",
        "NoSuchEntity",  # a group, policy or role the settings name does not exist
        "ValidationError",
        "PackedPolicyTooLarge",
        "LimitExceeded",
        "RegionDisabledException",
    }
)


class InvalidField(ValueError):
    """A configuration or role field has a value AWS would refuse; `field` names it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class TtlOutOfRange(ValueError):
    """A requested TTL is outside what STS accepts; the message names the limit and its source."""

    def __init__(self, requested: int, limit: int, source: str, message: str) -> None:
        super().__init__(message)
        self.requested = requested
        self.limit = limit
        self.source = source


class TtlTooLong(TtlOutOfRange):
    """The TTL is above STS's maximum for this credential (the core's `ttl_exceeds_max`)."""


class TtlTooShort(TtlOutOfRange):
    """The TTL is below STS's 900-second minimum session."""


class AwsError(Exception):
    """Base of every error this package raises while talking to AWS."""

    def __init__(self, message: str, *, operation: str | None = None, code: str | None = None):
        super().__init__(message)
        self.operation = operation
        self.code = code


class AwsUnreachable(AwsError):
    """The IAM or STS endpoint could not be reached (or did not answer as an AWS API)."""


class AwsBadCredentials(AwsError):
    """AWS refused the key pair: unknown key, wrong secret, expired token."""


class AwsAccessDenied(AwsError):
    """The key pair is valid but its policies do not allow the operation."""


class AwsRequestRejected(AwsError):
    """AWS refused the request's content (policy, name, quota): a setting needs fixing."""


class AwsConflict(AwsError):
    """The entity already exists, or is being changed by someone else at the same time."""


class AwsApiError(AwsError):
    """Any other error response from AWS."""


class PropagationTimeout(AwsError):
    """New credentials were still not accepted when the bounded wait ended."""


def aws_code(error: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, or None for anything else."""
    if isinstance(error, botocore.exceptions.ClientError):
        return error.response.get("Error", {}).get("Code")
    return None


@contextlib.contextmanager
def translate_errors(*, access_denied_is_bad_credentials: bool = False) -> Iterator[None]:
    """Re-raise botocore errors raised inside the block as this package's exceptions."""
    # imported at first use: start-up loads every installed plugin (botocore.exceptions alone is cheap)
    from botocore.parsers import ResponseParserError

    try:
        yield
    except AwsError:
        raise
    except botocore.exceptions.ClientError as exc:
        raise _from_client_error(exc, access_denied_is_bad_credentials) from exc
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        # str(exc) names the endpoint URL and the socket error; it never holds request headers.
        raise AwsUnreachable(f"AWS endpoint unreachable: {exc}") from exc
    except botocore.exceptions.ParamValidationError as exc:
        # Our own validation runs first; this is a backstop. Parameters we send are never secrets.
        raise AwsRequestRejected(f"botocore refused the request: {exc}") from exc
    except ResponseParserError as exc:
        raise AwsUnreachable("the endpoint did not answer as an AWS API") from exc
    except (
        botocore.exceptions.NoCredentialsError,
        botocore.exceptions.PartialCredentialsError,
    ) as exc:
        raise AwsBadCredentials("no complete AWS key pair was given") from exc


def _from_client_error(exc: botocore.exceptions.ClientError, denied_is_bad: bool) -> AwsError:
    code = aws_code(exc) or "Unknown"
    operation = exc.operation_name
    if code in BAD_CREDENTIAL_CODES or (denied_is_bad and code in ACCESS_DENIED_CODES):
        # AWS's own text is left out: it is generic here and we never want key material near it.
        return AwsBadCredentials(f"AWS refused the credentials ({code} on {operation})", operation=operation, code=code)
    message = exc.response.get("Error", {}).get("Message", "")
    text = f"{code} on {operation}: {message}" if message else f"{code} on {operation}"
    if code in ACCESS_DENIED_CODES:
        return AwsAccessDenied(text, operation=operation, code=code)
    if code in CONFLICT_CODES:
        return AwsConflict(text, operation=operation, code=code)
    if code in REJECTED_CODES:
        return AwsRequestRejected(text, operation=operation, code=code)
    return AwsApiError(text, operation=operation, code=code)


# -- this package's exceptions as the core's errors ---------------------------------------------

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
            ttl=format_duration(exc.requested),
            max_ttl=format_duration(exc.limit),
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
            field=ROOT_FIELD,
            **details,
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
