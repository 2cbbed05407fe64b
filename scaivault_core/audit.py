"""The audit log: one structured event per operation on a secret or lease, values only as keyed hashes.

Every event is signed onto a chain (``audit_chain``), so an edited, deleted or reordered entry is
detected by ``verify``. An event recorded while a request is handled carries its id in
``details.request_id`` (signed with the rest), the id its log lines carry too.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from .audit_chain import AuditChain, Report, verify
from .crypto import Keyring
from .durations import parse_duration
from .errors import InvalidRequest
from .logs import request_id
from .models import AuditEvent
from .observers import tell
from .store import Store

log = logging.getLogger("scaivault.audit")

DENIED = "access.denied"


class Auditor:
    def __init__(self, store: Store, keyring: Keyring, clock: Any) -> None:
        self._store, self._keyring, self._clock = store, keyring, clock
        self.chain = AuditChain(keyring)

    def record(
        self,
        identity: str,
        operation: str,
        path: str,
        outcome: str = "ok",
        *,
        lease_id: str | None = None,
        secrets: dict[str, Any] | None = None,
        **details: Any,
    ) -> None:
        """Append one event. ``secrets`` are stored as keyed hashes, never in clear."""
        if secrets:
            details["hashes"] = {k: self._keyring.mac(v) for k, v in secrets.items()}
        details.setdefault("request_id", request_id())
        event = AuditEvent(
            self._clock.time(),
            identity,
            operation,
            path,
            outcome,
            lease_id,
            {k: v for k, v in details.items() if v is not None},
        )
        self._store.append_audit(event, self.chain)
        tell("audit", event)
        if log.isEnabledFor(logging.INFO):  # building the extra costs more than the store write when unlogged
            log.info(
                "audit %s %s %s %s",
                operation,
                path,
                outcome,
                lease_id or "",
                extra={"audit": {k: v for k, v in event.to_dict().items() if k != "details"}},
            )

    def denied(self, identity: str, path: str, permission: str) -> None:
        """A refusal (the ``Authorizer``'s ``on_denied``): who was refused which permission where."""
        outcome = "unauthenticated" if permission == "authenticate" else "permission_denied"
        self.record(str(identity), DENIED, path, outcome, permission=permission)

    def verify(self) -> Report:
        """Check the whole chain with this vault's keyring."""
        return verify(self._store, self._keyring)


def audit_time(value: Any, field: str, now: float) -> float | None:
    """``since``/``until`` as epoch seconds: a number, a datetime, an ISO 8601 time, or a duration before now."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and ("-" in value or "T" in value):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidRequest(
                f"{field} must be an ISO 8601 time (2026-01-31T12:00:00Z) or a duration before now (30m, 2h).",
                field=field,
            ) from None
        return audit_time(moment, field, now)
    try:
        return now - (parse_duration(value, field) or 0)
    except InvalidRequest:
        raise InvalidRequest(
            f"{field} must be an ISO 8601 time (2026-01-31T12:00:00Z) or a duration before now (30m, 2h).", field=field
        ) from None
