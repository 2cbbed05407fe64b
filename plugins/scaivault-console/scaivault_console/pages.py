"""The console's pages. Each is a function of a ``Page`` that calls the vault as the signed-in identity
(``page.session``) and returns a ``View``; what it may see and do is what the vault allows that
identity, call by call. Actions (POST) answer with a redirect back and a message saying what happened."""

from __future__ import annotations

import re
from typing import Any

from scaivault_core import InvalidRequest, Lease, LeaseNotFound, PermissionDenied, ScaiVaultError

from .console import Page, View, redirect, when

PAGE_SIZE = 50
LEASE_STATES = ("live", "active", "revoking", "irrevocable", "intent", "revoked", "rolled_back", "any")
STUCK_STATES = ("irrevocable", "revoking")
PERMISSIONS = ("read", "create", "update", "delete", "list", "rotate", "revoke")
AUDIT_FILTERS = ("identity", "operation", "path_prefix", "outcome", "lease_id", "since", "until")


def overview(page: Page) -> View:
    """Who you are and what needs attention, as far as you may see."""
    everyone = may(page, "list", "dynamic/leases")
    counts = {
        state: len(page.session.list_leases(state=state, limit=1000)) if everyone else None for state in STUCK_STATES
    }
    try:
        mine: list[Lease] | None = page.session.list_leases(identity=page.identity, state="live", limit=1000)
    except PermissionDenied:  # a token bounded by a minter who may not list leases
        mine = None
    ceilings = list(getattr(page.session.identity, "ceilings", ()))
    return View("overview.html", {"counts": counts, "mine": mine, "ceilings": ceilings, "now": page.now})


def may(page: Page, permission: str, path: str) -> bool:
    """Does a policy let the signed-in identity (with its token's ceilings) do this? Asked with explain, so
    that a page choosing what to show adds no refusal to the audit log; the calls themselves stay checked."""
    return page.session.explain(page.identity, permission, path).allowed


# -- engines and roles --------------------------------------------------------------------------------


def engines(page: Page) -> View:
    records = page.session.list_engines()
    roles = {record.name: _roles(page, record.name) for record in records}
    return View("engines.html", {"engines": records, "roles": roles})


def engine(page: Page) -> View:
    name = page.request.path_params["engine"]
    record = page.session.get_engine(name)
    return View("engine.html", {"engine": record, "roles": _roles(page, name)})


def _roles(page: Page, engine_name: str) -> list[Any] | None:
    """The engine's roles, or None if they are not the caller's to list."""
    if not may(page, "list", f"dynamic/engines/{engine_name}/roles"):
        return None
    return page.session.list_roles(engine_name)


# -- leases -------------------------------------------------------------------------------------------


def leases(page: Page) -> View:
    """Leases by engine, role, identity and state, a page at a time."""
    filters = {name: page.query(name) or None for name in ("engine", "role", "identity")}
    state = page.query("state", "live")
    after = page.query("after") or None
    found, note, error = [], None, None
    try:
        if state not in LEASE_STATES:
            raise InvalidRequest(f"state must be one of {', '.join(LEASE_STATES)}.", field="state")
        found, note = _list_leases(page, filters, state, after)
    except ScaiVaultError as err:
        error = err
    return View(
        "leases.html",
        {
            "leases": found,
            "filters": filters,
            "state": state,
            "states": LEASE_STATES,
            "note": note,
            "error": error,
            "next_after": _next(found, "lease_id"),
            "now": page.now,
        },
    )


def attention(page: Page) -> View:
    """Leases whose revocation failed: still being retried (revoking) or out of attempts (irrevocable)."""
    engine_name = page.query("engine") or None
    groups = {}
    note = None
    for state in STUCK_STATES:
        groups[state], note = _list_leases(page, {"engine": engine_name}, state, None)
    return View("attention.html", {"groups": groups, "note": note, "engine": engine_name, "now": page.now})


def lease(page: Page) -> View:
    found = page.session.lookup(page.request.path_params["lease_id"])
    return View("lease.html", {"lease": found, "now": page.now})


def _list_leases(page: Page, filters: dict[str, Any], state: str, after: str | None) -> tuple[list[Lease], str | None]:
    """The leases the filters ask for; a caller who may not list everyone's sees their own, and is told so."""
    note = None
    scope = f"dynamic/engines/{filters['engine']}" if filters.get("engine") else "dynamic/leases"
    if not filters.get("identity") and not may(page, "list", scope):
        filters["identity"] = page.identity  # the issuer of a lease may always list it
        note = f"Showing your own leases only: listing everyone's needs 'list' on {scope}."
    query = {**filters, "state": None if state == "any" else state, "after": after, "limit": PAGE_SIZE}
    return page.session.list_leases(**query), note


def renew(page: Page) -> Any:
    lease_id = page.request.path_params["lease_id"]
    increment = page.form.get("increment", "").strip() or None

    def act() -> str:
        result = page.session.renew(lease_id, increment)
        capped = " (capped at its maximum TTL)" if result.capped else ""
        return f"Renewed {lease_id}: it now expires at {when(result.expires_at)}{capped}."

    return _lease_action(page, lease_id, "renew", act)


def revoke(page: Page) -> Any:
    lease_id = page.request.path_params["lease_id"]

    def act() -> str:
        done = page.session.revoke(lease_id)
        return f"Revoked {lease_id}: {done.subject or 'its credential'} is gone from engine {done.engine}."

    return _lease_action(page, lease_id, "revoke", act)


def forget(page: Page) -> Any:
    """Stop retrying an irrevocable lease: the credential may remain in the target, so the form must say so."""
    lease_id = page.request.path_params["lease_id"]

    def act() -> str:
        if page.form.get("understood") != "yes":
            raise InvalidRequest(
                "Tick the box saying you understand the credential may remain in the target, then forget the lease."
            )
        done = page.session.forget_lease(lease_id)
        return (
            f"Forgot {lease_id}: it is no longer retried. Remove {done.subject or 'its credential'} "
            f"from engine {done.engine}'s target by hand if it is still there."
        )

    return _lease_action(page, lease_id, "forget", act)


def _lease_action(page: Page, lease_id: str, verb: str, act: Any) -> Any:
    try:
        page.flash("ok", act())
    except LeaseNotFound:
        # The vault answers a lease the caller may not act on exactly as one that does not exist.
        page.flash(
            "denied",
            f"Denied: {lease_id} is not a lease {page.identity} may {verb} (the vault answers "
            "lease_not_found for those, whether or not they exist).",
        )
    except PermissionDenied as err:
        page.flash("denied", f"Denied: {err.message}")
    except ScaiVaultError as err:
        page.flash("error", err.message)
    return redirect(page.back(f"/ui/leases/{lease_id}"))


# -- audit ---------------------------------------------------------------------------------------------


def audit(page: Page) -> View:
    """The audit log, oldest first, a page at a time (``after`` the last id seen)."""
    first_visit = not page.request.query_params
    filters = {name: page.query(name) or None for name in AUDIT_FILTERS}
    if first_visit:
        filters["since"] = "1h"
    entries: list[Any] = []
    error = None
    try:
        after = page.query("after", "0")
        if not re.fullmatch(r"[0-9]{1,12}", after):
            raise InvalidRequest("after must be an entry id.", field="after")
        entries = page.session.audit_log(**filters, after=int(after), limit=PAGE_SIZE)
    except PermissionDenied:
        raise
    except ScaiVaultError as err:
        error = err
    next_after = entries[-1][0] if len(entries) == PAGE_SIZE else None
    return View("audit.html", {"entries": entries, "filters": filters, "error": error, "next_after": next_after})


# -- policy explain ---------------------------------------------------------------------------------------


def explain(page: Page) -> View:
    """ "Can sa:x do read on dynamic/engines/pg/roles/ro?", answered rule by rule."""
    question = {
        "identity": page.query("identity") or page.identity,
        "permission": page.query("permission", "read"),
        "path": page.query("path"),
    }
    answer, error = None, None
    if question["path"]:
        try:
            answer = page.session.explain(question["identity"], question["permission"], question["path"])
        except ScaiVaultError as err:
            error = err
    return View("explain.html", {"question": question, "answer": answer, "error": error, "permissions": PERMISSIONS})


def _next(items: list[Any], attribute: str) -> str | None:
    return getattr(items[-1], attribute) if len(items) == PAGE_SIZE else None
