"""The audit log: one structured event per operation on a secret or lease, values only as keyed hashes."""

from __future__ import annotations

import logging
from typing import Any

from .crypto import Keyring
from .models import AuditEvent
from .store import Store

log = logging.getLogger("scaivault.audit")


class Auditor:
    def __init__(self, store: Store, keyring: Keyring, clock: Any) -> None:
        self._store, self._keyring, self._clock = store, keyring, clock

    def record(self, identity: str, operation: str, path: str, outcome: str = "ok", *,
               lease_id: str | None = None, secrets: dict[str, Any] | None = None, **details: Any) -> None:
        """Append one event. ``secrets`` are stored as keyed hashes, never in clear."""
        if secrets:
            details["hashes"] = {k: self._keyring.mac(v) for k, v in secrets.items()}
        event = AuditEvent(self._clock.time(), identity, operation, path, outcome, lease_id,
                           {k: v for k, v in details.items() if v is not None})
        self._store.append_audit(event)
        if log.isEnabledFor(logging.INFO):  # building the extra costs more than the store write when unlogged
            log.info("audit %s %s %s %s", operation, path, outcome, lease_id or "",
                     extra={"audit": {k: v for k, v in event.to_dict().items() if k != "details"}})
