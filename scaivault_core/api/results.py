"""What operations answer, declared once as attrs classes: the OpenAPI document's component schemas.

The answers themselves are the models' ``to_dict()``; these classes say their shape (a field
without a default is always present) and are never instantiated. ``COMPONENTS`` is every named
schema, in the document's order; a class used inside one of them but not listed is written inline.
A class with a plain field after a described one is ``kw_only``: mypy takes ``field()`` for a default.
"""

# No "from __future__ import annotations": the field types are read at run time (schemas, the converter).
from typing import Any, Literal

import attrs

from .bodies import Rule
from .schemas import Time, field, schema_of
from .vault_api import LEASE_STATES

NEXT = "Pass as `after` for the next page; null at the end."


@attrs.define
class ErrorBody:
    code: str
    message: str
    details: dict[str, Any]


@attrs.define
class Error:
    error: ErrorBody


@attrs.define
class Health:
    status: Literal["ok"]
    version: str


@attrs.define
class Readiness:
    status: Literal["ready"]
    checks: dict[str, str]  # store, expiry_worker, plugins: each "ok"


@attrs.define
class PluginInfo:
    name: str
    version: str | None
    engines: list[str]
    error: str | None


@attrs.define
class PluginList:
    plugins: list[PluginInfo]
    next: str | None = field(description=NEXT)


@attrs.define
class NewToken:
    token: str
    accessor: str
    identity: str
    expires_at: Time | None


@attrs.define
class TokenInfo:
    accessor: str
    identity: str
    created_at: Time
    expires_at: Time | None
    revoked: bool
    display_name: str
    parent: str | None = field(description="Accessor of the token that minted this one.")
    ceilings: list[str] = field(description="Identities that must also allow whatever this token does.")


@attrs.define(kw_only=True)
class TokenSelf:
    identity: str
    accessor: str | None = field(description="Null only embedded, where the vault itself acts without a token.")
    ceilings: list[str] = field(description="Identities that must also allow whatever this token does.")
    expires_at: Time | None


@attrs.define
class TokenList:
    tokens: list[TokenInfo]
    next: str | None = field(description=NEXT)


@attrs.define
class SecretVersion:
    path: str
    version: int
    secret_type: str
    created_at: Time
    created_by: str
    reason: str | None = None
    retired_at: Time | None = None
    data: Any = field(None, description="Only when reading.")


@attrs.define
class SecretVersionList:
    path: str
    versions: list[SecretVersion]
    next: int | None = field(description=NEXT)


@attrs.define
class RotationPeriod:
    path: str
    period: str | None = field(description="e.g. '720h'; null: no scheduled rotation.")
    grace_period: str | None = field(description="How long each previous version stays valid.")


@attrs.define
class Policy:
    name: str
    rules: list[Rule]
    description: str


@attrs.define(kw_only=True)
class Grant:
    policy: str
    rule: int = field(description="The rule's number in its policy, counting from 1.")
    path_pattern: str
    permissions: list[str]


@attrs.define(kw_only=True)
class Verdict:
    identity: str
    ceiling: bool = field(description="A minter of the caller's token (whose grants bound it), not the identity.")
    allowed: bool
    policies: list[str] = field(description="Every policy bound to this identity.")
    grants: list[Grant] = field(description="The rules granting the permission on the path.")
    other_rules: list[Grant] = field(description="Rules whose pattern matches the path but grant other permissions.")


@attrs.define
class Explanation:
    identity: str
    permission: str
    path: str
    allowed: bool = field(description="True only if every principal allows it.")
    message: str = field(description="The answer in a sentence or two, naming the rules.")
    principals: list[Verdict] = field(description="The identity's verdict, then one per ceiling of the token.")


@attrs.define
class PolicyList:
    policies: list[Policy]
    next: str | None = field(description=NEXT)


@attrs.define
class Binding:
    policy: str
    identity: str


@attrs.define
class BindingList:
    policy: str
    identities: list[str]
    next: str | None = field(description=NEXT)


@attrs.define
class Engine:
    name: str
    type: str
    config: dict[str, Any]
    default_ttl: str
    max_ttl: str
    max_leases: int | None
    max_leases_per_identity: int | None
    created_at: Time
    updated_at: Time


@attrs.define
class EngineList:
    engines: list[Engine]
    next: str | None = field(description=NEXT)


@attrs.define
class Role:
    name: str
    engine: str
    default_ttl: str | None
    max_ttl: str | None
    max_leases: int | None
    max_leases_per_identity: int | None
    created_at: Time
    updated_at: Time


@attrs.define
class RoleList:
    roles: list[Role]
    next: str | None = field(description=NEXT)


@attrs.define
class Credentials:
    lease_id: str
    data: dict[str, Any]
    lease_duration: str
    renewable: bool
    expires_at: Time


@attrs.define
class RenewResult:
    lease_id: str
    lease_duration: str
    renewable: bool
    expires_at: Time
    max_expires_at: Time
    capped: bool
    data: dict[str, Any] = attrs.field(default=None)  # only from engines that re-issue the credential


@attrs.define(kw_only=True)
class Lease:
    lease_id: str
    engine: str
    role: str
    identity: str
    state: str = field(enum=[state for state in LEASE_STATES if state != "live"])
    subject: str
    renewable: bool
    issued_at: Time
    expires_at: Time
    max_expires_at: Time
    metadata: dict[str, Any]
    attempts: int
    last_error: str | None
    revoked_at: Time | None


@attrs.define
class LeaseList:
    leases: list[Lease]
    next: str | None = field(description=NEXT)


@attrs.define(kw_only=True)
class AuditEntry:
    id: int
    time: Time
    identity: str
    operation: str
    path: str
    outcome: str = field(description="`ok` or an error code.")
    lease_id: str | None
    details: dict[str, Any] = field(description="Secret values only as keyed hashes.")


@attrs.define
class AuditList:
    entries: list[AuditEntry]
    next: int | None = field(description=NEXT)


@attrs.define
class Failure:
    subject: str
    code: str
    message: str


@attrs.define
class Skipped:
    subject: str
    reason: str


@attrs.define
class ReconcileResult:
    engine: str
    orphans: list[str]
    revoked: list[str]
    failed: list[Failure]
    skipped: list[Skipped]


@attrs.define
class LeaseFailure:
    lease_id: str
    code: str
    message: str


@attrs.define
class RevokePrefixResult:
    revoked: int
    in_progress: int
    failed: list[LeaseFailure]


@attrs.define
class JobProgress:
    done: int = field(description="Items handled so far (leases, or orphans removed).")
    total: int | None = field(description="Items found to handle; null until counted.")


@attrs.define
class JobError:
    code: str
    message: str


@attrs.define(kw_only=True)
class Job:
    job_id: str
    operation: Literal["revoke_prefix", "reconcile"]
    request: dict[str, Any] = field(description="What was asked: the body's fields.")
    state: Literal["running", "succeeded", "failed"]
    progress: JobProgress
    result: Any = field(
        description="Once succeeded: exactly what the call answers with `sync: true` "
        "(RevokePrefixResult or ReconcileResult); null before."
    )
    error: JobError | None = field(description="Once failed: the error's stable code and message.")
    created_by: str
    created_at: Time
    updated_at: Time
    finished_at: Time | None
    href: str = field(description="Where to follow it (also the 202's Location).")


COMPONENTS = (
    Error,
    Health,
    Readiness,
    PluginList,
    NewToken,
    TokenInfo,
    TokenSelf,
    TokenList,
    SecretVersion,
    SecretVersionList,
    RotationPeriod,
    Policy,
    PolicyList,
    Explanation,
    Binding,
    BindingList,
    Engine,
    EngineList,
    Role,
    RoleList,
    Credentials,
    RenewResult,
    Lease,
    LeaseList,
    AuditEntry,
    AuditList,
    ReconcileResult,
    RevokePrefixResult,
    Job,
)
# Answers that are not JSON objects: named for the operations that refer to them.
OTHER_SCHEMAS = {
    "OpenAPI": {"type": "object"},
    "Metrics": {"type": "string", "description": "Prometheus text exposition format 0.0.4."},
}


def component_schemas() -> dict[str, Any]:
    """Every named schema of the OpenAPI document."""
    named = frozenset(COMPONENTS)
    return {**{cls.__name__: schema_of(cls, closed=None, components=named) for cls in COMPONENTS}, **OTHER_SCHEMAS}
