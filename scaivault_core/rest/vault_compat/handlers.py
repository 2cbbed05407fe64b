"""The compatible operations, each calling the core as its native twin does (same checks, same audit).

Each handler takes a ``Call`` and returns the ``envelope`` to answer with (``None`` for 204).
Leases are named by Vault-shaped ids (``lease_ids``); one that does not parse, that names a path
its lease was not issued for, or that the caller may not act on answers exactly as a missing one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import attrs
from starlette.responses import Response

from ...api.vault_api import version
from ...clock import iso
from ...durations import format_duration
from ...errors import EngineNotFound, LeaseNotFound, PermissionDenied
from ...models import LeaseState
from . import engine_data, lease_ids
from .envelope import VaultError, answer, envelope


@attrs.frozen
class Call:
    """One compatible request: the caller's session (``None`` where no token is needed) and what it sent."""

    session: Any
    vault: Any
    token: str | None
    path: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


# Vault's words for a lease it does not have, per operation (the same for one the caller may not touch).
NOT_FOUND = {"lookup": "invalid lease", "renew": "lease not found", "revoke": "lease not found"}
GONE = (LeaseState.REVOKED, LeaseState.ROLLED_BACK)  # Vault forgets revoked leases; so do these paths
PAGE = 1000


# -- credentials --------------------------------------------------------------------------------


def issue(verb: str) -> Callable[[Call], dict[str, Any]]:
    """``GET``/``POST /v1/{engine}/{verb}/{role}``: the native ``issueCredentials``, in Vault's envelope."""

    def handler(call: Call) -> dict[str, Any]:
        engine, role = call.path["engine"], call.path["role"]
        params = engine_data.request_fields({**call.query, **call.body})
        ttl, metadata = params.pop("ttl", None), params.pop("metadata", None)
        reserved = sorted(set(params) & {"engine", "role", "request", "self"})  # the core's own parameters
        if reserved:
            raise VaultError(400, f"unknown field: {reserved[0]}")
        issued = call.session.issue(engine, role, ttl=ttl, metadata=metadata, **params)
        return envelope(
            engine_data.vault_data(lease_ids.kind(issued.lease_id), issued.data),
            lease_id=lease_ids.vault_lease_id(engine, verb, role, issued.lease_id),
            renewable=issued.renewable,
            lease_duration=issued.lease_duration,
        )

    return handler


# -- leases -------------------------------------------------------------------------------------


def _lease(call: Call, operation: str, value: Any) -> tuple[lease_ids.VaultLeaseId, Any]:
    """The lease a Vault-shaped id names, if the caller may see it (the native lookup's checks)."""
    if value is None or value == "":
        raise VaultError(400, "lease_id must be specified")
    parsed = lease_ids.parse(value)
    try:
        # An id that does not parse costs the same checks and audit entry as any missing lease.
        lease = call.session.lookup(parsed.lease_id if parsed else "lease_unparsed")
    except LeaseNotFound:
        raise VaultError(400, NOT_FOUND[operation]) from None
    if parsed is None or not parsed.names(lease) or (operation != "revoke" and lease.state in GONE):
        raise VaultError(400, NOT_FOUND[operation])
    return parsed, lease


@contextmanager
def _missing_as(operation: str) -> Iterator[None]:
    try:
        yield
    except LeaseNotFound:
        raise VaultError(400, NOT_FOUND[operation]) from None


def lookup(call: Call) -> dict[str, Any]:
    """``PUT /v1/sys/leases/lookup``: the native ``getLease``, as Vault shows a lease."""
    parsed, lease = _lease(call, "lookup", call.body.get("lease_id"))
    now = call.vault.clock.time()
    return envelope(
        {
            "id": str(parsed),
            "path": parsed.path,
            "issue_time": iso(lease.issued_at),
            "expire_time": iso(lease.expires_at),
            "last_renewal": None,
            "renewable": lease.renewable,
            "ttl": max(0, int(lease.expires_at - now)),
        }
    )


def renew(call: Call) -> dict[str, Any]:
    """``PUT /v1/sys/leases/renew``: the native ``renewLease``, with the increment counted from now (Vault's rule)."""
    parsed, _ = _lease(call, "renew", call.path.get("lease_id") or call.body.get("lease_id"))
    increment = call.body.get("increment")
    with _missing_as("renew"):  # e.g. a caller who may look the lease up (``list``) but not renew it
        result = call.session.renew(parsed.lease_id, increment, from_now=True)
    warnings = None
    if result.capped:
        left = format_duration(int(result.max_expires_at - call.vault.clock.time()))
        warnings = [
            f'TTL of "{_duration_text(increment)}" exceeded the effective max_ttl of "{left}"; '
            "TTL value is capped accordingly"
        ]
    return envelope(
        engine_data.vault_data(lease_ids.kind(parsed.lease_id), result.data or None),
        lease_id=str(parsed),
        renewable=result.renewable,
        lease_duration=result.lease_duration,
        warnings=warnings,
    )


def revoke(call: Call) -> None:
    """``PUT /v1/sys/leases/revoke[/{lease_id}]``: the native ``revokeLease`` (always at once: ``sync`` is moot)."""
    parsed, _ = _lease(call, "revoke", call.path.get("lease_id") or call.body.get("lease_id"))
    with _missing_as("revoke"):
        call.session.revoke(parsed.lease_id)
    return None


def revoke_prefix(call: Call) -> None:
    """``PUT /v1/sys/leases/revoke-prefix/{prefix}``: the native ``revokePrefix``, needing ``revoke`` on the engine.

    ``{engine}``, ``{engine}/{verb}``, ``{engine}/{verb}/{role}`` and a whole lease id are Vault's prefixes;
    anything else under an engine matches nothing (after the same check).
    """
    parts = call.path["prefix"].strip("/").split("/")
    if not parts[0]:
        raise VaultError(400, "a prefix naming a secrets engine is required")
    engine, role, prefix = parts[0], None, "lease_"
    if len(parts) >= 2 and parts[1] not in lease_ids.VERBS or len(parts) > 4:
        prefix = "lease_/"  # no lease id holds a '/': the permission is checked, nothing is revoked
    elif len(parts) >= 3:
        role = parts[2]
        if len(parts) == 4:
            prefix = parts[3] if parts[3].startswith("lease_") else "lease_/"
    # EngineNotFound is told only to a caller holding 'revoke' on that engine's path.
    with suppress(EngineNotFound):  # Vault: revoking under a prefix that holds nothing succeeds
        call.session.revoke_prefix(prefix, engine=engine, role=role)
    return None


def list_prefix(call: Call) -> dict[str, Any]:
    """``LIST /v1/sys/leases/lookup/{prefix}``: the native ``listLeases``, one path level at a time.

    Needs ``list`` on the engine; without it the caller sees its own leases. An empty level is 404.
    """
    parts = call.path["prefix"].strip("/").split("/")
    if not parts[0] or len(parts) > 3 or (len(parts) >= 2 and parts[1] not in lease_ids.VERBS):
        raise VaultError(404)
    engine = parts[0]
    role = parts[2] if len(parts) == 3 else None
    keys: set[str] = set()
    for lease in _live_leases(call.session, engine, role):
        verb = lease_ids.default_verb(lease.lease_id)
        if len(parts) == 1:
            keys.add(verb + "/")
        elif len(parts) == 2:
            keys.add(lease.role + "/")
        else:
            keys.add(lease.lease_id)
    if not keys:
        raise VaultError(404)
    return envelope({"keys": sorted(keys)})


def _live_leases(session: Any, engine: str, role: str | None) -> Iterator[Any]:
    mine = None
    try:
        page = session.list_leases(engine=engine, role=role, state="live", limit=PAGE)
    except PermissionDenied:  # then the caller's own, which an identity may always list
        mine = str(session.identity)
        page = session.list_leases(engine=engine, role=role, identity=mine, state="live", limit=PAGE)
    while True:
        yield from page
        if len(page) < PAGE:
            return
        page = session.list_leases(
            engine=engine, role=role, identity=mine, state="live", after=page[-1].lease_id, limit=PAGE
        )


# -- tokens and the server ----------------------------------------------------------------------


def lookup_self(call: Call) -> dict[str, Any]:
    """``GET /v1/auth/token/lookup-self``: the caller's own token, as Vault describes one."""
    token = call.session.own_token()
    now = call.vault.clock.time()
    ttl = 0 if token.expires_at is None else max(0, int(token.expires_at - now))
    return envelope(
        {
            "id": call.token,
            "accessor": token.accessor,
            "display_name": token.display_name,
            "creation_time": int(token.created_at),
            "creation_ttl": 0 if token.expires_at is None else int(token.expires_at - token.created_at),
            "issue_time": iso(token.created_at),
            "expire_time": iso(token.expires_at),
            "ttl": ttl,
            "explicit_max_ttl": 0,
            "renewable": token.expires_at is not None,
            "orphan": token.parent is None,
            "path": "auth/token/create",
            "policies": [],
            "meta": {"identity": str(token.identity)},
            "num_uses": 0,
            "entity_id": "",
            "type": "service",
        }
    )


def renew_self(call: Call) -> dict[str, Any]:
    """``PUT /v1/auth/token/renew-self``: the increment from now, within the operator's maximum and the parent."""
    increment = call.body.get("increment")
    token, capped = call.session.renew_token_self(increment)
    remaining = max(0, int(token.expires_at - call.vault.clock.time()))
    warnings = (
        [f'TTL of "{_duration_text(increment)}" exceeded the effective max_ttl; TTL value is capped accordingly']
        if capped
        else None
    )
    return envelope(
        warnings=warnings,
        auth={
            "client_token": call.token,
            "accessor": token.accessor,
            "policies": [],
            "token_policies": [],
            "metadata": {"identity": str(token.identity)},
            "lease_duration": remaining,
            "renewable": True,
            "entity_id": "",
            "token_type": "service",
            "orphan": token.parent is None,
            "mfa_requirement": None,
            "num_uses": 0,
        },
    )


def health(call: Call) -> Response:
    """``GET /v1/sys/health``: initialized, unsealed and active (there is no seal and no standby). A process
    that is not ready (its store, its expiry worker or a plugin failing: ``GET /v1/health/ready``) answers
    ``503``, the status Vault gives when it cannot serve, so load balancers set up for Vault take it out."""
    ready = all(state == "ok" for state in call.vault.readiness().values())
    body = {
        "initialized": True,
        "sealed": False,
        "standby": False,
        "performance_standby": False,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": int(call.vault.clock.time()),
        "version": version(),
        "cluster_name": "scaivault",
        "cluster_id": "",
    }
    return answer(body, 200 if ready else 503)


def _duration_text(value: Any) -> str:
    return format_duration(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)
