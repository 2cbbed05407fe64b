"""The records the core keeps, as attrs classes. Secret-bearing fields never enter a ``repr``."""

from __future__ import annotations

from typing import Any

import attrs

from .clock import iso
from .durations import format_duration

PERMISSIONS = ("read", "create", "update", "delete", "list", "rotate", "revoke")


@attrs.define
class Rule:
    path_pattern: str
    permissions: list[str]


@attrs.define
class Policy:
    name: str
    rules: list[Rule]
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.define
class EngineRecord:
    """An engine as stored: ``config`` holds the plugin's own fields, unstructured."""

    name: str
    type: str
    plugin: str
    config: dict[str, Any]
    root_credentials_path: str | None
    default_ttl: int
    max_ttl: int
    max_leases: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    max_leases_per_identity: int | None = None

    def to_dict(self) -> dict[str, Any]:
        config = dict(self.config)
        if self.type == "database":
            config = {"plugin": self.plugin, **config}
        if self.root_credentials_path:
            config["root_credentials_path"] = self.root_credentials_path
        return {
            "name": self.name,
            "type": self.type,
            "config": config,
            "default_ttl": format_duration(self.default_ttl),
            "max_ttl": format_duration(self.max_ttl),
            "max_leases": self.max_leases,
            "max_leases_per_identity": self.max_leases_per_identity,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


@attrs.define
class RoleRecord:
    """A role as stored: ``params`` holds the engine's own role fields, unstructured."""

    engine: str
    name: str
    params: dict[str, Any]
    default_ttl: int | None = None
    max_ttl: int | None = None
    max_leases: int | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    max_leases_per_identity: int | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"name": self.name, "engine": self.engine, **self.params}
        body["default_ttl"] = format_duration(self.default_ttl) if self.default_ttl is not None else None
        body["max_ttl"] = format_duration(self.max_ttl) if self.max_ttl is not None else None
        body["max_leases"] = self.max_leases
        body["max_leases_per_identity"] = self.max_leases_per_identity
        body["created_at"], body["updated_at"] = iso(self.created_at), iso(self.updated_at)
        return body


POOL_IDENTITY = "system:pool"
"""The identity a pooled user's record carries until an issue takes it (then the caller's)."""


class LeaseState:
    INTENT = "intent"  # recorded before anything exists in the target
    ACTIVE = "active"
    REVOKING = "revoking"  # due or asked to go, retried until it does
    REVOKED = "revoked"
    ROLLED_BACK = "rolled_back"  # an intent whose issue never finished, undone
    IRREVOCABLE = "irrevocable"  # attempts ran out; kept until an operator acts
    POOLED = "pooled"  # a user made ahead of time that cannot log in yet (pools.py); no lease until issued

    # The one list of each kind; the stores write them into SQL (store/rows.py), the lease manager filters by them.
    LIVE = (INTENT, ACTIVE, REVOKING)  # the states the expiry worker looks after
    REVOCABLE = (ACTIVE, REVOKING, IRREVOCABLE)  # what an explicit revoke may claim
    UNFINISHED = (*LIVE, IRREVOCABLE, POOLED)  # what may still stand in a target: the gauges count these


@attrs.define
class Lease:
    """One lease record. ``handle`` is what revocation needs; it is stored encrypted."""

    lease_id: str
    engine: str
    role: str
    identity: str
    state: str
    issued_at: float
    expires_at: float
    max_expires_at: float
    due_at: float
    renewable: bool = True
    subject: str = ""  # the user, key or certificate the lease stands for (not secret)
    metadata: dict[str, Any] = attrs.field(factory=dict)
    handle: dict[str, Any] = attrs.field(factory=dict, repr=False)
    attempts: int = 0
    last_error: str | None = None
    claimed_by: str | None = None
    claim_deadline: float | None = None
    revoked_at: float | None = None

    @property
    def lease_duration(self) -> int:
        return max(0, int(round(self.expires_at - self.issued_at)))

    def to_dict(self) -> dict[str, Any]:
        """The lease as lookups show it: never the credential itself."""
        return {
            "lease_id": self.lease_id,
            "engine": self.engine,
            "role": self.role,
            "identity": self.identity,
            "state": self.state,
            "subject": self.subject,
            "renewable": self.renewable,
            "issued_at": iso(self.issued_at),
            "expires_at": iso(self.expires_at),
            "max_expires_at": iso(self.max_expires_at),
            "metadata": self.metadata,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "revoked_at": iso(self.revoked_at),
        }


@attrs.define
class IssuedCredentials:
    """What issuing returns: the guide's ``lease_id``, ``data``, ``lease_duration``, ``renewable``, ``expires_at``."""

    lease: Lease
    data: dict[str, Any] = attrs.field(repr=False)

    @property
    def lease_id(self) -> str:
        return self.lease.lease_id

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease.lease_id,
            "data": self.data,
            "lease_duration": format_duration(self.lease.lease_duration),
            "renewable": self.lease.renewable,
            "expires_at": iso(self.lease.expires_at),
        }


@attrs.define
class RenewResult:
    lease: Lease
    capped: bool
    remaining: int  # seconds from the renewal until the new expiry
    data: dict[str, Any] = attrs.field(factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        body = {
            "lease_id": self.lease.lease_id,
            "lease_duration": format_duration(self.remaining),
            "renewable": self.lease.renewable,
            "expires_at": iso(self.lease.expires_at),
            "max_expires_at": iso(self.lease.max_expires_at),
            "capped": self.capped,
        }
        if self.data:
            body["data"] = self.data
        return body


@attrs.define
class SecretVersion:
    path: str
    version: int
    data: Any = attrs.field(repr=False)
    secret_type: str = "json"
    created_at: float = 0.0
    created_by: str = ""
    reason: str | None = None
    retired_at: float | None = None  # past versions are retired at the end of a grace period

    def to_dict(self, *, include_data: bool = True) -> dict[str, Any]:
        body = {
            "path": self.path,
            "version": self.version,
            "secret_type": self.secret_type,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "reason": self.reason,
            "retired_at": iso(self.retired_at),
        }
        if include_data:
            body["data"] = self.data
        return body


@attrs.define
class Token:
    accessor: str
    identity: str
    token_hash: str = attrs.field(repr=False)
    created_at: float = 0.0
    expires_at: float | None = None
    revoked: bool = False
    display_name: str = ""
    parent: str | None = None  # the accessor of the token that minted this one; revoking it revokes this
    ceilings: list[str] = attrs.field(factory=list)  # identities that must allow whatever this token does

    def to_dict(self) -> dict[str, Any]:
        return {
            "accessor": self.accessor,
            "identity": self.identity,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked": self.revoked,
            "display_name": self.display_name,
            "parent": self.parent,
            "ceilings": list(self.ceilings),
        }


@attrs.define
class AuditEvent:
    """One structured audit entry; secret values only ever appear as keyed hashes."""

    time: float
    identity: str
    operation: str
    path: str
    outcome: str  # "ok" or an error code
    lease_id: str | None = None
    details: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "time": iso(self.time)}


class JobState:
    RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


@attrs.define
class Job:
    """Long admin work (revoke-prefix, reconcile) run in the background: kept in the store, so it outlives
    the request that started it and is taken over if its process dies. ``identity`` and ``ceilings`` are
    who asked (the job runs as them); ``result`` is what the synchronous call would have answered."""

    job_id: str
    operation: str  # the VaultAPI method: "revoke_prefix" or "reconcile"
    params: dict[str, Any]
    identity: str
    ceilings: list[str] = attrs.field(factory=list)
    state: str = JobState.RUNNING
    done: int = 0
    total: int | None = None
    result: dict[str, Any] | None = None  # the outcome so far (a checkpoint while running), then the answer
    error: dict[str, Any] | None = None  # {"code", "message"} of a failed job
    created_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    claimed_by: str | None = None
    claim_deadline: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "operation": self.operation,
            "request": dict(self.params),
            "state": self.state,
            "progress": {"done": self.done, "total": self.total},
            "result": self.result if self.state == JobState.SUCCEEDED else None,
            "error": self.error,
            "created_by": self.identity,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "finished_at": iso(self.finished_at),
            "href": f"/v1/sys/jobs/{self.job_id}",
        }
