"""Leases: issue, renew, revoke. The TTL arithmetic, the intent protocol and the revocation outcome live here.

Crash safety: a lease is written as an *intent* (with everything revocation needs) before the
engine creates anything, and is claimed by this process until it becomes active. If the process
dies, the claim lapses and the expiry worker revokes the intent, so a credential never exists in
a target without a record that can remove it.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
from collections.abc import Callable, Iterable
from typing import Any

import attrs

from .audit import Auditor
from .auth import Authorizer
from .converter import structure
from .crypto import Keyring
from .durations import format_duration, parse_duration
from .engine import IssueRequest, LeaseLimits, pool_size
from .engine_calls import call_engine, result_error
from .engine_manager import EngineManager
from .errors import (
    Conflict,
    EngineUnreachable,
    InvalidRequest,
    LeaseExpired,
    LeaseNotFound,
    QuotaExceeded,
    ScaiVaultError,
    TTLExceedsMax,
)
from .models import IssuedCredentials, Lease, LeaseState, RenewResult
from .observers import tell
from .policies import engine_path, role_path
from .randomness import random_string
from .settings import Settings
from .store import Store
from .templates import generate_username

log = logging.getLogger("scaivault.leases")
_ID_ALPHABET = string.ascii_lowercase + string.digits
MAX_METADATA_BYTES = 4096


@attrs.define
class LeaseOptions:
    intent_timeout: float = 120.0  # an issue still unfinished after this is presumed dead and undone
    claim_timeout: float = 60.0  # a revocation claim lapses after this, for another process to take
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    max_attempts: int = 12  # about an hour of retries before a lease is marked irrevocable
    wait_for_claim: float = 10.0  # how long an explicit revoke waits for a concurrent change to finish

    @classmethod
    def from_settings(cls, settings: Settings) -> LeaseOptions:
        """Defaults, with the operator's claim and intent timeouts: how soon a process takes over a dead one's work."""
        return cls(intent_timeout=float(settings.intent_timeout), claim_timeout=float(settings.claim_timeout))


def new_lease_id(prefix: str) -> str:
    return f"lease_{prefix}_" + random_string(_ID_ALPHABET, 20)


class LeaseManager:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        engines: EngineManager,
        authorizer: Authorizer,
        auditor: Auditor,
        pm: Any,
        clock: Any,
        instance: str,
        options: LeaseOptions,
    ) -> None:
        self._store, self._keyring, self._engines, self._auth = store, keyring, engines, authorizer
        self._audit, self._pm, self._clock, self.instance, self.options = auditor, pm, clock, instance, options
        self.on_new_due = lambda due_at: None  # the expiry worker hooks in here
        self.pools: Any = None  # the PoolManager (pools.py), once the vault has made it

    # -- sealing -------------------------------------------------------------------------------

    def _seal(self, lease_id: str, handle: dict[str, Any]) -> bytes:
        return self._keyring.encrypt_json(handle, f"lease:{lease_id}")

    def _unseal(self, lease_id: str, sealed: bytes) -> dict[str, Any]:
        return self._keyring.decrypt_json(sealed, f"lease:{lease_id}")

    def _notify(self, event: str, lease: Lease, **details: Any) -> None:
        try:
            # Listeners see the record, never what revocation needs.
            self._pm.hook.lease_event(event=event, lease=attrs.evolve(lease, handle={}), details=details)
        except Exception:  # a metrics or audit sink must not break the lease lifecycle
            log.exception("lease_event hook failed for %s", event)

    # -- issue ---------------------------------------------------------------------------------

    def issue(
        self,
        identity: str,
        engine_name: str,
        role_name: str,
        ttl: Any = None,
        metadata: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        from_pool: bool = True,
    ) -> IssuedCredentials:
        """Create credentials for ``role_name`` as a lease (``read`` on the role path is required); from the
        role's warm pool if it keeps one, unless ``from_pool`` is False."""
        started = time.perf_counter()
        self._auth.require(identity, role_path(engine_name, role_name), "read")
        live = self._engines.live(engine_name)
        role_record, role = self._engines.role(engine_name, role_name)
        engine, engine_record = live.engine, live.record
        request_params = structure(params or {}, type(engine).Request, error=InvalidRequest, where="request")
        metadata = _check_metadata(metadata)
        limits = engine.limits(role)
        ttl_seconds, max_ttl = self._ttl(engine_record.default_ttl, engine_record.max_ttl, role_record, limits, ttl)
        self._check_quota(identity, engine_record, role_record)

        now = self._clock.time()
        expires_at = now + ttl_seconds
        deadline = now + self.options.intent_timeout
        password = self._pm.hook.generate_password(engine_type=engine.type, plugin=engine.plugin, role=role_name)
        # From the role's warm pool if it keeps one and it is not empty: the user exists, it only needs activating.
        pooled = (
            self.pools.take(
                engine_name,
                role_record,
                {
                    "state": LeaseState.INTENT,
                    "identity": identity,
                    "issued_at": now,
                    "expires_at": expires_at,
                    "max_expires_at": now + max_ttl,
                    "due_at": deadline,
                    "renewable": limits.renewable,
                    "metadata": metadata,
                    "claimed_by": self.instance,
                    "claim_deadline": deadline,
                },
            )
            if from_pool and self.pools and pool_size(engine, role)
            else None
        )
        username = pooled[0].subject if pooled else generate_username(role_name, type(engine).username_max_length)
        lease_id = pooled[0].lease_id if pooled else new_lease_id(type(engine).lease_prefix)
        variables = {
            "name": username,
            "password": password,
            "ttl_seconds": ttl_seconds,
            "expiration": engine.format_expiration(expires_at),
        }
        request = IssueRequest(
            lease_id,
            role_name,
            role,
            username,
            password,
            expires_at,
            ttl_seconds,
            metadata,
            request_params,
            variables,
            max_expires_at=now + max_ttl,
        )
        if pooled:
            lease, handle = pooled
        else:
            handle = call_engine(engine.plan, request, secrets=[password])
            lease = Lease(
                lease_id,
                engine_name,
                role_name,
                identity,
                LeaseState.INTENT,
                now,
                expires_at,
                now + max_ttl,
                deadline,
                limits.renewable,
                username,
                metadata,
                handle,
                claimed_by=self.instance,
                claim_deadline=deadline,
            )
            self._store.insert_lease(lease, self._seal(lease_id, handle))
        path = role_path(engine_name, role_name)
        try:
            if pooled:
                issued = call_engine(engine.activate, handle, request, secrets=[password])
            else:
                issued = call_engine(engine.create, request, secrets=[password])
        except ScaiVaultError as exc:
            self._undo_intent(lease, handle, engine, password, late=getattr(exc, "may_still_apply", False))
            pool_detail: dict[str, Any] = {"from_pool": True} if pooled else {}
            self._audit.record(identity, "lease.issue", path, exc.code, lease_id=lease_id, **pool_detail)
            if pooled and not isinstance(exc, EngineUnreachable):
                # That pooled user could not be activated (dropped or changed in the target by hand, say); it
                # is rolled back above. The caller still gets a credential, from a user created now.
                log.warning("activating pooled user of %s failed (%s); creating one instead", lease_id, exc.code)
                return self.issue(identity, engine_name, role_name, ttl, metadata, params, from_pool=False)
            raise
        changes: dict[str, Any] = {
            "state": LeaseState.ACTIVE,
            "due_at": expires_at,
            "claimed_by": None,
            "claim_deadline": None,
        }
        if issued.handle:  # otherwise the intent's sealed plan is already the whole handle: no second seal
            handle = {**handle, **issued.handle}
            changes["sealed_handle"] = self._seal(lease_id, handle)
        if issued.subject and issued.subject != username:
            changes["subject"] = issued.subject
        lease.handle, lease.subject = handle, issued.subject or username
        lease.state, lease.due_at, lease.claimed_by, lease.claim_deadline = LeaseState.ACTIVE, expires_at, None, None
        try:
            with self._store.transaction():
                activated = self._store.update_lease(
                    lease_id, changes, expect={"state": LeaseState.INTENT, "claimed_by": self.instance}
                )
                if activated:
                    self._audit.record(
                        identity,
                        "lease.issue",
                        path,
                        lease_id=lease_id,
                        ttl=ttl_seconds,
                        subject=lease.subject,
                        secrets={"data": issued.data},
                    )
        except Exception:
            activated = False
        if not activated:
            # The intent lapsed (the target was too slow) or the store failed: undo in the target now.
            self._undo_intent(lease, handle, engine, password)
            raise Conflict(
                "The credential could not be recorded, so it was removed again; retry the request.", lease_id=lease_id
            )
        self.on_new_due(expires_at)
        self._notify("issued", lease, ttl=ttl_seconds, seconds=time.perf_counter() - started)
        credentials = IssuedCredentials.of(lease, issued.data)
        tell("secret", issued.data)
        tell("shown", credentials)
        tell("shown", lease)
        return credentials

    def _ttl(
        self, engine_default: int, engine_max: int, role: Any, limits: LeaseLimits, requested: Any
    ) -> tuple[int, int]:
        """(ttl, max_ttl) in seconds. Max = min(role max_ttl, engine max_ttl, the target's own limit)."""
        max_ttl = min(role.max_ttl or engine_max, engine_max)
        why = (
            f"the max_ttl of role {role.name!r}"
            if role.max_ttl and role.max_ttl < engine_max
            else "the engine's max_ttl"
        )
        if limits.max_ttl is not None and limits.max_ttl < max_ttl:
            max_ttl, why = limits.max_ttl, limits.reason or "the target's own limit"
        default = min(role.default_ttl or engine_default, max_ttl)
        ttl = parse_duration(requested, "ttl") or default  # "0" or absent: the default, as in Vault
        if ttl > max_ttl:
            raise TTLExceedsMax(
                f"ttl {format_duration(ttl)} is above {why} ({format_duration(max_ttl)}); ask for at most that.",
                ttl=format_duration(ttl),
                max_ttl=format_duration(max_ttl),
            )
        if limits.min_ttl is not None and ttl < limits.min_ttl:
            raise InvalidRequest(
                f"ttl {format_duration(ttl)} is below the minimum of {format_duration(limits.min_ttl)} "
                f"({limits.reason or 'the target requires it'}).",
                field="ttl",
            )
        return ttl, max_ttl

    def _check_quota(self, identity: str, engine: Any, role: Any) -> None:
        for what, limit, scope in (("engine", engine.max_leases, None), ("role", role.max_leases, role.name)):
            if limit is not None and self._store.count_live_leases(engine.name, scope) >= limit:
                raise QuotaExceeded(
                    f"The {what} {scope or engine.name!r} already has its maximum of {limit} live leases; "
                    "revoke some or raise max_leases.",
                    engine=engine.name,
                    role=role.name,
                    max_leases=limit,
                )
        # Each caller's own share, so that one caller cannot use up the engine's or role's quota for everyone.
        for what, limit, scope in (
            ("engine", engine.max_leases_per_identity, None),
            ("role", role.max_leases_per_identity, role.name),
        ):
            if limit is not None and self._store.count_live_leases(engine.name, scope, identity) >= limit:
                raise QuotaExceeded(
                    f"{identity} already holds its maximum of {limit} live leases of the {what} "
                    f"{scope or engine.name!r}; revoke some or raise max_leases_per_identity.",
                    engine=engine.name,
                    role=role.name,
                    identity=identity,
                    max_leases_per_identity=limit,
                )

    def _undo_intent(
        self, lease: Lease, handle: dict[str, Any], engine: Any, password: str, late: bool = False
    ) -> None:
        """Remove whatever a failed issue may have created; if that fails too, the worker retries it.

        ``late``: the create may still take effect after this (it timed out once sent), so the revoke
        now could come first. The intent then stays, due again after ``intent_timeout``, when the
        worker revokes once more whatever a late create made.
        """
        again = self._clock.time() + (self.options.intent_timeout if late else 0)
        try:
            call_engine(engine.revoke, handle, secrets=[password])
        except ScaiVaultError as exc:
            log.warning("rolling back intent %s failed, the worker will retry: %s", lease.lease_id, exc.message)
            self._store.update_lease(
                lease.lease_id,
                {"claimed_by": None, "claim_deadline": None, "due_at": again, "last_error": exc.message},
                expect={"state": LeaseState.INTENT},
            )
            return
        if late:
            self._store.update_lease(
                lease.lease_id,
                {
                    "claimed_by": None,
                    "claim_deadline": None,
                    "due_at": again,
                    "last_error": "the create timed out and may still take effect: revoked, and to be revoked again",
                },
                expect={"state": LeaseState.INTENT},
            )
            self.on_new_due(again)
            return
        self._store.update_lease(
            lease.lease_id,
            {
                "state": LeaseState.ROLLED_BACK,
                "revoked_at": self._clock.time(),
                "claimed_by": None,
                "claim_deadline": None,
            },
            expect={"state": LeaseState.INTENT},
        )

    # -- lookup --------------------------------------------------------------------------------

    def _load(self, lease_id: str) -> tuple[Lease, bytes]:
        if not isinstance(lease_id, str) or len(lease_id) > 128:
            raise LeaseNotFound("No lease has that id.", lease_id=str(lease_id)[:128])
        found = _no_pooled(self._store.get_lease(lease_id))
        if found is None:
            raise _no_lease(lease_id)
        return found

    def _load_as(
        self, identity: str, lease_id: str, *grants: tuple[str, str], owner_may: bool = True
    ) -> tuple[Lease, bytes]:
        """The lease, if ``identity`` issued it (where ``owner_may``) or holds one of ``grants``: (``"role"`` or
        ``"engine"``, permission) on the lease's role or engine path. Otherwise exactly what a missing lease
        answers, so a caller cannot tell a lease that is not theirs from one that does not exist."""
        if not isinstance(lease_id, str) or len(lease_id) > 128:
            self._load(lease_id)  # refuses it as malformed, whatever exists
        found = _no_pooled(self._store.get_lease(lease_id))
        if found is not None:
            lease = found[0]
            paths, owner = (
                {"role": role_path(lease.engine, lease.role), "engine": engine_path(lease.engine)},
                lease.identity,
            )
        else:  # a missing lease costs the same checks and the same report: not even timing tells them apart
            paths, owner = dict.fromkeys(("role", "engine"), f"dynamic/leases/{lease_id}"), None
        if not owner_may:
            owner = None
        allowed = any(self._auth.can(identity, paths[where], permission, owner=owner) for where, permission in grants)
        if allowed and found is not None:
            return found
        where, permission = grants[-1]
        self._auth.denied(identity, paths[where], permission)
        raise _no_lease(lease_id)

    def lookup(self, identity: str, lease_id: str) -> Lease:
        """The issuer, a holder of ``list`` on the engine, or of ``revoke`` on the role path may look a lease up."""
        return self._load_as(identity, lease_id, ("engine", "list"), ("role", "revoke"))[0]

    def list_leases(
        self,
        identity: str,
        *,
        engine: str | None = None,
        role: str | None = None,
        owner: str | None = None,
        state: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Lease]:
        """Leases matching the filters; an identity may always list its own."""
        path = engine_path(engine) if engine else "dynamic/leases"
        if not self._auth.can(identity, path, "list", owner=owner):
            self._auth.require(identity, path, "list")  # refuses, saying which grant is missing
        if not 1 <= limit <= 1000:
            raise InvalidRequest("limit must be between 1 and 1000.", field="limit")
        states = {"live": LeaseState.LIVE}.get(state or "", (state,) if state else None)
        return self._store.list_leases(
            engine=engine, role=role, identity=owner, states=states, prefix=prefix, after=after, limit=limit
        )

    # -- renew ---------------------------------------------------------------------------------

    def renew(self, identity: str, lease_id: str, increment: Any = None, *, from_now: bool = False) -> RenewResult:
        """Extend by ``increment`` from the current expiry, capped at issue time + max_ttl.

        ``from_now``: count the increment from now instead, as HashiCorp Vault does (its compatible
        API uses this); the new expiry may then be earlier than the current one.
        """
        started = time.perf_counter()
        lease, _ = self._load_as(identity, lease_id, ("role", "revoke"))
        now = self._clock.time()
        if lease.state != LeaseState.ACTIVE or lease.expires_at <= now:
            raise LeaseExpired(
                f"Lease {lease_id} is {_state_word(lease, now)}; request new credentials.",
                lease_id=lease_id,
                state=lease.state,
            )
        if not lease.renewable:
            raise InvalidRequest(
                f"Lease {lease_id} is not renewable; request new credentials before it expires.", lease_id=lease_id
            )
        live = self._engines.live(lease.engine)
        role_record, role = self._role_if_any(lease)
        step = parse_duration(increment, "increment")
        if not step:
            step = role_record.default_ttl if role_record and role_record.default_ttl else live.record.default_ttl
        wanted = (now if from_now else lease.expires_at) + step
        new_expiry = min(wanted, lease.max_expires_at)
        capped = wanted > lease.max_expires_at
        claimed = self._store.claim_lease(
            lease_id, self.instance, now + self.options.claim_timeout, now, (LeaseState.ACTIVE,)
        )
        if claimed is None:
            current, _ = self._load(lease_id)
            if current.state != LeaseState.ACTIVE:
                raise LeaseExpired(
                    f"Lease {lease_id} is {_state_word(current, now)}.", lease_id=lease_id, state=current.state
                )
            raise Conflict(f"Lease {lease_id} is being changed by another request; retry.", lease_id=lease_id)
        lease, sealed = claimed
        handle = self._unseal(lease_id, sealed)
        try:
            renewed = call_engine(live.engine.renew, handle, role, new_expiry)
        except ScaiVaultError as exc:
            self._store.update_lease(
                lease_id, {"claimed_by": None, "claim_deadline": None}, expect={"claimed_by": self.instance}
            )
            self._audit.record(
                identity, "lease.renew", role_path(lease.engine, lease.role), exc.code, lease_id=lease_id
            )
            raise
        changes: dict[str, Any] = {
            "expires_at": new_expiry,
            "due_at": new_expiry,
            "claimed_by": None,
            "claim_deadline": None,
        }
        if renewed is not None and renewed.handle:
            handle = {**handle, **renewed.handle}
            changes["sealed_handle"] = self._seal(lease_id, handle)
        with self._store.transaction():
            ok = self._store.update_lease(
                lease_id, changes, expect={"claimed_by": self.instance, "state": LeaseState.ACTIVE}
            )
            if ok:
                self._audit.record(
                    identity,
                    "lease.renew",
                    role_path(lease.engine, lease.role),
                    lease_id=lease_id,
                    expires_at=new_expiry,
                    capped=capped,
                    from_now=from_now or None,
                )
        if not ok:
            raise LeaseExpired(f"Lease {lease_id} was revoked while it was being renewed.", lease_id=lease_id)
        lease.expires_at = lease.due_at = new_expiry
        lease.claimed_by = lease.claim_deadline = None
        self.on_new_due(new_expiry)
        self._notify("renewed", lease, capped=capped, seconds=time.perf_counter() - started)
        return RenewResult.of(lease, capped, int(round(new_expiry - now)), renewed.data if renewed else {})

    def _role_if_any(self, lease: Lease) -> tuple[Any, Any]:
        try:
            return self._engines.role(lease.engine, lease.role)
        except ScaiVaultError:
            return None, None  # the role was deleted; the lease still renews within its own limits

    # -- revoke --------------------------------------------------------------------------------

    def revoke(self, identity: str, lease_id: str) -> Lease:
        """Revoke now. Already revoked is success; a failure leaves the lease queued for retry and raises."""
        lease, _ = self._load_as(identity, lease_id, ("role", "revoke"))
        waited_until = time.monotonic() + self.options.wait_for_claim
        while True:
            now = self._clock.time()
            if lease.state in (LeaseState.REVOKED, LeaseState.ROLLED_BACK):
                return lease
            claimed = self._store.claim_lease(
                lease_id, self.instance, now + self.options.claim_timeout, now, LeaseState.REVOCABLE
            )
            if claimed is not None:
                break
            if time.monotonic() > waited_until:
                raise Conflict(f"Lease {lease_id} is being changed by another request; retry.", lease_id=lease_id)
            time.sleep(0.02)  # another request or process holds it; its outcome decides ours
            lease, _ = self._load(lease_id)
        outcome = self.revoke_claimed([claimed], identity=identity)[0]
        if outcome.error is not None:
            error = outcome.error
            error.details = {
                **error.details,
                "lease_id": lease_id,
                "state": outcome.lease.state,
                "next_attempt_at": outcome.lease.due_at,
            }
            error.message += " The revocation is queued and will be retried."
            error.args = (error.message,)
            raise error
        return outcome.lease

    def check_revoke_prefix(
        self, identity: str, prefix: str, engine: str | None = None, role: str | None = None
    ) -> None:
        """Refuse a revoke-prefix that is malformed or not the caller's to make (what a job checks when accepted)."""
        if not isinstance(prefix, str) or not prefix.startswith("lease_"):
            raise InvalidRequest("prefix must start with 'lease_'.", field="prefix")
        if role is not None and not engine:
            raise InvalidRequest("Revoking the leases of a role needs its engine named.", field="role")
        # Permission first: what exists is nobody's business until the caller may revoke it.
        if engine:
            self._auth.require(identity, engine_path(engine), "revoke")
            self._engines.record(engine)
        elif not self._auth.holds(identity, "dynamic/engines/*", "revoke"):
            self._auth.refuse(
                identity,
                "dynamic/engines/*",
                "revoke",
                "Revoking by prefix without naming an engine needs 'revoke' on every engine "
                "(dynamic/engines/*); name the engine.",
            )

    def revoke_prefix(
        self,
        identity: str,
        prefix: str,
        engine: str | None = None,
        role: str | None = None,
        *,
        progress: Callable[[int, int, dict[str, Any]], None] | None = None,
        batch_size: int = 500,
    ) -> dict[str, Any]:
        """Revoke every live lease whose id starts with ``prefix`` (of ``engine``, and of its ``role``, if given).

        ``role`` narrows what ``revoke`` on the engine reaches; it needs the engine named. ``progress(done,
        total, outcome_so_far)`` hears after each page of ``batch_size`` leases (a job records it; raising stops
        the work between batches).
        """
        self.check_revoke_prefix(identity, prefix, engine, role)
        engines = [engine] if engine else sorted({lease.engine for lease in self._iter_live(prefix, None)})
        total = sum(1 for name in engines for _ in self._iter_live(prefix, name, role)) if progress else 0
        revoked, busy = 0, 0
        failed: list[dict[str, Any]] = []

        def tell() -> None:
            if progress is not None:
                progress(
                    revoked + len(failed) + busy,
                    max(total, revoked + len(failed) + busy),
                    {"revoked": revoked, "failed": failed, "in_progress": busy},
                )

        tell()
        for name in engines:
            # A page of leases claimed in one statement, revoked in one engine call, recorded in one transaction.
            for page in self._pages_live(prefix, name, role, batch_size):
                now = self._clock.time()
                claimed = self._store.claim_leases(
                    [lease.lease_id for lease in page],
                    self.instance,
                    now + self.options.claim_timeout,
                    now,
                    LeaseState.REVOCABLE,
                )
                busy += len(page) - len(
                    claimed
                )  # an intent mid-issue or a revocation in another process: it ends on its own
                if claimed:
                    revoked, failed = self._tally(self.revoke_claimed(claimed, identity=identity), revoked, failed)
                tell()
        tell()  # also counts the leases found busy after the last page
        self._audit.record(
            identity,
            "lease.revoke_prefix",
            engine_path(engine) if engine else "dynamic/leases",
            prefix=prefix,
            role=role,
            revoked=revoked,
            failed=len(failed),
        )
        return {"revoked": revoked, "failed": failed, "in_progress": busy}

    @staticmethod
    def _tally(outcomes: list[Outcome], revoked: int, failed: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
        for o in outcomes:
            if o.error is None:
                revoked += 1
            else:
                failed.append({"lease_id": o.lease.lease_id, "code": o.error.code, "message": o.error.message})
        return revoked, failed

    def _iter_live(self, prefix: str, engine: str | None, role: str | None = None) -> Iterable[Lease]:
        for page in self._pages_live(prefix, engine, role):
            yield from page

    def _pages_live(
        self, prefix: str, engine: str | None, role: str | None = None, size: int = 500
    ) -> Iterable[list[Lease]]:
        after = None
        while True:
            page = self._store.list_leases(
                engine=engine, role=role, states=LeaseState.REVOCABLE, prefix=prefix, after=after, limit=size
            )
            if page:
                yield page
            if len(page) < size:
                return
            after = page[-1].lease_id

    def force_forget(self, identity: str, lease_id: str) -> Lease:
        """Operator action for an irrevocable lease: drop it from the queue, accepting the credential may remain."""
        lease, _ = self._load_as(identity, lease_id, ("engine", "revoke"), owner_may=False)
        if lease.state != LeaseState.IRREVOCABLE:
            raise InvalidRequest(f"Lease {lease_id} is {lease.state}; only irrevocable leases can be forgotten.")
        now = self._clock.time()
        self._store.update_lease(
            lease_id,
            {"state": LeaseState.REVOKED, "revoked_at": now, "last_error": "forgotten by operator"},
            expect={"state": LeaseState.IRREVOCABLE},
        )
        self._audit.record(identity, "lease.force_forget", role_path(lease.engine, lease.role), lease_id=lease_id)
        lease.state, lease.revoked_at, lease.last_error = LeaseState.REVOKED, now, "forgotten by operator"
        return lease

    # -- the one place a revocation's outcome is recorded -----------------------------------------

    def revoke_claimed(self, claimed: list[tuple[Lease, bytes]], *, identity: str = "system:expiry") -> list[Outcome]:
        """Revoke leases this process has claimed, batched per engine; record each outcome."""
        by_engine: dict[str, list[tuple[Lease, bytes]]] = {}
        for item in claimed:
            by_engine.setdefault(item[0].engine, []).append(item)
        outcomes: list[Outcome] = []
        timings: dict[str, float] = {}
        for engine_name, items in by_engine.items():
            started = time.perf_counter()
            handles = [self._unseal(lease.lease_id, sealed) for lease, sealed in items]
            try:
                engine = self._engines.live(engine_name).engine
                results = call_engine(engine.revoke_many, handles)
                if len(results) != len(items):
                    raise ScaiVaultError(
                        f"Engine {engine_name} answered {len(results)} results for {len(items)} leases."
                    )
            except ScaiVaultError as exc:
                results = [exc] * len(items)
            now = self._clock.time()
            timings[engine_name] = (time.perf_counter() - started) / len(items)
            with self._store.transaction():
                for (lease, _), result in zip(items, results, strict=True):
                    was_due = lease.state == LeaseState.ACTIVE and lease.expires_at <= now
                    outcome = self._record_outcome(lease, result_error(result, handles), now, identity)
                    outcome.lag = now - lease.expires_at if was_due and outcome.error is None else None
                    outcomes.append(outcome)
        for outcome in outcomes:
            self._notify(
                outcome.event,
                outcome.lease,
                error=outcome.error.code if outcome.error else None,
                seconds=timings[outcome.lease.engine],
                lag=outcome.lag,
            )
        return outcomes

    def _record_outcome(self, lease: Lease, error: ScaiVaultError | None, now: float, identity: str) -> Outcome:
        path = role_path(lease.engine, lease.role)
        mine = {"claimed_by": self.instance}
        if error is None:
            state = LeaseState.ROLLED_BACK if lease.state == LeaseState.INTENT else LeaseState.REVOKED
            recorded = self._store.update_lease(
                lease.lease_id,
                {"state": state, "revoked_at": now, "claimed_by": None, "claim_deadline": None, "last_error": None},
                expect=mine,
            )
            lease.state, lease.revoked_at = state, now
            operation = "lease.rollback" if state == LeaseState.ROLLED_BACK else "lease.revoke"
            if recorded:
                self._audit.record(identity, operation, path, lease_id=lease.lease_id, subject=lease.subject)
            else:  # our claim lapsed and another process took the lease over: its record is the one that counts
                log.warning("lease %s: revoked, but another process had taken it over and records it", lease.lease_id)
            return Outcome(lease, None, "rolled_back" if state == LeaseState.ROLLED_BACK else "revoked")
        attempts = lease.attempts + 1
        message = error.message[:500]
        if attempts >= self.options.max_attempts:
            changes = {
                "state": LeaseState.IRREVOCABLE,
                "attempts": attempts,
                "last_error": message,
                "claimed_by": None,
                "claim_deadline": None,
            }
            event = "irrevocable"
            log.error("lease %s is irrevocable after %d attempts: %s", lease.lease_id, attempts, message)
        else:
            delay = min(self.options.backoff_base * 2 ** (attempts - 1), self.options.backoff_max)
            delay *= 0.75 + secrets.randbelow(500) / 1000  # jitter so a recovering target isn't stampeded
            state = LeaseState.INTENT if lease.state == LeaseState.INTENT else LeaseState.REVOKING
            changes = {
                "state": state,
                "attempts": attempts,
                "last_error": message,
                "due_at": now + delay,
                "claimed_by": None,
                "claim_deadline": None,
            }
            event = "revocation_failed"
            log.warning(
                "revoking lease %s failed (attempt %d), retrying in %.0fs: %s", lease.lease_id, attempts, delay, message
            )
        self._store.update_lease(lease.lease_id, changes, expect=mine)
        for key, value in changes.items():
            setattr(lease, key, value)
        self._audit.record(identity, "lease.revoke", path, error.code, lease_id=lease.lease_id, attempts=attempts)
        return Outcome(lease, error, event)


@attrs.define
class Outcome:
    lease: Lease
    error: ScaiVaultError | None
    event: str
    lag: float | None = None  # seconds between expiry and revocation, for leases revoked because they were due


def _no_pooled(found: tuple[Lease, bytes] | None) -> tuple[Lease, bytes] | None:
    """A pooled user is no lease until an issue takes it: asked for by id, it does not exist."""
    return None if found is not None and found[0].state == LeaseState.POOLED else found


def _no_lease(lease_id: str) -> LeaseNotFound:
    return LeaseNotFound(f"No lease has the id {lease_id!r}.", lease_id=lease_id)


def _state_word(lease: Lease, now: float) -> str:
    if lease.state == LeaseState.ACTIVE:
        return "expired"
    return {LeaseState.REVOKING: "being revoked", LeaseState.INTENT: "not yet issued"}.get(lease.state, lease.state)


def _check_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be a JSON object.", field="metadata")
    if len(json.dumps(metadata)) > MAX_METADATA_BYTES:
        raise InvalidRequest(f"metadata is limited to {MAX_METADATA_BYTES} bytes of JSON.", field="metadata")
    return metadata
