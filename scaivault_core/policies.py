"""Policies: path patterns and permissions, deny by default.

``*`` matches one path segment, ``**`` any number (including none); ``path_patterns`` matches them
in linear time. Dynamic-secret access uses synthetic paths
(``dynamic/engines/{engine}/roles/{role}``), so one model covers secrets and leases.
"""

from __future__ import annotations

import re
from typing import Iterable

from .errors import InvalidConfig, InvalidRequest
from .models import PERMISSIONS, Policy, Rule
from .path_patterns import matches

ADMIN_IDENTITY = "user:admin"
ROOT_POLICY = "root"
_IDENTITY = re.compile(r"(sa|user|dynamic):[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SEGMENT = re.compile(r"(\*\*|\*|[A-Za-z0-9_][A-Za-z0-9._@=+-]*)")


def root_policy() -> Policy:
    return Policy(ROOT_POLICY, [Rule("**", list(PERMISSIONS))], "Everything; bound to the admin identity.")


def check_identity(identity: str) -> str:
    if not isinstance(identity, str) or not _IDENTITY.fullmatch(identity):
        raise InvalidRequest(
            "An identity looks like sa:<name>, user:<name> or dynamic:<engine>.", field="identity"
        )
    return identity


def check_name(name: str, what: str) -> str:
    """Names of engines, roles and policies: letters, digits, '.', '_' and '-', at most 128."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(
            f"{what} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.",
            field=what,
        )
    return name


def validate_policy(policy: Policy) -> Policy:
    check_name(policy.name, "name")
    if not policy.rules:
        raise InvalidConfig("A policy needs at least one rule.", field="rules")
    for i, rule in enumerate(policy.rules):
        segments = rule.path_pattern.split("/")
        if not rule.path_pattern or not all(_SEGMENT.fullmatch(s) for s in segments):
            raise InvalidConfig(
                f"rules[{i}].path_pattern must be '/'-separated segments of letters, digits, "
                "'.', '_', '-', '*' or '**'.",
                field=f"rules[{i}].path_pattern",
            )
        unknown = set(rule.permissions) - set(PERMISSIONS)
        if unknown or not rule.permissions:
            raise InvalidConfig(
                f"rules[{i}].permissions must be among {', '.join(PERMISSIONS)}"
                + (f"; unknown: {', '.join(sorted(unknown))}" if unknown else "")
                + ".",
                field=f"rules[{i}].permissions",
            )
    return policy


def allowed(rules: Iterable[Rule], path: str, permission: str) -> bool:
    return any(permission in rule.permissions and matches(rule.path_pattern, path) for rule in rules)


def engine_path(engine: str) -> str:
    return f"dynamic/engines/{engine}"


def role_path(engine: str, role: str) -> str:
    return f"dynamic/engines/{engine}/roles/{role}"
