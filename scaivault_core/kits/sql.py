"""What SQL engines share: a role made of statement templates, its checks, and the revocation planned
and the renewal rendered from it (their root connection URL is in ``connection_urls``).

The guide's database roles are lists of statements (``creation_statements``, optionally
``revocation_statements`` and ``renew_statements``) rendered with the lease's variables; the
PostgreSQL and MySQL plugins use this role as it is, and so can a plugin for another SQL server.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import InvalidConfig

if TYPE_CHECKING:
    from ..engine import Engine, IssueRequest

STATEMENT_FIELDS = ("creation_statements", "revocation_statements", "renew_statements")
MAX_POOL_SIZE = 500  # users kept ahead of time per role: each holds the role's grants in the target
_USES_PASSWORD = re.compile(r"\{\{-?\s*password\b")


@attrs.define
class StatementRole:
    """A role whose credential is made, renewed and removed by templated statements."""

    creation_statements: list[str]
    revocation_statements: list[str] = attrs.field(factory=list)
    renew_statements: list[str] = attrs.field(factory=list)
    pool_size: int = 0
    """Users kept created ahead of time, unable to log in until an issue takes one (``scaivault_core.pools``)."""


def check_statement_role(role: StatementRole) -> None:
    """At least one creation statement; no ``{{password}}`` where the password is no longer known; a pool
    size within bounds."""
    if (
        isinstance(role.pool_size, bool)
        or not isinstance(role.pool_size, int)
        or not 0 <= role.pool_size <= MAX_POOL_SIZE
    ):
        raise InvalidConfig(f"pool_size must be a whole number from 0 to {MAX_POOL_SIZE}.", field="pool_size")
    if not role.creation_statements:
        raise InvalidConfig("creation_statements needs at least one statement.", field="creation_statements")
    for field in ("revocation_statements", "renew_statements"):
        if any(_USES_PASSWORD.search(s) for s in getattr(role, field)):
            raise InvalidConfig(f"{field} may not use {{{{password}}}}: it is not kept after issue.", field=field)


def plan_revocation(engine: Engine, request: IssueRequest, default: list[str]) -> dict[str, Any]:
    """The handle to store before creating: the user name and its revocation statements, rendered now.

    Rendered at issue time, so the lease stays revocable as planned after its role is changed or
    deleted; ``default`` when the role gives none.
    """
    statements = request.role.revocation_statements or default
    return {"username": request.username, "revocation": request.render(statements, engine.context.render)}


def render_renewal(engine: Engine, templates: list[str], username: str, expires_at: float) -> list[str]:
    """Renew statements for one user: ``{{expiration}}`` the new expiry, ``{{ttl_seconds}}`` the TTL left until it."""
    remaining = max(0, int(expires_at - engine.context.clock.time()))
    variables = {
        "name": username,
        "expiration": engine.format_expiration(expires_at),
        "ttl_seconds": remaining,
        "password": "",
    }  # never used (check_statement_role), but the strict templates want every name
    return [engine.context.render(t, variables) for t in templates]
