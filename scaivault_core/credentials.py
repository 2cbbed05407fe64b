"""Credentials for a block of code: ``dynamic_credentials``, the guide's context-manager pattern, written
once for every front end. ``held`` serves the embedded ``Vault`` (and its sessions) and the sync client;
``held_async`` the ``AsyncVault`` and the asyncio client. Each takes anything with ``issue``, ``renew``
and ``revoke``: the vaults and the clients answer models (``IssuedCredentials``, ``RenewResult``), a
client's ``json`` view or ``VaultAPI`` the JSON bodies, and ``_body`` reads both.

The lease is revoked when the block ends, also when it raises (then the block's exception is the one
the caller sees, and a failed revocation is only logged: the expiry worker revokes the lease at its
expiry). ``renew=True`` renews it in the background at about 2/3 of each TTL until the block ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .durations import parse_duration
from .errors import ScaiVaultError

if TYPE_CHECKING:
    import asyncio

log = logging.getLogger("scaivault.credentials")


def _body(answer: Any) -> dict[str, Any]:
    """A model's JSON form (what the REST API answers), or the JSON body itself."""
    return answer.to_dict() if hasattr(answer, "to_dict") else answer


@contextmanager
def held(
    api: Any,
    engine: str,
    role: str,
    *,
    ttl: Any = None,
    metadata: dict[str, Any] | None = None,
    renew: bool = False,
    **params: Any,
) -> Iterator[DynamicCredentials]:
    """Issue credentials through ``api`` for the block, renew them in a thread if asked, revoke them after."""
    creds = DynamicCredentials.from_issue(_body(api.issue(engine, role, ttl=ttl, metadata=metadata, **params)))
    stop = threading.Event()
    worker = None
    if renew and creds.renewable:
        worker = threading.Thread(
            target=_keep_renewed, args=(api, creds, stop), daemon=True, name=f"scaivault-renew-{creds.lease_id}"
        )
        worker.start()
    try:
        yield creds
    except BaseException:
        _finish(api, creds, stop, worker, quiet=True)
        raise
    _finish(api, creds, stop, worker, quiet=False)


def _finish(
    api: Any, creds: DynamicCredentials, stop: threading.Event, worker: threading.Thread | None, quiet: bool
) -> None:
    stop.set()
    if worker is not None:
        worker.join()
    try:
        api.revoke(creds.lease_id)
    except ScaiVaultError as exc:
        if not quiet:
            raise
        log.warning("revoking %s after an error failed: %s", creds.lease_id, exc.code)


def _keep_renewed(api: Any, creds: DynamicCredentials, stop: threading.Event) -> None:
    while not stop.wait(creds.seconds_until_renewal()):
        try:
            outcome: Any = _body(api.renew(creds.lease_id, increment=creds.period))
        except ScaiVaultError as exc:
            outcome = exc
        if not creds.record_renewal(outcome):
            return


@asynccontextmanager
async def held_async(
    api: Any,
    engine: str,
    role: str,
    *,
    ttl: Any = None,
    metadata: dict[str, Any] | None = None,
    renew: bool = False,
    **params: Any,
) -> AsyncIterator[DynamicCredentials]:
    """``held`` for an api whose methods are awaitable; the renewal is a task."""
    import asyncio  # here: an application that embeds the vault without asyncio does not load it

    creds = DynamicCredentials.from_issue(_body(await api.issue(engine, role, ttl=ttl, metadata=metadata, **params)))
    task = asyncio.create_task(_keep_renewed_async(api, creds)) if renew and creds.renewable else None
    try:
        yield creds
    except BaseException:
        await _finish_async(api, creds, task, quiet=True)
        raise
    await _finish_async(api, creds, task, quiet=False)


async def _finish_async(api: Any, creds: DynamicCredentials, task: asyncio.Task | None, quiet: bool) -> None:
    import asyncio

    if task is not None:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the renewal task died of a bug; the lease still gets revoked
            log.warning("renewing %s stopped: %s", creds.lease_id, type(exc).__name__)
    try:
        await api.revoke(creds.lease_id)
    except ScaiVaultError as exc:
        if not quiet:
            raise
        log.warning("revoking %s after an error failed: %s", creds.lease_id, exc.code)


async def _keep_renewed_async(api: Any, creds: DynamicCredentials) -> None:
    import asyncio

    while True:
        await asyncio.sleep(creds.seconds_until_renewal())
        try:
            outcome: Any = _body(await api.renew(creds.lease_id, increment=creds.period))
        except ScaiVaultError as exc:
            outcome = exc
        if not creds.record_renewal(outcome):
            return


@attrs.define
class DynamicCredentials:
    """One lease's credentials: ``creds["password"]`` reads ``data``; the repr never shows it."""

    lease_id: str
    data: dict[str, Any] = attrs.field(repr=False)
    lease_duration: str
    renewable: bool
    expires_at: str
    period: int = 0  # seconds of the first TTL: each renewal adds this much
    renewals: int = 0
    capped: bool = False
    renewal_error: ScaiVaultError | None = None

    @classmethod
    def from_issue(cls, body: dict[str, Any]) -> DynamicCredentials:
        return cls(
            body["lease_id"],
            body["data"],
            body["lease_duration"],
            body["renewable"],
            body["expires_at"],
            parse_duration(body["lease_duration"], "lease_duration") or 0,
        )

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def seconds_left(self) -> float:
        return datetime.fromisoformat(self.expires_at).timestamp() - time.time()

    def seconds_until_renewal(self) -> float:
        """Renew once 2/3 of a TTL has passed (a third of the period left); sooner after a failed attempt."""
        if self.renewal_error is not None:
            return min(5.0, max(self.seconds_left() / 10, 0.1))
        return max(0.0, self.seconds_left() - self.period / 3)

    def record_renewal(self, outcome: dict[str, Any] | ScaiVaultError) -> bool:
        """Take in one renewal's answer (or error); whether renewing should go on."""
        if isinstance(outcome, ScaiVaultError):
            self.renewal_error = outcome
            final = outcome.code in ("lease_expired", "lease_not_found", "permission_denied")
            return not final and self.seconds_left() > 0
        self.expires_at, self.lease_duration = outcome["expires_at"], outcome["lease_duration"]
        if outcome.get("data"):  # the engine re-issued the credential (a re-signed certificate)
            self.data = {**self.data, **outcome["data"]}
        self.renewals += 1
        self.renewal_error = None
        self.capped = bool(outcome.get("capped"))
        return not self.capped  # at the max_ttl ceiling: nothing more to gain
