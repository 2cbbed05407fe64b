"""Reconcile: users an engine made in its target that no live lease accounts for (a revocation lost
with a restored store, a forgotten irrevocable lease, a bug).

What a target lists is data, and a target may be shared with other engines and other people. So a
listed name is touched only if it has the shape the vault generates (``is_generated_username``), is
no live lease of any engine, and is this engine's: marked so in the target (``marks_subjects``) or
known to the store as a lease of this engine. Everything else is reported as skipped and left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .audit import Auditor
from .auth import Authorizer
from .engine_calls import call_engine
from .engine_manager import EngineManager
from .errors import InvalidRequest, ScaiVaultError
from .models import LeaseState
from .policies import engine_path
from .store import Store
from .templates import is_generated_username

_SHOWN = 200  # characters of a skipped name in the report: a target may hold names of any length

# Why a listed user was left alone (the ``reason`` of each ``skipped`` entry).
NOT_GENERATED = "not_generated"  # not a name the vault generates: never rendered into a statement
LIVE_ELSEWHERE = "live_lease_of_another_engine"
NOT_THIS_ENGINES = "not_this_engines"  # the target cannot mark users, and the store knows no such lease here


def check_reconcile(engines: EngineManager, authorizer: Authorizer, identity: str, engine_name: str) -> None:
    """Refuse a reconcile the caller may not make, or of an engine that does not exist (a job checks this first)."""
    authorizer.require(identity, engine_path(engine_name), "revoke")
    engines.record(engine_name)


def reconcile(
    store: Store,
    engines: EngineManager,
    authorizer: Authorizer,
    auditor: Auditor,
    identity: str,
    engine_name: str,
    *,
    revoke: bool = False,
    progress: Callable[[int, int, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Orphaned users of ``engine_name``; with ``revoke``, remove them too. Needs ``revoke`` on the engine.

    ``progress(done, total, outcome_so_far)`` hears after each orphan removed (a job records it).
    """
    authorizer.require(identity, engine_path(engine_name), "revoke")
    engine = engines.live(engine_name).engine
    listed = call_engine(engine.list_subjects)
    if listed is None:
        raise InvalidRequest(f"The {engine.plugin} engine cannot list its users, so it cannot be reconciled.")
    limit = type(engine).username_max_length
    names = sorted({name for name in listed if is_generated_username(name, limit)})
    skipped = [
        {"subject": _shown(name), "reason": NOT_GENERATED} for name in listed if not is_generated_username(name, limit)
    ]
    leases = store.leases_by_subject(names)
    live_here = {subject for subject, owner, state in leases if state in LeaseState.UNFINISHED and owner == engine_name}
    live_elsewhere = {
        subject for subject, owner, state in leases if state in LeaseState.UNFINISHED and owner != engine_name
    }
    known_here = {subject for subject, owner, _ in leases if owner == engine_name}
    orphans = []
    for name in names:
        if name in live_elsewhere:
            skipped.append({"subject": name, "reason": LIVE_ELSEWHERE})
        elif name in live_here:
            continue  # in use
        elif type(engine).marks_subjects or name in known_here:
            orphans.append(name)
        else:
            skipped.append({"subject": name, "reason": NOT_THIS_ENGINES})
    revoked: list[str] = []
    failed: list[dict[str, Any]] = []
    total = len(orphans) if revoke else 0
    if progress is not None:
        progress(0, total, {"revoked": revoked, "failed": failed})
    for subject in orphans if revoke else ():
        try:
            call_engine(engine.revoke_subject, subject)
            revoked.append(subject)
        except ScaiVaultError as exc:
            failed.append({"subject": subject, "code": exc.code, "message": exc.message})
        if progress is not None:
            progress(len(revoked) + len(failed), total, {"revoked": revoked, "failed": failed})
    auditor.record(
        identity,
        "engine.reconcile",
        engine_path(engine_name),
        orphans=len(orphans),
        revoked=len(revoked),
        failed=len(failed),
        skipped=len(skipped),
    )
    return {
        "engine": engine_name,
        "orphans": orphans,
        "revoked": revoked,
        "failed": failed,
        "skipped": sorted(skipped, key=lambda entry: entry["subject"]),
    }


def _shown(name: Any) -> str:
    """A listed name as the report shows it: text, cut to a readable length (a plugin may return anything)."""
    text = name if isinstance(name, str) else repr(name)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "..."
