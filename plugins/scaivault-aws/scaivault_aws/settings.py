"""The `aws` engine's config, role and request fields, and the checks a role passes at creation.

Role fields are typed `Any` on purpose: the core's converter would turn "false" into True and a
string into a list of characters, so every field is checked here instead, and an error names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .errors import InvalidField
from .iam_users import validate_iam_user_settings
from .sts import validate_session_policy
from .validation import MAX_TAGS, validate_role_arn

__all__ = [
    "ASSUMED_ROLE",
    "CREDENTIAL_TYPES",
    "FEDERATION_TOKEN",
    "IAM_USER",
    "OWN_TAGS",
    "Config",
    "Request",
    "Role",
    "check_role",
    "listed",
]

IAM_USER, ASSUMED_ROLE, FEDERATION_TOKEN = "iam_user", "assumed_role", "federation_token"
CREDENTIAL_TYPES = (IAM_USER, ASSUMED_ROLE, FEDERATION_TOKEN)
# Tags the engine puts on every IAM user it creates: revocation deletes only users carrying the
# lease's own tag, and an operator can tell where a user came from.
LEASE_TAG, ENGINE_TAG = "scaivault:lease", "scaivault:engine"
OWN_TAGS = (LEASE_TAG, ENGINE_TAG)
# Fields that mean something for one credential type only; setting them elsewhere is a mistake.
_ONLY_FOR = {
    "groups": IAM_USER,
    "permissions_boundary": IAM_USER,
    "path": IAM_USER,
    "tags": IAM_USER,
    "role_arns": ASSUMED_ROLE,
}
PROPAGATION_TIMEOUT_MAX = 60  # well inside the core's 120 s intent timeout


@attrs.define
class Config:
    """Engine config: the guide's `region`, plus endpoints for VPC endpoints (and tests)."""

    region: str
    iam_endpoint: str | None = None
    sts_endpoint: str | None = None
    # The most a `wait_for_propagation` request waits for AWS to accept a new key.
    propagation_timeout: Any = 30

    def check(self) -> None:
        """Raise InvalidField for a propagation_timeout that is not 1-60 seconds."""
        value = self.propagation_timeout
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidField("propagation_timeout", "must be a number of seconds")
        if not 1 <= value <= PROPAGATION_TIMEOUT_MAX:
            raise InvalidField("propagation_timeout", f"must be 1 to {PROPAGATION_TIMEOUT_MAX} seconds")


@attrs.define
class Role:
    """Role fields; which apply depends on `credential_type` (see docs/engines/aws.md)."""

    credential_type: Any
    # iam_user: the user's inline policy. assumed_role: an optional session policy.
    # federation_token: the token's policy. A JSON object or a string holding one.
    policy_document: Any = None
    # iam_user: managed policies attached to the user. STS types: session policy ARNs.
    policy_arns: Any = None
    groups: Any = None
    permissions_boundary: Any = None
    path: Any = None
    tags: Any = None
    role_arns: Any = None


def _check_wait(_instance: Any, _attribute: Any, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError("wait_for_propagation must be true or false")


def _check_role_arn(_instance: Any, _attribute: Any, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError("role_arn must be a string")


@attrs.define
class Request:
    """Extra fields of a credentials request."""

    # Return only once AWS accepts the new key (sts:GetCallerIdentity), up to propagation_timeout.
    wait_for_propagation: Any = attrs.field(default=False, validator=_check_wait)
    # Which of an assumed_role role's `role_arns` to assume; needed when it has several.
    role_arn: Any = attrs.field(default=None, validator=_check_role_arn)


def listed(value: Any, field: str) -> list[Any]:
    """A role field that holds a list (None meaning empty); a bare string is refused."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidField(field, "must be a list")
    return value


def check_role(role: Role) -> None:
    """Check a role's fields against its credential type; raise InvalidField naming the first bad one."""
    kind = role.credential_type
    if kind not in CREDENTIAL_TYPES:
        raise InvalidField("credential_type", f"must be one of {', '.join(CREDENTIAL_TYPES)}")
    for field, owner in _ONLY_FOR.items():
        if owner != kind and getattr(role, field) is not None:
            raise InvalidField(field, f"applies only to credential_type {owner}")
    policy_arns = listed(role.policy_arns, "policy_arns")
    if kind == IAM_USER:
        tags = role.tags if role.tags is not None else {}
        if isinstance(tags, Mapping) and any(key in OWN_TAGS for key in tags):
            raise InvalidField("tags", f"{' and '.join(OWN_TAGS)} are set by ScaiVault")
        if isinstance(tags, Mapping) and len(tags) > MAX_TAGS - len(OWN_TAGS):
            raise InvalidField("tags", f"at most {MAX_TAGS - len(OWN_TAGS)} (ScaiVault adds two)")
        validate_iam_user_settings(
            policy_document=role.policy_document,
            policy_arns=policy_arns,
            groups=listed(role.groups, "groups"),
            permissions_boundary=role.permissions_boundary,
            path="/" if role.path is None else role.path,
            tags=tags,
        )
        return
    validate_session_policy(role.policy_document, policy_arns, required=kind == FEDERATION_TOKEN)
    if kind == ASSUMED_ROLE:
        arns = listed(role.role_arns, "role_arns")
        if not arns:
            raise InvalidField("role_arns", "an assumed_role role needs at least one role ARN")
        for i, arn in enumerate(arns):
            validate_role_arn(arn, f"role_arns[{i}]")
