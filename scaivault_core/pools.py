"""Warm pools: users of a role made ahead of time, so an issue only has to activate one (``pool_size``).

A pooled user is a lease record in state ``pooled`` that no caller holds. Crash safety is the
issue's own: a refill records each user as an intent of the pool identity before the engine
creates it, so a crash mid-refill leaves intents that the expiry worker rolls back like any other,
and a user never stands in a target without a record that can remove it. Until it is issued the
user cannot log in (``Engine.create_pooled``'s promise); reconcile counts it as ours
(``LeaseState.UNFINISHED``), and the lease gauges count it.

Refilling runs in a background thread, a batch at a time. Processes sharing a store may refill the
same pool at once: ``Store.add_to_pool`` counts and records under the role's lock, so the pool is
filled once and never past its size. A role changed or deleted, or its pool shrunk, rolls back the
pooled users it no longer wants; each pooled user carries its role's version, so one made from an
earlier version is never issued.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .audit import Auditor
from .background import BackgroundThread
from .converter import structure
from .engine import IssueRequest, pool_size
from .engine_calls import call_engine
from .engine_manager import EngineManager, LiveEngine
from .errors import InvalidRequest, ScaiVaultError
from .leases import LeaseManager, new_lease_id
from .models import POOL_IDENTITY, Lease, LeaseState, RoleRecord
from .policies import role_path
from .store import Store
from .templates import generate_username

log = logging.getLogger("scaivault.pools")
BATCH = 10  # users made per engine call: one transaction on PostgreSQL, short enough not to hold issues up long
_VERSION = "pool_role_version"  # in a pooled user's handle: the role's updated_at it was made from


class PoolManager:
    def __init__(
        self, leases: LeaseManager, engines: EngineManager, store: Store, auditor: Auditor, pm: Any, clock: Any
    ) -> None:
        self._leases, self._engines, self._store, self._audit, self._pm, self._clock = (
            leases,
            engines,
            store,
            auditor,
            pm,
            clock,
        )
        self.on_taken = lambda engine, role: None  # the pool worker hooks in here

    # -- issuing from a pool ----------------------------------------------------------------------

    def take(self, engine_name: str, role: RoleRecord, changes: dict[str, Any]) -> tuple[Lease, dict[str, Any]] | None:
        """A pooled user of ``role``, now an intent of this process with ``changes`` applied, and its handle;
        None when the pool is empty."""
        while True:
            taken = self._store.claim_pooled(engine_name, role.name, 1, changes)
            if not taken:
                return None
            self.on_taken(engine_name, role.name)
            lease, sealed = taken[0]
            handle = self._leases._unseal(lease.lease_id, sealed)
            if handle.pop(_VERSION, None) == role.updated_at:
                lease.handle = handle
                return lease, handle
            # Made from an earlier version of the role (a refill that raced its update): never issue it.
            self._leases.revoke_claimed(taken, identity=POOL_IDENTITY)

    # -- refilling ---------------------------------------------------------------------------------

    def refill(self, engine_name: str, role_name: str) -> int:
        """Bring one role's pool to its size, a batch at a time (a shrunk pool: drop the surplus); how many it made."""
        live = self._engines.live(engine_name)
        record, role = self._engines.role(engine_name, role_name)
        size = pool_size(live.engine, role)
        made = 0
        while True:
            count = self._store.count_pool(engine_name, role_name)
            if count > size:
                self.drain(engine_name, role_name, count - size)
                return made
            if count == size:
                return made
            added = self._make(live, record, role, size, min(size - count, BATCH))
            if not added:
                return made
            made += added

    def _make(self, live: LiveEngine, record: RoleRecord, role: Any, size: int, count: int) -> int:
        engine = live.engine
        now = self._clock.time()
        deadline = now + self._leases.options.intent_timeout
        ttl = record.default_ttl or live.record.default_ttl  # a placeholder: activation sets the real expiry
        params = structure({}, type(engine).Request, error=InvalidRequest, where="request")
        requests, items = [], []
        for _ in range(count):
            # A throwaway password, never kept: the user gets its own when it is issued.
            password = self._pm.hook.generate_password(engine_type=engine.type, plugin=engine.plugin, role=record.name)
            username = generate_username(record.name, type(engine).username_max_length)
            lease_id = new_lease_id(type(engine).lease_prefix)
            variables = {
                "name": username,
                "password": password,
                "ttl_seconds": ttl,
                "expiration": engine.format_expiration(now + ttl),
            }
            request = IssueRequest(
                lease_id,
                record.name,
                role,
                username,
                password,
                now + ttl,
                ttl,
                {},
                params,
                variables,
                max_expires_at=now + ttl,
            )
            handle = {**call_engine(engine.plan, request, secrets=[password]), _VERSION: record.updated_at}
            lease = Lease(
                lease_id,
                live.record.name,
                record.name,
                POOL_IDENTITY,
                LeaseState.INTENT,
                now,
                now + ttl,
                now + ttl,
                deadline,
                True,
                username,
                {},
                handle,
                claimed_by=self._leases.instance,
                claim_deadline=deadline,
            )
            requests.append(request)
            items.append((lease, self._leases._seal(lease_id, handle)))
        added = self._store.add_to_pool(live.record.name, record.name, size, items)
        requests, items = requests[:added], items[:added]
        if not items:
            return 0
        try:
            made = call_engine(engine.create_pooled, requests, secrets=[r.password for r in requests])
            if len(made) != len(requests):
                raise ScaiVaultError(f"Engine {live.record.name} made {len(made)} pooled users for {len(requests)}.")
        except ScaiVaultError as exc:
            log.warning(
                "refilling the pool of role %s of engine %s failed: %s", record.name, live.record.name, exc.message
            )
            self._leases.revoke_claimed(items, identity=POOL_IDENTITY)  # intents: rolled back, or retried
            return 0
        with self._store.transaction():
            for (lease, _), issued in zip(items, made, strict=True):
                handle = {**lease.handle, **issued.handle}
                self._store.update_lease(
                    lease.lease_id,
                    {
                        "state": LeaseState.POOLED,
                        "claimed_by": None,
                        "claim_deadline": None,
                        "sealed_handle": self._leases._seal(lease.lease_id, handle),
                    },
                    expect={"state": LeaseState.INTENT, "claimed_by": self._leases.instance},
                )
            self._audit.record(POOL_IDENTITY, "pool.refill", role_path(live.record.name, record.name), added=added)
        current = self._store.get_role(live.record.name, record.name)
        if current is None or current.updated_at != record.updated_at:
            self.drain(live.record.name, record.name)  # the role changed while these were made
        return added

    # -- dropping ----------------------------------------------------------------------------------

    def drain(self, engine_name: str, role_name: str | None = None, count: int | None = None) -> int:
        """Roll back pooled users of an engine (of one role; at most ``count``), as intents are; how many."""
        dropped = 0
        while count is None or dropped < count:
            now = self._clock.time()
            deadline = now + self._leases.options.claim_timeout
            limit = 500 if count is None else min(500, count - dropped)
            taken = self._store.claim_pooled(
                engine_name,
                role_name,
                limit,
                {
                    "state": LeaseState.INTENT,
                    "claimed_by": self._leases.instance,
                    "claim_deadline": deadline,
                    "due_at": deadline,
                },
            )
            if not taken:
                break
            self._leases.revoke_claimed(taken, identity=POOL_IDENTITY)
            dropped += len(taken)
        return dropped

    def low(self, engine_name: str, role_name: str) -> bool:
        """Whether a role's pool is down to half its size or less (then it refills even while issues go on)."""
        try:
            live = self._engines.live(engine_name)
            _, role = self._engines.role(engine_name, role_name)
        except ScaiVaultError:
            return True  # let refill say what is wrong
        return self._store.count_pool(engine_name, role_name) * 2 <= pool_size(live.engine, role)

    def wanted(self) -> list[tuple[str, str]]:
        """(engine, role) of every role that asks for a pool."""
        return [
            (e.name, r.name)
            for e in self._store.list_engines()
            for r in self._store.list_roles(e.name)
            if r.params.get("pool_size")
        ]

    def fill_all(self) -> int:
        """Refill every pool now; how many users were made. A pool that fails is logged and left for later."""
        made = 0
        for engine_name, role_name in self.wanted():
            try:
                made += self.refill(engine_name, role_name)
            except ScaiVaultError as exc:
                log.warning(
                    "refilling the pool of role %s of engine %s failed: %s", role_name, engine_name, exc.message
                )
        return made


class PoolWorker(BackgroundThread):
    """Refills pools in the background: the ones issues took from once they pause, every pool now and then.

    A refill runs role DDL on the same target the issues need, so while issues keep coming it waits
    for a pause of ``quiet`` seconds, unless a pool is down to half its size: the pool absorbs a
    burst, and is refilled between bursts.
    """

    thread_name = "scaivault-pools"

    def __init__(self, pools: PoolManager, *, sweep_every: float = 30.0, quiet: float = 0.25) -> None:
        super().__init__()
        self._pools, self.sweep_every, self.quiet = pools, sweep_every, quiet
        self._last_taken = 0.0
        self._wanted: set[tuple[str, str]] = set()
        self._sweep = True  # every pool at start-up
        self._lock = threading.Lock()
        pools.on_taken = self.wake

    def wake(self, engine: str | None = None, role: str | None = None) -> None:
        """Refill this role's pool soon (every pool, without arguments)."""
        with self._lock:
            if engine is None or role is None:
                self._sweep = True
            else:
                self._wanted.add((engine, role))
                self._last_taken = time.monotonic()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                sweep, wanted, self._sweep, self._wanted = self._sweep, self._wanted, False, set()
                self._wake.clear()
                busy = self.quiet - (time.monotonic() - self._last_taken)
            if wanted and not sweep and busy > 0 and not any(self._pools.low(e, r) for e, r in wanted):
                with self._lock:  # issues are still coming: refill in their pause
                    self._wanted |= wanted
                self._stop.wait(busy)
                continue
            try:
                if sweep:
                    self._pools.fill_all()
                for engine_name, role_name in sorted(wanted):
                    if self._stop.is_set():
                        return
                    try:
                        self._pools.refill(engine_name, role_name)
                    except ScaiVaultError as exc:  # a role deleted since, an unreachable target: next time
                        log.warning(
                            "refilling the pool of role %s of engine %s failed: %s", role_name, engine_name, exc.message
                        )
            except Exception:  # a store hiccup must not end refilling
                log.exception("pool refill failed")
            if not self._wake.wait(self.sweep_every):
                with self._lock:
                    self._sweep = True
