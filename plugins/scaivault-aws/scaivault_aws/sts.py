"""STS session credentials (AssumeRole, GetFederationToken) and the TTL limits STS imposes.

STS credentials cannot be revoked before they expire, so a lease must never outlive what STS
grants: the core asks `assume_role_ttl_limit` / `federation_token_ttl_limit` and refuses a TTL
outside them rather than letting STS fail (AssumeRole) or silently shorten it (GetFederationToken
with root user credentials). Figures from the STS API reference:

- AssumeRole DurationSeconds: 900 s up to the role's MaxSessionDuration (which an administrator
  sets between 1 and 12 hours, default 1 hour); at most 1 hour when role chaining.
- GetFederationToken DurationSeconds: 900 s to 129,600 s (36 hours); root user credentials get at
  most 3,600 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import botocore.exceptions

from .clients import AwsClients
from .credentials import AwsCredentials
from .errors import (
    ACCESS_DENIED_CODES,
    InvalidField,
    TtlTooLong,
    TtlTooShort,
    aws_code,
    translate_errors,
)
from .validation import (
    SESSION_POLICY_MAX_CHARS,
    dump_policy,
    validate_federation_name,
    validate_policy_arns,
    validate_policy_document,
    validate_role_arn,
    validate_session_name,
)

__all__ = [
    "TtlLimit",
    "assume_role",
    "assume_role_ttl_limit",
    "federation_token_ttl_limit",
    "get_federation_token",
    "validate_session_policy",
]

SESSION_MIN_SECONDS = 900
ASSUME_ROLE_MAX_SECONDS = 43_200
ROLE_DEFAULT_MAX_SESSION_SECONDS = 3_600  # also the least any role allows
ROLE_CHAINING_MAX_SECONDS = 3_600
FEDERATION_MAX_SECONDS = 129_600
FEDERATION_ROOT_MAX_SECONDS = 3_600
MAX_SESSION_POLICY_ARNS = 10


@attrs.frozen
class TtlLimit:
    """The range of session durations STS accepts here, and where the maximum comes from."""

    minimum: int
    maximum: int
    source: str

    def check(self, ttl_seconds: int) -> int:
        """Return `ttl_seconds` if STS accepts it; else raise TtlTooShort or TtlTooLong."""
        ttl = int(ttl_seconds)
        if ttl > self.maximum:
            message = f"ttl {ttl}s exceeds the {self.maximum}s maximum ({self.source})"
            raise TtlTooLong(ttl, self.maximum, self.source, message)
        if ttl < self.minimum:
            message = f"ttl {ttl}s is below STS's {self.minimum}s minimum session"
            raise TtlTooShort(ttl, self.minimum, self.source, message)
        return ttl


_ASSUME_ROLE_RANGE = TtlLimit(SESSION_MIN_SECONDS, ASSUME_ROLE_MAX_SECONDS, "STS AssumeRole")
_FEDERATION_RANGE = TtlLimit(SESSION_MIN_SECONDS, FEDERATION_MAX_SECONDS, "STS GetFederationToken")


def assume_role_ttl_limit(clients: AwsClients, role_arn: str) -> TtlLimit:
    """The TTL range for sessions of `role_arn`: 900 s to its MaxSessionDuration (iam:GetRole)."""
    role = validate_role_arn(role_arn, "role_arn")
    identity = clients.identity()
    if identity.kind == "assumed-role":
        return TtlLimit(
            SESSION_MIN_SECONDS,
            ROLE_CHAINING_MAX_SECONDS,
            "role chaining: the engine's own credentials are a role session",
        )
    fallback = TtlLimit(
        SESSION_MIN_SECONDS,
        ROLE_DEFAULT_MAX_SESSION_SECONDS,
        f"MaxSessionDuration of {role_arn} could not be read; 1 hour is the least any role allows",
    )
    # GetRole takes a bare name, which would find a namesake in our own account: only ask
    # about roles of the engine's own account.
    if role["account"] != identity.account:
        return fallback
    with translate_errors():
        try:
            answer = clients.iam.get_role(RoleName=role["role_name"])
        except botocore.exceptions.ClientError as exc:
            if aws_code(exc) in ACCESS_DENIED_CODES:
                return fallback
            if aws_code(exc) == "NoSuchEntity":
                problem = f"no role {role['role_name']} in account {role['account']}"
                raise InvalidField("role_arn", problem) from exc
            raise
    maximum = int(answer["Role"].get("MaxSessionDuration", ROLE_DEFAULT_MAX_SESSION_SECONDS))
    return TtlLimit(SESSION_MIN_SECONDS, maximum, f"MaxSessionDuration of {role_arn}")


def federation_token_ttl_limit(clients: AwsClients) -> TtlLimit:
    """The TTL range for federation tokens issued with these clients' credentials."""
    identity = clients.identity()
    if identity.kind in ("assumed-role", "federated-user"):
        raise InvalidField(
            "root_credentials_path",
            "GetFederationToken needs an IAM user's long-term access key, not session credentials",
        )
    if identity.kind == "root":
        return TtlLimit(
            SESSION_MIN_SECONDS,
            FEDERATION_ROOT_MAX_SECONDS,
            "GetFederationToken with root user credentials",
        )
    return _FEDERATION_RANGE


def validate_session_policy(
    policy: Any = None, policy_arns: Sequence[str] = (), *, required: bool = False
) -> dict[str, Any] | None:
    """Check a session policy (`policy_document`) and session policy ARNs; return the policy."""
    if required and policy is None and not policy_arns:
        raise InvalidField(
            "policy_document",
            "a federation token has no permissions without a policy_document or policy_arns",
        )
    document = None
    if policy is not None:
        document = validate_policy_document(policy, max_chars=SESSION_POLICY_MAX_CHARS, count_spaces=True)
    arns = validate_policy_arns(policy_arns)
    if len(arns) > MAX_SESSION_POLICY_ARNS:
        raise InvalidField("policy_arns", f"STS takes at most {MAX_SESSION_POLICY_ARNS} session policy ARNs")
    return document


def _policy_request(document: dict[str, Any] | None, policy_arns: Sequence[str]) -> dict[str, Any]:
    request: dict[str, Any] = {}
    if document is not None:
        request["Policy"] = dump_policy(document)
    if policy_arns:
        request["PolicyArns"] = [{"arn": arn} for arn in policy_arns]
    return request


def _credentials(answer: dict[str, Any], principal_arn: str) -> AwsCredentials:
    issued = answer["Credentials"]
    return AwsCredentials(
        access_key_id=issued["AccessKeyId"],
        secret_access_key=issued["SecretAccessKey"],
        session_token=issued["SessionToken"],
        expiration=issued["Expiration"],
        principal_arn=principal_arn,
    )


def assume_role(
    clients: AwsClients,
    role_arn: str,
    session_name: str,
    *,
    duration_seconds: int,
    policy: Any = None,
    policy_arns: Sequence[str] = (),
) -> AwsCredentials:
    """sts:AssumeRole: session credentials for `role_arn`, optionally narrowed by session policies.

    Checks STS's fixed 900-43,200 s range only; `assume_role_ttl_limit` gives the role's own.
    """
    validate_role_arn(role_arn, "role_arn")
    validate_session_name(session_name)
    document = validate_session_policy(policy, policy_arns)
    request = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "DurationSeconds": _ASSUME_ROLE_RANGE.check(duration_seconds),
        **_policy_request(document, policy_arns),
    }
    with translate_errors():
        answer = clients.sts.assume_role(**request)
    return _credentials(answer, answer["AssumedRoleUser"]["Arn"])


def get_federation_token(
    clients: AwsClients,
    name: str,
    *,
    duration_seconds: int,
    policy: Any = None,
    policy_arns: Sequence[str] = (),
) -> AwsCredentials:
    """sts:GetFederationToken: session credentials for federated user `name`, scoped by policy.

    Checks STS's fixed 900-129,600 s range only; `federation_token_ttl_limit` knows the root cap.
    """
    validate_federation_name(name)
    document = validate_session_policy(policy, policy_arns, required=True)
    request = {
        "Name": name,
        "DurationSeconds": _FEDERATION_RANGE.check(duration_seconds),
        **_policy_request(document, policy_arns),
    }
    with translate_errors():
        answer = clients.sts.get_federation_token(**request)
    return _credentials(answer, answer["FederatedUser"]["Arn"])
