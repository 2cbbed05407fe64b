"""Policies: path patterns and permissions, deny by default.

``*`` matches one path segment, ``**`` any number (including none); ``path_patterns`` matches them
in linear time. Dynamic-secret access uses synthetic paths
(``dynamic/engines/{engine}/roles/{role}``), so one model covers secrets and leases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs

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
        raise InvalidRequest("An identity looks like sa:<name>, user:<name> or dynamic:<engine>.", field="identity")
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


def check_concrete_path(path: str) -> str:
    """A path as checks see it: '/'-separated literal segments (no '*' or '**'), at most 512 characters."""
    if (
        not isinstance(path, str)
        or not 0 < len(path) <= 512
        or not all(_SEGMENT.fullmatch(s) and "*" not in s for s in path.split("/"))
    ):
        raise InvalidRequest(
            "A path is '/'-separated segments of letters, digits and . _ - @ = + "
            "(no '*': ask about one concrete path, such as dynamic/engines/pg/roles/ro).",
            field="path",
        )
    return path


def check_permission(permission: str) -> str:
    if permission not in PERMISSIONS:
        raise InvalidRequest(f"permission must be one of {', '.join(PERMISSIONS)}.", field="permission")
    return permission


# -- explaining a decision ---------------------------------------------------------------------------


@attrs.define
class Grant:
    """One rule of a policy, numbered from 1 in the order the policy lists its rules."""

    policy: str
    rule: int
    path_pattern: str
    permissions: list[str]

    def __str__(self) -> str:
        return f"rule {self.rule} of policy {self.policy!r} ({self.path_pattern}: {', '.join(self.permissions)})"


@attrs.define
class Verdict:
    """What the policies bound to one principal say: the identity itself, or one of its token's ceilings."""

    identity: str
    ceiling: bool  # a minter whose grants bound the token, rather than the identity itself
    allowed: bool
    policies: list[str]  # every policy bound to it
    grants: list[Grant]  # the rules granting the permission on the path
    other_rules: list[Grant]  # rules whose pattern matches the path but grant other permissions

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class Explanation:
    """Why ``identity`` may or may not do ``permission`` on ``path``: one verdict per principal, all must allow."""

    identity: str
    permission: str
    path: str
    allowed: bool
    principals: list[Verdict]

    @property
    def message(self) -> str:
        """What a person reads: "Yes: sa:x may read P. sa:x is granted it by rule 2 of policy 'team' (...)."."""
        own, ceilings = self.principals[0], self.principals[1:]
        words = [
            f"{'Yes' if self.allowed else 'No'}: {self.identity} {'may' if self.allowed else 'may not'} "
            f"{self.permission} {self.path}.",
            _sentence(_verdict_words(own)),
        ]
        words += [
            f"Its token may do only what {c.identity} (who minted it) may, and {_verdict_words(c)}." for c in ceilings
        ]
        return " ".join(words)

    def to_dict(self) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "permission": self.permission,
            "path": self.path,
            "allowed": self.allowed,
            "message": self.message,
            "principals": [v.to_dict() for v in self.principals],
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Explanation:
        """The inverse of ``to_dict`` (``message`` is made from the rest again)."""

        def grants(items: list[dict[str, Any]]) -> list[Grant]:
            return [Grant(g["policy"], g["rule"], g["path_pattern"], list(g["permissions"])) for g in items]

        principals = [
            Verdict(
                v["identity"],
                v["ceiling"],
                v["allowed"],
                list(v["policies"]),
                grants(v["grants"]),
                grants(v["other_rules"]),
            )
            for v in body["principals"]
        ]
        return cls(body["identity"], body["permission"], body["path"], body["allowed"], principals)


def verdict(identity: str, policies: Iterable[Policy], path: str, permission: str, *, ceiling: bool = False) -> Verdict:
    """What ``policies`` (those bound to ``identity``) say of ``permission`` on ``path``, rule by rule."""
    names: list[str] = []
    grants: list[Grant] = []
    others: list[Grant] = []
    for policy in policies:
        names.append(policy.name)
        for number, rule in enumerate(policy.rules, 1):
            if matches(rule.path_pattern, path):
                found = Grant(policy.name, number, rule.path_pattern, list(rule.permissions))
                (grants if permission in rule.permissions else others).append(found)
    return Verdict(str(identity), ceiling, bool(grants), names, grants, others)


def _verdict_words(v: Verdict) -> str:
    if v.grants:
        return f"{v.identity} is granted it by " + " and by ".join(map(str, v.grants))
    if not v.policies:
        return f"no policy is bound to {v.identity}"
    return f"no policy bound to {v.identity} grants it" + "".join(
        f"; rule {g.rule} of policy {g.policy!r} ({g.path_pattern}) matches the path but grants only "
        + ", ".join(g.permissions)
        for g in v.other_rules
    )


def _sentence(words: str) -> str:
    return (words[0].upper() + words[1:] if words.startswith("no ") else words) + "."
