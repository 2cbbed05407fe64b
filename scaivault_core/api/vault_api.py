"""``VaultAPI``: the operations as plain-data methods over a ``Vault`` or a ``Session``.

Every front end calls these: the REST routes bind a request to them, the embedded CLI calls them,
and the HTTP client's JSON view (``ScaiVaultClient(...).json``) has the same method names and
signatures, made from the operation table, so a command or a test is written once and runs
in-process or against a server alike (the client itself answers ``Vault``'s models instead). Every
method returns exactly the JSON body its REST route answers (``None`` where the route answers
``204 No Content``; text for ``metrics``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from ..durations import format_duration, parse_duration
from ..errors import InvalidRequest, NotFound
from ..health import NotReady
from ..models import LeaseState
from .paging import DEFAULT_PAGE, MAX_PAGE, check_limit, follow, page

LEASE_STATES = (
    LeaseState.INTENT,
    LeaseState.ACTIVE,
    LeaseState.REVOKING,
    LeaseState.REVOKED,
    LeaseState.ROLLED_BACK,
    LeaseState.IRREVOCABLE,
    LeaseState.POOLED,
    "live",
)


@functools.cache  # read from the installed metadata once: liveness probes ask for it all day (0.3 ms a read)
def version() -> str:
    try:
        return metadata.version("scaivault")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


class VaultAPI:
    """Plain-data operations, each acting as the identity of ``ops`` (a ``Vault`` acts as the admin)."""

    def __init__(self, ops: Any, vault: Any = None) -> None:
        self.ops = ops
        self.vault = vault if vault is not None else ops  # for what belongs to the installation, not an identity

    def __repr__(self) -> str:
        return f"<VaultAPI {self.ops.identity}>"

    def iterate(self, name: str, *args: Any, **arguments: Any) -> Iterator[Any]:
        """Every item of the list operation ``name``, following ``next`` page by page:
        ``for lease in api.iterate("list_leases", engine="pg")`` (the client has the same)."""
        from .table import paged_list  # the table is made from this class's methods, so it comes after it

        op = paged_list(name)
        method = getattr(self, name)
        return follow(lambda **after: method(*args, **{**arguments, **after}), op.items)

    # -- system ---------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Liveness: no token needed."""
        return {"status": "ok", "version": version()}

    def ready(self) -> dict[str, Any]:
        """Readiness: the store, the expiry worker and the plugins; no token needed. ``503 unavailable`` names
        the failing parts."""
        checks = self.vault.readiness()
        if any(state != "ok" for state in checks.values()):
            raise NotReady(checks)
        return {"status": "ready", "checks": checks}

    def plugins(self, after: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """Installed engine plugins, their versions and engine types, and any that failed to load, by name."""
        return plugin_list(self.vault.plugins(), after, limit)

    def metrics(self) -> str:
        """Prometheus metrics, as text (not JSON): needs ``read`` on ``sys/metrics``."""
        return self.ops.metrics_text()

    def audit_log(
        self,
        identity: str | None = None,
        operation: str | None = None,
        path_prefix: str | None = None,
        outcome: str | None = None,
        lease_id: str | None = None,
        since: Any = None,
        until: Any = None,
        after: int | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> dict[str, Any]:
        """One page of audit entries, oldest first; ``next`` is the ``after`` of the following page, or null."""
        check_limit(limit)
        if after is not None and (not isinstance(after, int) or isinstance(after, bool) or after < 0):
            raise InvalidRequest("after must be an entry id (a whole number).", field="after")
        entries = self.ops.audit_log(
            identity=identity,
            operation=operation,
            path_prefix=path_prefix,
            outcome=outcome,
            lease_id=lease_id,
            since=since,
            until=until,
            after=after or 0,
            limit=limit,
        )
        return {
            "entries": [{"id": entry_id, **event.to_dict()} for entry_id, event in entries],
            "next": entries[-1][0] if len(entries) == limit else None,
        }

    # -- tokens ---------------------------------------------------------------------------------

    def create_token(self, identity: str, ttl: Any = None, display_name: str = "") -> dict[str, Any]:
        """A bearer token for ``identity`` (admin only); the token itself is shown only here."""
        return self.ops.create_token(identity, ttl=ttl, display_name=display_name)

    def list_tokens(
        self, identity: str | None = None, after: str | None = None, limit: int = DEFAULT_PAGE
    ) -> dict[str, Any]:
        """One page of tokens (never the tokens themselves) by accessor; ``next`` as for every list."""
        tokens, after = page(self.ops.list_tokens(identity), lambda t: t.accessor, after, limit)
        return {"tokens": [t.to_dict() for t in tokens], "next": after}

    def explain(self, identity: str, permission: str, path: str) -> dict[str, Any]:
        """May ``identity`` do ``permission`` on ``path``, and by which rule of which policy? Your own access
        always; another identity's needs ``read`` on every policy (``sys/policies/*``)."""
        return self.ops.explain(identity, permission, path).to_dict()

    def token_self(self) -> dict[str, Any]:
        """Who the caller is: its identity, ceilings, and its token's accessor and expires_at."""
        return self.ops.token_self()

    def revoke_token(self, accessor: str) -> None:
        self.ops.revoke_token(accessor)

    # -- secrets --------------------------------------------------------------------------------

    def put_secret(self, path: str, data: Any, secret_type: str = "json") -> dict[str, Any]:
        """Write a new version; the answer describes the version without echoing the data."""
        return self.ops.put_secret(path, data, secret_type).to_dict(include_data=False)

    def get_secret(self, path: str, version: int | None = None) -> dict[str, Any]:
        return self.ops.get_secret(path, version).to_dict()

    def delete_secret(self, path: str) -> None:
        self.ops.delete_secret(path)

    def list_secret_versions(self, path: str, after: int | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of the versions of the secret at ``path``, oldest first, without values."""
        versions = self.ops.list_secret_versions(path)
        if not versions:
            raise NotFound(f"No secret at {path!r}.", path=path)
        versions, after = page(versions, lambda v: v.version, after, limit)
        return {"path": path, "versions": [v.to_dict(include_data=False) for v in versions], "next": after}

    def set_rotation_period(self, path: str, period: Any, grace_period: Any = None) -> dict[str, Any]:
        """Rotate ``path`` every ``period`` (e.g. ``"30d"``), each previous version kept for ``grace_period``;
        ``None`` or ``"0"`` stops scheduled rotation."""
        seconds = parse_duration(period, "period")
        grace = parse_duration(grace_period, "grace_period") or 0
        self.ops.set_rotation_period(path, seconds, grace)
        return {
            "path": path,
            "period": format_duration(seconds) if seconds else None,
            "grace_period": format_duration(grace) if seconds else None,
        }

    def rotate_secret(self, path: str, reason: str | None = None, grace_period: Any = None) -> dict[str, Any]:
        """Rotate the secret at ``path`` (an engine's root credential) where the core supports it."""
        rotate = getattr(self.ops, "rotate_secret", None)
        if rotate is None:
            raise InvalidRequest("This vault cannot rotate secrets yet.", path=path)
        result = rotate(path, reason=reason, grace_period=grace_period)
        return _rotation_body(result)

    # -- policies -------------------------------------------------------------------------------

    def create_policy(self, name: str, rules: list[dict[str, Any]], description: str = "") -> dict[str, Any]:
        return self.ops.create_policy(name, rules, description).to_dict()

    def list_policies(self, after: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of policies by name."""
        policies, after = page(self.ops.list_policies(), lambda p: p.name, after, limit)
        return {"policies": [p.to_dict() for p in policies], "next": after}

    def get_policy(self, name: str) -> dict[str, Any]:
        return self.ops.get_policy(name).to_dict()

    def update_policy(self, name: str, rules: list[dict[str, Any]], description: str = "") -> dict[str, Any]:
        return self.ops.update_policy(name, rules, description).to_dict()

    def delete_policy(self, name: str) -> None:
        self.ops.delete_policy(name)

    def bind_policy(self, name: str, identity: str) -> dict[str, Any]:
        self.ops.bind_policy(name, identity)
        return {"policy": name, "identity": identity}

    def list_bindings(self, name: str, after: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of the identities policy ``name`` is bound to, in order."""
        identities, after = page(self.ops.list_bindings(name), str, after, limit)
        return {"policy": name, "identities": identities, "next": after}

    def unbind_policy(self, name: str, identity: str) -> None:
        self.ops.unbind_policy(name, identity)

    # -- engines and roles ----------------------------------------------------------------------

    def create_engine(
        self,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any = None,
        max_ttl: Any = None,
        max_leases: int | None = None,
        max_leases_per_identity: int | None = None,
    ) -> dict[str, Any]:
        return self.ops.create_engine(
            name, type, config, default_ttl, max_ttl, max_leases, max_leases_per_identity
        ).to_dict()

    def list_engines(self, after: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of engines by name."""
        engines, after = page(self.ops.list_engines(), lambda e: e.name, after, limit)
        return {"engines": [e.to_dict() for e in engines], "next": after}

    def get_engine(self, name: str) -> dict[str, Any]:
        return self.ops.get_engine(name).to_dict()

    def update_engine(
        self,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any = None,
        max_ttl: Any = None,
        max_leases: int | None = None,
        max_leases_per_identity: int | None = None,
    ) -> dict[str, Any]:
        return self.ops.update_engine(
            name, type, config, default_ttl, max_ttl, max_leases, max_leases_per_identity
        ).to_dict()

    def delete_engine(self, name: str) -> None:
        self.ops.delete_engine(name)

    def create_role(self, engine: str, name: str, /, **fields: Any) -> dict[str, Any]:
        """Define a role: ``default_ttl``, ``max_ttl``, ``max_leases``, ``max_leases_per_identity`` and the
        engine's own role fields."""
        return self.ops.create_role(engine, name, **_free(fields, "role", "engine", "name")).to_dict()

    def list_roles(self, engine: str, after: str | None = None, limit: int = DEFAULT_PAGE) -> dict[str, Any]:
        """One page of the roles of ``engine`` by name."""
        roles, after = page(self.ops.list_roles(engine), lambda r: r.name, after, limit)
        return {"roles": [r.to_dict() for r in roles], "next": after}

    def get_role(self, engine: str, name: str) -> dict[str, Any]:
        return self.ops.get_role(engine, name).to_dict()

    def update_role(self, engine: str, name: str, /, **fields: Any) -> dict[str, Any]:
        return self.ops.update_role(engine, name, **_free(fields, "role", "engine", "name")).to_dict()

    def delete_role(self, engine: str, name: str) -> None:
        self.ops.delete_role(engine, name)

    # -- leases ---------------------------------------------------------------------------------

    def issue(
        self, engine: str, role: str, /, ttl: Any = None, metadata: dict[str, Any] | None = None, **params: Any
    ) -> dict[str, Any]:
        """Generate credentials: the guide's ``lease_id``, ``data``, ``lease_duration``, ``renewable``,
        ``expires_at``."""
        return self.ops.issue(
            engine, role, ttl=ttl, metadata=metadata, **_free(params, "request", "engine", "role")
        ).to_dict()

    def renew(self, lease_id: str, increment: Any = None) -> dict[str, Any]:
        return self.ops.renew(lease_id, increment).to_dict()

    def revoke(self, lease_id: str) -> None:
        self.ops.revoke(lease_id)

    def revoke_prefix(
        self, prefix: str, engine: str | None = None, role: str | None = None, sync: bool = True
    ) -> dict[str, Any]:
        """Revoke every live lease whose id starts with ``prefix`` (of ``engine``, of its ``role``); ``sync=False``
        answers at once with a job (202) whose ``result`` is, when done, what the synchronous call answers."""
        if sync:
            return self.ops.revoke_prefix(prefix, engine, role)
        return accepted(self.ops.revoke_prefix_job(prefix, engine, role))

    def lookup(self, lease_id: str) -> dict[str, Any]:
        return self.ops.lookup(lease_id).to_dict()

    def forget_lease(self, lease_id: str) -> dict[str, Any]:
        """Stop tracking an irrevocable lease whose credential is gone by other means; answers the lease."""
        return self.ops.forget_lease(lease_id).to_dict()

    def reconcile(self, engine: str, revoke: bool = False, sync: bool = True) -> dict[str, Any]:
        """Users in the engine's target that no lease accounts for (``orphans``); ``revoke=True`` removes them.
        ``sync=False`` answers at once with a job (202), as ``revoke_prefix``."""
        if not isinstance(revoke, bool):
            raise InvalidRequest("revoke must be true or false.", field="revoke")
        if sync:
            return self.ops.reconcile(engine, revoke=revoke)
        return accepted(self.ops.reconcile_job(engine, revoke=revoke))

    def get_job(self, job_id: str) -> dict[str, Any]:
        """A job's state, progress, and its outcome (``result``) or ``error``: its creator's, or whoever holds
        the grant its operation needed."""
        return self.ops.get_job(job_id).to_dict()

    def list_leases(
        self,
        engine: str | None = None,
        role: str | None = None,
        identity: str | None = None,
        state: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> dict[str, Any]:
        """One page of leases ordered by id; ``next`` is the ``after`` of the following page, or null."""
        if state is not None and state not in LEASE_STATES:
            raise InvalidRequest(f"state must be one of {', '.join(LEASE_STATES)}.", field="state")
        check_limit(limit)
        leases = self.ops.list_leases(
            engine=engine, role=role, identity=identity, state=state, prefix=prefix, after=after, limit=limit
        )
        return {
            "leases": [lease.to_dict() for lease in leases],
            "next": leases[-1].lease_id if len(leases) == limit else None,
        }


class Accepted(dict):
    """An answer of ``202 Accepted``: a job's body; the REST route adds ``Location: <href>``."""


def accepted(job: Any) -> Accepted:
    return Accepted(job.to_dict())


def plugin_list(infos: list[Any], after: str | None = None, limit: int = MAX_PAGE) -> dict[str, Any]:
    """``GET /v1/sys/plugins``'s body for ``plugins.plugin_infos(...)`` (the CLI lists them without a store)."""
    infos, after = page(infos, lambda p: p.name, after, limit)
    return {
        "plugins": [
            {"name": p.name, "version": p.version, "engines": list(p.engines), "error": p.error} for p in infos
        ],
        "next": after,
    }


def _free(fields: dict[str, Any], what: str, *reserved: str) -> dict[str, Any]:
    """Engine-specific fields, refusing names the core's own parameters use (no engine defines those)."""
    taken = sorted(set(fields) & {"self", *reserved})
    if taken:
        raise InvalidRequest(f"{what} has no field {taken[0]!r}.", field=taken[0])
    return fields


def _rotation_body(result: Any) -> dict[str, Any]:
    """Whatever the core's rotation returns, as JSON without any secret value."""
    if hasattr(result, "to_dict"):
        try:
            body = result.to_dict(include_data=False)
        except TypeError:
            body = result.to_dict()
    elif isinstance(result, dict):
        body = dict(result)
    else:
        body = {}
    body.pop("data", None)
    return body
