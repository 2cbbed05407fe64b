"""``Vault``: the one object every front end embeds. ``Vault()`` opens a working vault on an embedded SQLite file.

Every operation is made as an identity: the vault itself acts as the admin (``user:admin``, bound
to the built-in ``root`` policy); ``vault.as_identity("sa:reporting-service")`` gives a view that
acts as that identity, with its policies checked.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import attrs

from .audit import Auditor, audit_time
from .audit_chain import Report as AuditReport
from .auth import Authorizer
from .clock import Clock, SystemClock, iso
from .converter import structure
from .credentials import DynamicCredentials, held
from .crypto import Keyring, decode_keys, load_keyring
from .engine import Engine
from .engine_manager import EngineManager
from .errors import InvalidConfig, InvalidRequest, NotFound
from .expiry import ExpiryWorker, instance_id, release_dead_claims
from .health import StoreProbe, readiness
from .hvac_names import add_hvac_names
from .jobs import JobManager, Kind, merge_reconcile, merge_revoke_prefix, revoke_prefix_grant
from .key_rotation import ResealCounts, check_key, reseal_all
from .leases import LeaseManager, LeaseOptions
from .metrics import Metrics
from .models import (
    AuditEvent,
    EngineRecord,
    IssuedCredentials,
    Job,
    Lease,
    Policy,
    RenewResult,
    RoleRecord,
    Rule,
    SecretVersion,
    Token,
)
from .plugin_manager import EngineRegistry, PluginInfo, PluginManager, make_plugin_manager, plugin_infos
from .policies import (
    ADMIN_IDENTITY,
    ROOT_POLICY,
    Explanation,
    check_identity,
    engine_path,
    root_policy,
    validate_policy,
)
from .pools import PoolManager, PoolWorker
from .reconcile import check_reconcile, reconcile
from .root_rotation import Rotator
from .secret_store import SecretStore
from .settings import Settings
from .store import Store, open_store
from .store.sqlite import SQLiteStore
from .templates import Templates
from .tokens import mint
from .tokens import renew as renew_token


@add_hvac_names
class _Operations:
    """Everything a caller can do, as ``self.identity``. Shared by ``Vault`` (admin) and ``Session``."""

    identity: str
    _core: Vault

    # -- secrets --------------------------------------------------------------------------------

    def put_secret(self, path: str, data: Any, secret_type: str = "json") -> SecretVersion:
        """Store a new version of the secret at ``path`` (encrypted at rest)."""
        return self._core._secrets.put(self.identity, path, data, secret_type)

    def get_secret(self, path: str, version: int | None = None) -> SecretVersion:
        return self._core._secrets.get(self.identity, path, version)

    def list_secret_versions(self, path: str) -> list[SecretVersion]:
        return self._core._secrets.versions(self.identity, path)

    def delete_secret(self, path: str) -> None:
        self._core._secrets.delete(self.identity, path)

    def rotate_secret(self, path: str, reason: str | None = None, grace_period: Any = None) -> SecretVersion:
        """Rotate an engine's root credential (or a secret with a rotation handler); needs ``rotate``.

        The previous version stays readable for ``grace_period`` (``"0"``: retired at once), then is destroyed.
        """
        return self._core._rotator.rotate(self.identity, path, reason, grace_period)

    def set_rotation_period(self, path: str, period: Any, grace_period: Any = None) -> None:
        """Rotate ``path`` every ``period`` (e.g. ``"30d"``), keeping the previous version for
        ``grace_period`` each time; ``None`` stops scheduled rotation."""
        self._core._rotator.set_period(self.identity, path, period, grace_period)

    # -- policies and tokens --------------------------------------------------------------------

    def create_policy(self, name: str, rules: list[dict[str, Any]] | list[Rule], description: str = "") -> Policy:
        """Create a policy: ``rules`` are ``{"path_pattern": ..., "permissions": [...]}``."""
        policy = self._policy(name, rules, description)
        self._core._auth.require(self.identity, f"sys/policies/{name}", "create")
        self._core._auth.require_holds(self.identity, policy.rules, f"grant it through policy {name!r}")
        self._core.store.put_policy(policy, create=True)
        self._core._audit.record(self.identity, "policy.create", f"sys/policies/{name}")
        return policy

    def update_policy(self, name: str, rules: list[dict[str, Any]] | list[Rule], description: str = "") -> Policy:
        policy = self._policy(name, rules, description)
        self._core._auth.require(self.identity, f"sys/policies/{name}", "update")
        self.get_policy(name)
        self._core._auth.require_holds(self.identity, policy.rules, f"grant it through policy {name!r}")
        self._core.store.put_policy(policy, create=False)
        self._core._audit.record(self.identity, "policy.update", f"sys/policies/{name}")
        return policy

    @staticmethod
    def _policy(name: str, rules: Any, description: str) -> Policy:
        if name == ROOT_POLICY:
            raise InvalidRequest("The root policy is built in and cannot be changed.")
        raw = [
            r if isinstance(r, dict) else {"path_pattern": r.path_pattern, "permissions": list(r.permissions)}
            for r in (rules if isinstance(rules, list) else [rules])
        ]
        policy = structure({"name": name, "rules": raw, "description": description}, Policy, error=InvalidConfig)
        return validate_policy(policy)

    def get_policy(self, name: str) -> Policy:
        self._core._auth.require(self.identity, f"sys/policies/{name}", "read")
        policy = self._core.store.get_policy(name)
        if policy is None:
            raise NotFound(f"No policy named {name!r}.", policy=name)
        return policy

    def list_policies(self) -> list[Policy]:
        self._core._auth.require(self.identity, "sys/policies", "list")
        return self._core.store.list_policies()

    def delete_policy(self, name: str) -> None:
        """Delete a policy; like binding, taking it from the identities it is bound to needs holding what it grants."""
        self._core._auth.require(self.identity, f"sys/policies/{name}", "delete")
        if name == ROOT_POLICY:
            raise InvalidRequest("The root policy is built in and cannot be deleted.")
        policy = self._core.store.get_policy(name)
        if policy is None:
            raise NotFound(f"No policy named {name!r}.", policy=name)
        self._core._auth.require_holds(self.identity, policy.rules, f"delete policy {name!r}")
        if not self._core.store.delete_policy(name):
            raise NotFound(f"No policy named {name!r}.", policy=name)
        self._core._audit.record(self.identity, "policy.delete", f"sys/policies/{name}")

    def bind_policy(self, name: str, identity: str) -> None:
        """Bind policy ``name`` to ``identity`` (``sa:...``, ``user:...`` or ``dynamic:<engine>``, even before
        that engine exists); the caller must hold every permission the policy grants."""
        check_identity(identity)
        self._core._auth.require(self.identity, f"sys/policies/{name}", "update")
        policy = self.get_policy(name)
        self._core._auth.require_holds(self.identity, policy.rules, f"bind policy {name!r}")
        self._core.store.add_binding(name, identity)
        self._core._audit.record(self.identity, "policy.bind", f"sys/policies/{name}", bound=identity)

    def unbind_policy(self, name: str, identity: str) -> None:
        """Unbind a policy; as binding it, this needs holding every permission it grants (so a policy desk
        cannot strip the admin of ``root``)."""
        self._core._auth.require(self.identity, f"sys/policies/{name}", "update")
        policy = self._core.store.get_policy(name)
        if policy is not None:
            self._core._auth.require_holds(self.identity, policy.rules, f"unbind policy {name!r}")
        if not self._core.store.remove_binding(name, identity):
            raise NotFound(f"Policy {name!r} is not bound to {identity!r}.", policy=name, identity=identity)
        self._core._audit.record(self.identity, "policy.unbind", f"sys/policies/{name}", bound=identity)

    def list_bindings(self, name: str) -> list[str]:
        self.get_policy(name)
        return [identity for _, identity in self._core.store.list_bindings(policy=name)]

    def explain(self, identity: str, permission: str, path: str) -> Explanation:
        """May ``identity`` do ``permission`` on ``path``, and by which rule of which policy (each of a token's
        ceilings too)? Your own access always; another identity's needs ``read`` on every policy
        (``sys/policies/*``)."""
        return self._core._auth.explain(self.identity, identity, permission, path)

    def create_token(self, identity: str, ttl: Any = None, display_name: str = "") -> dict[str, Any]:
        """A bearer token for ``identity``, living ``ttl`` (default and maximum: the operator's settings);
        it can do nothing its minter cannot. The token itself is returned once and stored only as a hash."""
        check_identity(identity)
        self._core._auth.require(self.identity, "sys/tokens", "create")
        return self._core._mint(self.identity, identity, ttl, display_name)

    def own_token(self) -> Token:
        """The record of the token this session authenticated with (what Vault's ``lookup-self`` shows)."""
        token = getattr(self.identity, "token", None)
        if token is None:
            raise InvalidRequest("Only a caller that authenticated with a token has one to look up.")
        return token

    def renew_token_self(self, increment: Any = None) -> tuple[Token, bool]:
        """Renew this session's own token by ``increment`` from now, within the operator's token maximum
        (counted from its creation) and never past the token that minted it; ``(token, capped)``."""
        token, capped = renew_token(
            self._core.store, self._core.clock, self._core.settings, getattr(self.identity, "token", None), increment
        )
        self._core._audit.record(
            self.identity,
            "token.renew",
            "sys/tokens",
            accessor=token.accessor,
            expires_at=token.expires_at,
            capped=capped,
        )
        return token, capped

    def list_tokens(self, identity: str | None = None) -> list[Token]:
        self._core._auth.require(self.identity, "sys/tokens", "list")
        return self._core.store.list_tokens(identity)

    def token_self(self) -> dict[str, Any]:
        """Who this caller is: its identity and ceilings, and its token's accessor and expiry (both None for
        the vault itself, which acts as the admin without a token). Any valid token may ask."""
        token = getattr(self.identity, "token", None)
        return {
            "identity": str(self.identity),
            "accessor": token.accessor if token else None,
            "ceilings": list(getattr(self.identity, "ceilings", ())),
            "expires_at": iso(token.expires_at) if token else None,
        }

    def revoke_token(self, accessor: str) -> None:
        self._core._auth.require(self.identity, "sys/tokens", "revoke")
        if not self._core.store.revoke_token(accessor):
            raise NotFound(f"No token has the accessor {accessor!r}.", accessor=accessor)
        self._core._audit.record(self.identity, "token.revoke", "sys/tokens", accessor=accessor)

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
    ) -> EngineRecord:
        """Configure an engine; its connection is tested before it is stored."""
        return self._core._engines.create(
            self.identity, name, type, config, default_ttl, max_ttl, max_leases, max_leases_per_identity
        )

    def update_engine(
        self,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any = None,
        max_ttl: Any = None,
        max_leases: int | None = None,
        max_leases_per_identity: int | None = None,
    ) -> EngineRecord:
        return self._core._engines.update(
            self.identity, name, type, config, default_ttl, max_ttl, max_leases, max_leases_per_identity
        )

    def get_engine(self, name: str) -> EngineRecord:
        return self._core._engines.get(self.identity, name)

    def engine(self, name: str) -> Engine:
        """The live engine object (e.g. an SSH engine's ``ca_public_key()``); needs ``read`` on the engine."""
        self._core._engines.get(self.identity, name)
        return self._core._engines.live(name).engine

    def list_engines(self) -> list[EngineRecord]:
        return self._core._engines.list_engines(self.identity)

    def delete_engine(self, name: str) -> None:
        self._core._engines.delete(self.identity, name)

    def create_role(self, engine: str, name: str, **fields: Any) -> RoleRecord:
        """Define a role; its templates and TTLs are validated now, not at issue time."""
        return self._core._engines.put_role(self.identity, engine, {"name": name, **fields}, create=True)

    def update_role(self, engine: str, name: str, **fields: Any) -> RoleRecord:
        return self._core._engines.put_role(self.identity, engine, {"name": name, **fields}, create=False)

    def get_role(self, engine: str, name: str) -> RoleRecord:
        return self._core._engines.get_role(self.identity, engine, name)

    def list_roles(self, engine: str) -> list[RoleRecord]:
        return self._core._engines.list_roles(self.identity, engine)

    def delete_role(self, engine: str, name: str) -> None:
        self._core._engines.delete_role(self.identity, engine, name)

    # -- leases ---------------------------------------------------------------------------------

    def issue(
        self, engine: str, role: str, ttl: Any = None, metadata: dict[str, Any] | None = None, **params: Any
    ) -> IssuedCredentials:
        """Generate credentials for ``role`` as a lease (the guide's ``POST .../creds/{role}``)."""
        return self._core._leases.issue(self.identity, engine, role, ttl, metadata, params)

    def renew(self, lease_id: str, increment: Any = None, *, from_now: bool = False) -> RenewResult:
        """Extend a lease by ``increment`` from its current expiry, up to issue time + max_ttl
        (``from_now``: from now instead, HashiCorp Vault's rule)."""
        return self._core._leases.renew(self.identity, lease_id, increment, from_now=from_now)

    def revoke(self, lease_id: str) -> Lease:
        """Revoke a lease now (idempotent)."""
        return self._core._leases.revoke(self.identity, lease_id)

    def revoke_prefix(self, prefix: str, engine: str | None = None, role: str | None = None) -> dict[str, Any]:
        """Revoke every live lease whose id starts with ``prefix``, optionally of one engine (and one of its roles)."""
        return self._core._leases.revoke_prefix(self.identity, prefix, engine, role)

    def lookup(self, lease_id: str) -> Lease:
        return self._core._leases.lookup(self.identity, lease_id)

    def dynamic_credentials(
        self,
        engine: str,
        role: str,
        ttl: Any = None,
        metadata: dict[str, Any] | None = None,
        renew: bool = False,
        **params: Any,
    ) -> contextlib.AbstractContextManager[DynamicCredentials]:
        """Issue credentials for a ``with`` block and revoke them after it, also when it raises; ``renew=True``
        renews them in a thread meanwhile. The same as the client's (``scaivault_core.credentials``)."""
        return held(self, engine, role, ttl=ttl, metadata=metadata, renew=renew, **params)

    def list_leases(
        self,
        *,
        engine: str | None = None,
        role: str | None = None,
        identity: str | None = None,
        state: str | None = None,
        prefix: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[Lease]:
        """Leases by filter, ordered by id; page with ``after`` = the last id seen.

        ``state="live"`` for unfinished ones.
        """
        return self._core._leases.list_leases(
            self.identity,
            engine=engine,
            role=role,
            owner=identity,
            state=state,
            prefix=prefix,
            after=after,
            limit=limit,
        )

    def reconcile(self, engine: str, *, revoke: bool = False) -> dict[str, Any]:
        """Users in the engine's target that look like ours but belong to no lease; ``revoke=True`` removes them."""
        return reconcile(
            self._core.store,
            self._core._engines,
            self._core._auth,
            self._core._audit,
            self.identity,
            engine,
            revoke=revoke,
        )

    def revoke_prefix_job(self, prefix: str, engine: str | None = None, role: str | None = None) -> Job:
        """``revoke_prefix`` as a job: checked now, run in the background; follow it with ``get_job``."""
        self._core._leases.check_revoke_prefix(self.identity, prefix, engine, role)
        return self._core._jobs.start(
            self.identity, "revoke_prefix", {"prefix": prefix, "engine": engine, "role": role}
        )

    def reconcile_job(self, engine: str, *, revoke: bool = False) -> Job:
        """``reconcile`` as a job: checked now, run in the background; follow it with ``get_job``."""
        check_reconcile(self._core._engines, self._core._auth, self.identity, engine)
        return self._core._jobs.start(self.identity, "reconcile", {"engine": engine, "revoke": revoke})

    def get_job(self, job_id: str) -> Job:
        """A job this caller started, or one whose operation's grant it holds (else ``job_not_found``)."""
        return self._core._jobs.get(self.identity, job_id)

    def forget_lease(self, lease_id: str) -> Lease:
        """Operator action for an irrevocable lease: stop retrying it (the credential may remain in the target)."""
        return self._core._leases.force_forget(self.identity, lease_id)

    def metrics_text(self) -> str:
        """The Prometheus exposition (``metrics.CONTENT_TYPE``) that ``GET /v1/metrics`` serves.

        Needs ``read`` on ``sys/metrics``.
        """
        self._core._auth.require(self.identity, "sys/metrics", "read")
        return self._core.metrics.render().decode("utf-8")

    def audit_log(
        self,
        *,
        lease_id: str | None = None,
        operation: str | None = None,
        after: int = 0,
        limit: int = 100,
        identity: str | None = None,
        path_prefix: str | None = None,
        outcome: str | None = None,
        since: Any = None,
        until: Any = None,
    ) -> list[tuple[int, AuditEvent]]:
        """(id, event) pairs by filter, oldest first; page with ``after`` = the last id seen. ``since`` (inclusive)
        and ``until`` (exclusive): epoch seconds, a datetime, an ISO 8601 string, or a duration before now ("1h")."""
        self._core._auth.require(self.identity, "sys/audit", "read")
        now = self._core.clock.time()
        return self._core.store.list_audit(
            lease_id=lease_id,
            operation=operation,
            after=after,
            limit=limit,
            identity=identity,
            path_prefix=path_prefix,
            outcome=outcome,
            since=audit_time(since, "since", now),
            until=audit_time(until, "until", now),
        )

    def verify_audit_log(self) -> AuditReport:
        """Check the audit chain: OK with counts, or the first entry that was edited, deleted or moved."""
        self._core._auth.require(self.identity, "sys/audit", "read")
        return self._core._audit.verify()


@attrs.define(repr=False)
class Session(_Operations):
    """A view of a vault that acts as one identity."""

    _core: Vault
    identity: str

    def __repr__(self) -> str:
        return f"<Session {self.identity}>"


class Vault(_Operations):
    """The embedded vault. Close it (or use it as a context manager) to stop its worker and pools."""

    identity = ADMIN_IDENTITY

    def __init__(
        self,
        store: str | os.PathLike[str] | Store | None = None,
        *,
        key: bytes | str | None = None,
        key_file: str | os.PathLike[str] | None = None,
        plugin_manager: PluginManager | None = None,
        clock: Clock | None = None,
        start_worker: bool = True,
        lease_options: LeaseOptions | None = None,
        create: bool = True,
        settings: Settings | None = None,
    ) -> None:
        self._core = self
        self.settings = settings if settings is not None else Settings.load()
        self.pm = plugin_manager or make_plugin_manager()
        self.clock = clock or SystemClock()
        if store is None or isinstance(store, (str, os.PathLike)):
            store = open_store(str(store) if store is not None else self.settings.store_url(), self.pm)
        self.store = store
        try:
            if isinstance(self.store, SQLiteStore):
                self.settings.require_outside(self.store.path, "store")
            self.store.migrate()
            self.keyring = self._keyring(key, key_file, create)
            check_key(self.store, self.keyring)
        except BaseException:
            self.store.close()
            raise
        self.registry = EngineRegistry(self.pm)
        self.instance = instance_id()
        self.templates = Templates(self._template_filters())
        self._audit = Auditor(self.store, self.keyring, self.clock)
        self._auth = Authorizer(self.store, self.clock, on_denied=self._audit.denied)
        self._secrets = SecretStore(self.store, self.keyring, self._auth, self._audit, self.clock)
        self._engines = EngineManager(
            self.store, self.registry, self._secrets, self._auth, self._audit, self.templates, self.clock, self.settings
        )
        self._leases = LeaseManager(
            self.store,
            self.keyring,
            self._engines,
            self._auth,
            self._audit,
            self.pm,
            self.clock,
            self.instance,
            lease_options or LeaseOptions.from_settings(self.settings),
        )
        self._rotator = Rotator(
            self.store,
            self.keyring,
            self._secrets,
            self._engines,
            self._auth,
            self._audit,
            self.clock,
            self._rotation_handlers(),
        )
        self._jobs = JobManager(
            self.store,
            self.clock,
            self._auth,
            self._audit,
            self.instance,
            self._leases.options.claim_timeout,
            self._job_kinds(),
        )
        self.worker = ExpiryWorker(self._leases, self.store, self.clock, scheduled=self._scheduled)
        self._pools = PoolManager(self._leases, self._engines, self.store, self._audit, self.pm, self.clock)
        self._leases.pools = self._pools
        self.pool_worker = PoolWorker(self._pools)
        self._engines.pools_changed = self._pools_changed
        self._store_probe = StoreProbe(self.store)
        self.metrics = Metrics(self.store)
        self.pm.register(self.metrics)
        self._bootstrap()
        release_dead_claims(self.store, self.clock, self.instance)
        self._rotator.recover()
        if start_worker:  # a process that serves takes over the jobs of dead ones (an embedded CLI does not)
            self._jobs.take_over()
            subscribe = getattr(self.store, "subscribe", None)
            if subscribe is not None:  # a shared store announces leases other processes make due
                subscribe(self.worker.due_at)
            self.worker.start()
            self.pool_worker.start()

    def _scheduled(self) -> None:
        """What the expiry worker does besides leases, each time it wakes."""
        self._rotator.run_due()
        self._jobs.take_over()

    def _job_kinds(self) -> dict[str, Kind]:
        def revoke_prefix(who: str, params: dict[str, Any], progress: Any) -> dict[str, Any]:
            # Batches of 100 rather than 500: progress shows sooner, and each batch's claims are shorter.
            return self._leases.revoke_prefix(
                who, params["prefix"], params.get("engine"), params.get("role"), progress=progress, batch_size=100
            )

        def reconcile_engine(who: str, params: dict[str, Any], progress: Any) -> dict[str, Any]:
            return reconcile(
                self.store,
                self._engines,
                self._auth,
                self._audit,
                who,
                params["engine"],
                revoke=bool(params.get("revoke")),
                progress=progress,
            )

        return {
            "revoke_prefix": Kind(revoke_prefix, revoke_prefix_grant, merge_revoke_prefix),
            "reconcile": Kind(reconcile_engine, lambda params: engine_path(params["engine"]), merge_reconcile),
        }

    def _keyring(self, key: bytes | str | None, key_file: Any, create: bool) -> Keyring:
        if key is not None:
            return Keyring(decode_keys(key) if isinstance(key, str) else [key])
        key_file = key_file if key_file is not None else self.settings.key_file
        if key_file is None and isinstance(self.store, SQLiteStore):
            key_file = self.store.path.with_suffix(".key")
        if key_file is None and not self.settings.key:
            raise InvalidConfig(
                f"A {type(self.store).__name__} is shared by every process that opens it, so the vault key comes "
                "from configuration and never from the database: set SCAIVAULT_KEY (base64, the same in every "
                "process) or give a key file (--key-file, SCAIVAULT_KEY_FILE).",
                field="key",
            )
        if key_file is not None:
            self.settings.require_outside(key_file, "key file")
        return load_keyring(Path(key_file) if key_file else None, create=create, key=self.settings.key)

    def rotate_encryption_key(self) -> ResealCounts:
        """Re-encrypt everything stored under an older key with this vault's current key, while serving.

        Open the vault with the keyring ``NEW,OLD`` (newest first; every process sharing the store
        too), call this once, then drop OLD: it reads nothing in the store any more.
        """
        counts = reseal_all(self.store, self.keyring)
        self._audit.record(self.identity, "key.rotate", "sys/keys", key=self.keyring.current_id.hex(), **counts)
        return counts

    def _template_filters(self) -> dict[str, Any]:
        filters: dict[str, Any] = {}
        self.pm.hook.register_template_filters(register=lambda name, fn: filters.__setitem__(name, fn))
        return filters

    def _rotation_handlers(self) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = []
        self.pm.hook.register_rotation_handlers(register=lambda pattern, fn: handlers.append((pattern, fn)))
        return handlers

    def _bootstrap(self) -> None:
        """The built-in root policy, bound to the admin identity, exists in every vault."""
        if self.store.get_policy(ROOT_POLICY) is None:
            with contextlib.suppress(Exception):  # another process created it first
                self.store.put_policy(root_policy(), create=True)
        self.store.add_binding(ROOT_POLICY, ADMIN_IDENTITY)

    def __repr__(self) -> str:
        return f"<Vault store={self.store!r}>"

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers and the jobs (between batches), release engine connections, close the store."""
        self.pool_worker.stop()
        self.worker.stop()
        self._jobs.close()
        self._engines.close()
        self.store.close()
        if self.pm.is_registered(self.metrics):
            self.pm.unregister(self.metrics)

    # -- identities -----------------------------------------------------------------------------

    def as_identity(self, identity: str) -> Session:
        """A view of this vault acting as ``identity`` (policies checked on every call)."""
        return Session(self, check_identity(identity))

    def authenticate(self, token: str | None) -> Session:
        """The session for a bearer token (its identity carries the token's ceilings), or ``unauthenticated``."""
        return Session(self, self._auth.authenticate(token))

    def authenticate_remembered(self, token: str | None) -> Session | None:
        """``authenticate`` without waiting: the session if the store remembers the token as valid, else
        None (then call ``authenticate``, which queries, refuses and audits). Safe on an event loop."""
        caller = self._auth.authenticate_remembered(token)
        return None if caller is None else Session(self, caller)

    def create_admin_token(self, display_name: str = "initial admin") -> str:
        """A token for the admin identity (what ``scaivault init`` prints once). Like Vault's root token it
        does not expire and is not held to the operator's token_max_ttl: keep it offline, revoke it when done."""
        return self._mint(ADMIN_IDENTITY, ADMIN_IDENTITY, None, display_name, forever=True)["token"]

    def _mint(
        self, minter: str, identity: str, ttl: Any, display_name: str, *, forever: bool = False
    ) -> dict[str, Any]:
        token, record = mint(
            self.store, self._auth, self.clock, self.settings, minter, identity, ttl, display_name, forever=forever
        )
        self._audit.record(minter, "token.create", "sys/tokens", subject=identity, accessor=record.accessor)
        return {"token": token, "accessor": record.accessor, "identity": identity, "expires_at": iso(record.expires_at)}

    # -- operations -----------------------------------------------------------------------------

    def expire_due(self) -> int:
        """Revoke every lease that is due now (the worker does this on its own; tests call it directly)."""
        return self.worker.run_pending()

    def take_over_jobs(self) -> int:
        """Run the jobs whose process died or whose claim lapsed (the worker does this on its own; tests call it)."""
        return self._jobs.take_over()

    def fill_pools(self) -> int:
        """Bring every role's warm pool to its ``pool_size`` now; how many users were made (the pool
        worker does this on its own; tests call it directly)."""
        return self._pools.fill_all()

    def _pools_changed(self, engine: str, role: str | None) -> None:
        """A role changed or went (or its engine is re-pointed or going): its pooled users go; pools refill
        from what there is now."""
        self._pools.drain(engine, role)
        self.pool_worker.wake(engine, role)  # role None: every pool

    def plugins(self) -> list[PluginInfo]:
        """Installed plugins, their versions and engine types, and any that failed to load."""
        return plugin_infos(self.pm, self.registry)

    def readiness(self) -> dict[str, str]:
        """Whether this process can do its work.

        ``store``, ``expiry_worker`` and ``plugins``, each ``ok`` or ``failing``.
        """
        return readiness(self._store_probe, self.worker, getattr(self.pm, "load_errors", {}))
