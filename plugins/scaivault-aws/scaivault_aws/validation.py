"""Checks of role settings against IAM's and STS's documented syntax, before AWS is called.

Limits come from the IAM/STS API reference (and botocore's service model, which encodes the
same constraints): a role that would fail at AWS fails here with the field it concerns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import InvalidField

__all__ = [
    "IAM_USER_NAME_MAX",
    "dump_policy",
    "validate_arn",
    "validate_federation_name",
    "validate_group_name",
    "validate_iam_path",
    "validate_policy_arn",
    "validate_policy_arns",
    "validate_policy_document",
    "validate_role_arn",
    "validate_session_name",
    "validate_tags",
    "validate_user_name",
]

IAM_USER_NAME_MAX = 64
USER_POLICY_MAX_CHARS = 2048  # aggregate inline policy size per user, whitespace not counted
SESSION_POLICY_MAX_CHARS = 2048  # STS inline session policy plaintext
MAX_SESSION_POLICY_ARNS = 10
MAX_TAGS = 50

# AWS's `[\w+=,.@-]` is ASCII-only; Python's \w is not, hence re.ASCII.
_NAME = re.compile(r"[\w+=,.@-]+", re.ASCII)
_PATH = re.compile(r"/|/[\x21-\x7e]+/")
_POLICY_CHARS = re.compile(r"[\t\n\r\x20-\xff]*")
_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):(?P<service>[a-z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12}|aws)?:(?P<resource>.+)",
    re.ASCII,
)
_POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_ACTION = re.compile(r"\*|[a-zA-Z0-9-]+:[a-zA-Z0-9*?]+")


def _name(value: Any, field: str, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise InvalidField(field, f"must be a string of {low} to {high} characters")
    if not _NAME.fullmatch(value):
        raise InvalidField(field, "may hold only letters, digits and _+=,.@-")
    return value


def validate_user_name(name: Any, field: str = "user_name") -> str:
    """An IAM user name: 1-64 characters of [A-Za-z0-9_+=,.@-]."""
    return _name(name, field, 1, IAM_USER_NAME_MAX)


def validate_group_name(name: Any, field: str = "groups") -> str:
    """An IAM group name: 1-128 characters of [A-Za-z0-9_+=,.@-]."""
    return _name(name, field, 1, 128)


def validate_session_name(name: Any, field: str = "session_name") -> str:
    """An AssumeRole RoleSessionName: 2-64 characters of [A-Za-z0-9_+=,.@-]."""
    return _name(name, field, 2, 64)


def validate_federation_name(name: Any, field: str = "name") -> str:
    """A GetFederationToken Name: 2-32 characters of [A-Za-z0-9_+=,.@-]."""
    return _name(name, field, 2, 32)


def validate_iam_path(path: Any, field: str = "path") -> str:
    """An IAM path: "/" or "/a/b/" (printable ASCII, up to 512 characters)."""
    if not isinstance(path, str) or not 1 <= len(path) <= 512 or not _PATH.fullmatch(path):
        raise InvalidField(field, 'must be "/" or start and end with "/" (printable ASCII, <= 512)')
    if "//" in path:
        raise InvalidField(field, "must not contain an empty segment (//)")
    return path


def validate_arn(value: Any, field: str, *, service: str | None = None) -> dict[str, str]:
    """Parse an ARN (arn:partition:service:region:account:resource) or raise InvalidField."""
    match = _ARN.fullmatch(value) if isinstance(value, str) and 20 <= len(value) <= 2048 else None
    if match is None:
        raise InvalidField(field, "is not an ARN (arn:partition:service:region:account:resource)")
    parts = match.groupdict()
    if service is not None and parts["service"] != service:
        raise InvalidField(field, f"must be an ARN of service {service!r}")
    return parts


def validate_role_arn(value: Any, field: str = "role_arns") -> dict[str, str]:
    """An IAM role ARN: arn:aws:iam::123456789012:role/optional/path/name."""
    parts = validate_arn(value, field, service="iam")
    if parts["region"] or not (parts["account"] or "").isdigit():
        raise InvalidField(field, "an IAM role ARN has no region and a 12-digit account")
    if not parts["resource"].startswith("role/") or parts["resource"].endswith("/"):
        raise InvalidField(field, "must name a role (arn:...:iam::ACCOUNT:role/NAME)")
    parts["role_name"] = parts["resource"].rsplit("/", 1)[1]
    _name(parts["role_name"], field, 1, 64)
    return parts


def validate_policy_arn(value: Any, field: str = "policy_arns") -> dict[str, str]:
    """A managed policy ARN, customer (12-digit account) or AWS-managed (account `aws`)."""
    parts = validate_arn(value, field, service="iam")
    if parts["region"] or not parts["account"]:
        raise InvalidField(field, "a policy ARN has no region and an account (or `aws`)")
    if not parts["resource"].startswith("policy/") or parts["resource"].endswith("/"):
        raise InvalidField(field, "must name a managed policy (arn:...:iam::ACCOUNT:policy/NAME)")
    return parts


def validate_policy_arns(values: Iterable[Any], field: str = "policy_arns") -> list[str]:
    """A list of managed policy ARNs; the field named in errors carries the index."""
    if isinstance(values, (str, bytes)):
        raise InvalidField(field, "must be a list of policy ARNs")
    arns = list(values)
    for i, arn in enumerate(arns):
        validate_policy_arn(arn, f"{field}[{i}]")
    return arns


def validate_tags(tags: Any, field: str = "tags") -> dict[str, str]:
    """IAM tags: at most 50, keys 1-128 characters not starting with `aws:`, values <= 256."""
    if not isinstance(tags, Mapping):
        raise InvalidField(field, "must be an object of string keys and values")
    if len(tags) > MAX_TAGS:
        raise InvalidField(field, f"at most {MAX_TAGS} tags")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128:
            raise InvalidField(field, "tag keys are strings of 1 to 128 characters")
        if key.lower().startswith("aws:"):
            raise InvalidField(f"{field}.{key}", "the aws: prefix is reserved for AWS")
        if not isinstance(value, str) or len(value) > 256:
            raise InvalidField(f"{field}.{key}", "tag values are strings of at most 256 characters")
    return dict(tags)


def validate_policy_document(
    document: Any,
    field: str = "policy_document",
    *,
    max_chars: int = USER_POLICY_MAX_CHARS,
    count_spaces: bool = False,
) -> dict[str, Any]:
    """An identity policy (user inline or session policy): Version, Statement, size limit.

    IAM measures a user's inline policies without whitespace; STS measures a session policy's
    plaintext as sent (`count_spaces=True`). A JSON string is parsed first.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise InvalidField(field, f"is not valid JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise InvalidField(field, "must be a JSON object with Version and Statement")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise InvalidField(f"{field}.{sorted(unknown)[0]}", "is not a policy element")
    if document.get("Version") not in _POLICY_VERSIONS:
        raise InvalidField(f"{field}.Version", 'must be "2012-10-17" (or the older "2008-10-17")')
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise InvalidField(f"{field}.Statement", "must be a statement or a non-empty list of them")
    for i, statement in enumerate(statements):
        _check_statement(statement, f"{field}.Statement[{i}]")
    text = dump_policy(document)
    if not _POLICY_CHARS.fullmatch(text):
        raise InvalidField(field, "may hold only tab, newline and characters U+0020 to U+00FF")
    size = len(text) if count_spaces else sum(1 for ch in text if not ch.isspace())
    if size > max_chars:
        raise InvalidField(field, f"is {size} characters as sent; AWS allows {max_chars}")
    return document


def _check_statement(statement: Any, field: str) -> None:
    if not isinstance(statement, dict):
        raise InvalidField(field, "must be an object")
    if "Principal" in statement or "NotPrincipal" in statement:
        raise InvalidField(f"{field}.Principal", "an identity policy must not name a principal")
    unknown = set(statement) - _STATEMENT_KEYS
    if unknown:
        raise InvalidField(f"{field}.{sorted(unknown)[0]}", "is not a statement element")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise InvalidField(f"{field}.Effect", 'must be "Allow" or "Deny"')
    if ("Action" in statement) == ("NotAction" in statement):
        raise InvalidField(field, "needs exactly one of Action and NotAction")
    if ("Resource" in statement) == ("NotResource" in statement):
        raise InvalidField(field, "needs exactly one of Resource and NotResource")
    key = "Action" if "Action" in statement else "NotAction"
    for action in _strings(statement[key], f"{field}.{key}"):
        if not _ACTION.fullmatch(action):
            raise InvalidField(f"{field}.{key}", f"{action!r} is not service:Action or *")
    key = "Resource" if "Resource" in statement else "NotResource"
    for resource in _strings(statement[key], f"{field}.{key}"):
        if resource != "*" and not resource.startswith("arn:"):
            raise InvalidField(f"{field}.{key}", f"{resource!r} is neither * nor an ARN")
    if "Condition" in statement and not isinstance(statement["Condition"], dict):
        raise InvalidField(f"{field}.Condition", "must be an object")


def _strings(value: Any, field: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise InvalidField(field, "must be a string or a non-empty list of strings")
    return values


def dump_policy(document: Mapping[str, Any]) -> str:
    """The compact JSON text sent to AWS (and measured against its size limits)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
