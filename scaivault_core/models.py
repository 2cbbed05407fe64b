"""The records the core keeps, as attrs classes. Secret-bearing fields never enter a ``repr``."""

from __future__ import annotations

from typing import Any

import attrs

from .clock import epoch, iso
from .durations import format_duration, parse_duration

PERMISSIONS = ("read", "create", "update", "delete", "list", "rotate", "revoke")

# Each answer model's ``from_dict(body)`` is the inverse of its ``to_dict()``: what the client makes of a
# REST answer, so that remote code gets the objects embedded code does. Times come back as the epoch
# seconds the models hold (whole seconds: the JSON carries no more); what a body never carries (a lease's
# handle, a claim) takes its neutral default.


def _at(text: str | None) -> float:
    """A required time of a body, as epoch seconds."""
    return epoch(text) or 0.0


def _seconds(text: str | None) -> int | None:
    """A duration of a body (``"1h"``), as seconds."""
    return parse_duration(text, "duration") if text is not None else None


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Policy:
        return cls(
            body["name"],
            [Rule(r["path_pattern"], list(r["permissions"])) for r in body["rules"]],
            body.get("description", ""),
        )


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> EngineRecord:
        config = dict(body["config"])
        plugin = config.pop("plugin", None) if body["type"] == "database" else body["type"]
        return cls(
            name=body["name"],
            type=body["type"],
            plugin=plugin or "",
            config=config,
            root_credentials_path=config.pop("root_credentials_path", None),
            default_ttl=_seconds(body["default_ttl"]) or 0,
            max_ttl=_seconds(body["max_ttl"]) or 0,
            max_leases=body.get("max_leases"),
            created_at=_at(body.get("created_at")),
            updated_at=_at(body.get("updated_at")),
            max_leases_per_identity=body.get("max_leases_per_identity"),
        )


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RoleRecord:
        params = dict(body)
        core = {key: params.pop(key, None) for key in _ROLE_FIELDS}
        return cls(
            engine=core["engine"],
            name=core["name"],
            params=params,  # what is left: the engine's own role fields
            default_ttl=_seconds(core["default_ttl"]),
            max_ttl=_seconds(core["max_ttl"]),
            max_leases=core["max_leases"],
            created_at=_at(core["created_at"]),
            updated_at=_at(core["updated_at"]),
            max_leases_per_identity=core["max_leases_per_identity"],
        )


_ROLE_FIELDS = (
    "engine",
    "name",
    "default_ttl",
    "max_ttl",
    "max_leases",
    "max_leases_per_identity",
    "created_at",
    "updated_at",
)


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Lease:
        """A lease as lookups show it: no ``handle``, ``due_at`` its expiry, no claim."""
        return cls(
            lease_id=body["lease_id"],
            engine=body["engine"],
            role=body["role"],
            identity=body["identity"],
            state=body["state"],
            issued_at=_at(body["issued_at"]),
            expires_at=_at(body["expires_at"]),
            max_expires_at=_at(body["max_expires_at"]),
            due_at=_at(body["expires_at"]),
            renewable=body["renewable"],
            subject=body.get("subject", ""),
            metadata=dict(body.get("metadata") or {}),
            attempts=body.get("attempts", 0),
            last_error=body.get("last_error"),
            revoked_at=epoch(body.get("revoked_at")),
        )


@attrs.define
class IssuedCredentials:
    """What issuing returns: the guide's ``lease_id``, ``data``, ``lease_duration`` (seconds), ``renewable``,
    ``expires_at`` (epoch seconds), alike embedded and from the client. ``lease`` is the whole lease record
    embedded; the REST answer does not carry it, so from the client it is None (``lookup(lease_id)`` has it)."""

    lease_id: str
    data: dict[str, Any] = attrs.field(repr=False)
    lease_duration: int
    renewable: bool
    expires_at: float
    lease: Lease | None = None

    @classmethod
    def of(cls, lease: Lease, data: dict[str, Any]) -> IssuedCredentials:
        """The credentials just issued as ``lease``."""
        return cls(lease.lease_id, data, lease.lease_duration, lease.renewable, lease.expires_at, lease)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lease_id": self.lease_id,
            "data": self.data,
            "lease_duration": format_duration(self.lease_duration),
            "renewable": self.renewable,
            "expires_at": iso(self.expires_at),
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> IssuedCredentials:
        return cls(
            body["lease_id"],
            dict(body["data"]),
            _seconds(body["lease_duration"]) or 0,
            body["renewable"],
            _at(body["expires_at"]),
        )


@attrs.define
class RenewResult:
    """What renewing returns: the lease's new ``expires_at`` and ``lease_duration`` (seconds from the renewal),
    ``max_expires_at``, whether the maximum ``capped`` it, and ``data`` where the engine re-issued the
    credential. ``lease`` is the whole record embedded, None from the client (as for ``IssuedCredentials``)."""

    lease_id: str
    lease_duration: int
    renewable: bool
    expires_at: float
    max_expires_at: float
    capped: bool
    data: dict[str, Any] = attrs.field(factory=dict, repr=False)
    lease: Lease | None = None

    @classmethod
    def of(cls, lease: Lease, capped: bool, remaining: int, data: dict[str, Any]) -> RenewResult:
        """``lease`` renewed: ``remaining`` seconds from the renewal until its new expiry."""
        return cls(
            lease.lease_id, remaining, lease.renewable, lease.expires_at, lease.max_expires_at, capped, data, lease
        )

    def to_dict(self) -> dict[str, Any]:
        body = {
            "lease_id": self.lease_id,
            "lease_duration": format_duration(self.lease_duration),
            "renewable": self.renewable,
            "expires_at": iso(self.expires_at),
            "max_expires_at": iso(self.max_expires_at),
            "capped": self.capped,
        }
        if self.data:
            body["data"] = self.data
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RenewResult:
        return cls(
            body["lease_id"],
            _seconds(body["lease_duration"]) or 0,
            body["renewable"],
            _at(body["expires_at"]),
            _at(body["max_expires_at"]),
            body["capped"],
            dict(body.get("data") or {}),
        )


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> SecretVersion:
        """A version as answered; ``data`` is None where the answer leaves the value out (put, rotate, versions)."""
        return cls(
            path=body["path"],
            version=body["version"],
            data=body.get("data"),
            secret_type=body.get("secret_type", "json"),
            created_at=_at(body.get("created_at")),
            created_by=body.get("created_by", ""),
            reason=body.get("reason"),
            retired_at=epoch(body.get("retired_at")),
        )


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Token:
        """A token as listed: by accessor, never the token (``token_hash`` is empty)."""
        return cls(
            accessor=body["accessor"],
            identity=body["identity"],
            token_hash="",
            created_at=_at(body.get("created_at")),
            expires_at=epoch(body.get("expires_at")),
            revoked=body.get("revoked", False),
            display_name=body.get("display_name", ""),
            parent=body.get("parent"),
            ceilings=list(body.get("ceilings") or []),
        )


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

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> AuditEvent:
        return cls(
            time=_at(body["time"]),
            identity=body["identity"],
            operation=body["operation"],
            path=body["path"],
            outcome=body["outcome"],
            lease_id=body.get("lease_id"),
            details=dict(body.get("details") or {}),
        )


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

    @property
    def href(self) -> str:
        """Where the REST API shows the job."""
        return f"/v1/sys/jobs/{self.job_id}"

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
            "href": self.href,
        }

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Job:
        """A job as answered: its ``ceilings`` and claim are the server's business and stay empty."""
        return cls(
            job_id=body["job_id"],
            operation=body["operation"],
            params=dict(body.get("request") or {}),
            identity=body["created_by"],
            state=body["state"],
            done=body["progress"]["done"],
            total=body["progress"]["total"],
            result=body.get("result"),
            error=body.get("error"),
            created_at=_at(body.get("created_at")),
            updated_at=_at(body.get("updated_at")),
            finished_at=epoch(body.get("finished_at")),
        )
