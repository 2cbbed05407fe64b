"""Reconcile: users in a target that look like ours but belong to no lease (left by an older tool or a bug)."""

from __future__ import annotations

from typing import Any

from .audit import Auditor
from .auth import Authorizer
from .engines import EngineManager
from .errors import InvalidRequest, ScaiVaultError
from .models import LeaseState
from .policies import engine_path
from .redaction import call_engine
from .store import Store

_KNOWN = (LeaseState.INTENT, LeaseState.ACTIVE, LeaseState.REVOKING, LeaseState.IRREVOCABLE)


def reconcile(store: Store, engines: EngineManager, authorizer: Authorizer, auditor: Auditor, identity: str,
              engine_name: str, *, revoke: bool = False) -> dict[str, Any]:
    """Orphaned users of ``engine_name``; with ``revoke``, remove them too. Needs ``revoke`` on the engine."""
    authorizer.require(identity, engine_path(engine_name), "revoke")
    engine = engines.live(engine_name).engine
    subjects = call_engine(engine.list_subjects)
    if subjects is None:
        raise InvalidRequest(f"The {engine.plugin} engine cannot list its users, so it cannot be reconciled.")
    known: set[str] = set()
    after = None
    while True:
        page = store.list_leases(engine=engine_name, states=_KNOWN, after=after, limit=1000)
        known.update(lease.subject for lease in page)
        if len(page) < 1000:
            break
        after = page[-1].lease_id
    orphans = sorted(set(subjects) - known)
    revoked, failed = [], []
    if revoke:
        for subject in orphans:
            try:
                call_engine(engine.revoke_subject, subject)
                revoked.append(subject)
            except ScaiVaultError as exc:
                failed.append({"subject": subject, "code": exc.code, "message": exc.message})
    auditor.record(identity, "engine.reconcile", engine_path(engine_name), orphans=len(orphans),
                   revoked=len(revoked), failed=len(failed))
    return {"engine": engine_name, "orphans": orphans, "revoked": revoked, "failed": failed}
