"""Engine and role records, and the live ``Engine`` objects built from them (one per engine, reused)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeGuard

import attrs

from .audit import Auditor
from .auth import Authorizer
from .converter import structure
from .durations import format_duration, parse_duration
from .engine import ENGINE_TYPES, Engine, EngineContext, keeps_pools
from .engine_calls import call_engine
from .errors import (
    Conflict,
    EngineNotFound,
    InvalidConfig,
    InvalidRequest,
    PermissionDenied,
    RoleNotFound,
    ScaiVaultError,
)
from .models import EngineRecord, RoleRecord
from .operator_boundary import check_fields, resolve_command
from .plugin_manager import EngineRegistry
from .policies import check_name, engine_path, role_path
from .redaction import remember_secrets
from .secret_store import SecretStore, check_path
from .settings import Settings
from .store import Store
from .templates import CORE_VARIABLES, Templates, template_list

DEFAULT_TTL, DEFAULT_MAX_TTL = 3600, 86400
MAX_QUOTA = 10**9  # leases; a larger number means nothing and overflows the store's integers


@attrs.frozen
class LiveEngine:
    record: EngineRecord
    engine: Engine


class EngineManager:
    """Creates, validates and caches engines; the cache follows the stored record's ``updated_at``."""

    def __init__(
        self,
        store: Store,
        registry: EngineRegistry,
        secrets: SecretStore,
        authorizer: Authorizer,
        auditor: Auditor,
        templates: Templates,
        clock: Any,
        settings: Settings | None = None,
    ) -> None:
        self._store, self._registry, self._secrets, self._auth = store, registry, secrets, authorizer
        self._audit, self._templates, self._clock = auditor, templates, clock
        self._settings = settings if settings is not None else Settings()  # nothing allowed unless the operator says
        self._live: dict[str, LiveEngine] = {}
        self._roles: dict[tuple[str, str], tuple[float, RoleRecord, Any]] = {}
        self._lock = threading.RLock()
        # Called with (engine, role) when a role changes or goes, (engine, None) before an engine is
        # re-pointed or goes: the pools (pools.py) drop the users made from what is no longer there.
        self.pools_changed: Callable[[str, str | None], None] = lambda engine, role: None

    # -- engines -------------------------------------------------------------------------------

    def _record(
        self,
        name: str,
        type_: str,
        config: dict[str, Any],
        default_ttl: Any,
        max_ttl: Any,
        max_leases: int | None,
        created_at: float,
        max_leases_per_identity: int | None = None,
    ) -> tuple[EngineRecord, type[Engine]]:
        check_name(name, "name")
        if not isinstance(config, dict):
            raise InvalidConfig("config must be a JSON object.", field="config")
        config = dict(config)
        plugin = config.pop("plugin", None) if type_ == "database" else config.pop("plugin", type_)
        if type_ == "database" and not plugin:
            raise InvalidConfig(
                "config.plugin is required for type 'database' (e.g. 'postgresql').", field="config.plugin"
            )
        if type_ not in ENGINE_TYPES:
            raise InvalidConfig(f"type must be one of {', '.join(ENGINE_TYPES)}.", field="type")
        cls = self._registry.get(type_, plugin)
        root_path = config.pop("root_credentials_path", None)
        if root_path is not None:
            check_path(root_path)
        elif cls.needs_root_credentials:
            raise InvalidConfig("config.root_credentials_path is required.", field="config.root_credentials_path")
        default = parse_duration(default_ttl, "default_ttl") or DEFAULT_TTL
        maximum = parse_duration(max_ttl, "max_ttl") or max(DEFAULT_MAX_TTL, default)
        if default > maximum:
            raise InvalidConfig(
                f"default_ttl {format_duration(default)} is above max_ttl {format_duration(maximum)}.",
                field="default_ttl",
            )
        _check_quota(max_leases)
        _check_quota(max_leases_per_identity, "max_leases_per_identity")
        now = self._clock.time()
        record = EngineRecord(
            name,
            type_,
            plugin,
            config,
            root_path,
            default,
            maximum,
            max_leases,
            created_at or now,
            now,
            max_leases_per_identity,
        )
        return record, cls

    def create(
        self,
        identity: str,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any = None,
        max_ttl: Any = None,
        max_leases: int | None = None,
        max_leases_per_identity: int | None = None,
    ) -> EngineRecord:
        """Validate, connect once to prove the config works, then store."""
        with self._failures_audited(identity, "engine.create", _engine_audit_path(name)):
            return self._create(identity, name, type, config, default_ttl, max_ttl, max_leases, max_leases_per_identity)

    def _create(
        self,
        identity: str,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any,
        max_ttl: Any,
        max_leases: int | None,
        max_leases_per_identity: int | None,
    ) -> EngineRecord:
        check_name(name, "name")
        self._auth.require(identity, engine_path(name), "create")
        if self._store.get_engine(name) is not None:
            raise Conflict(f"Engine {name!r} already exists; update it with PUT.", engine=name)
        record, cls = self._record(name, type, config, default_ttl, max_ttl, max_leases, 0.0, max_leases_per_identity)
        # Whoever decides where an engine sends its root credential must be able to read it.
        self._require_caller_reads_root(identity, record.root_credentials_path, "Configuring an engine")
        self._require_root_grant(record)  # the engine's own identity must be able to read them
        engine = self._connect_and_store(record, cls, self._store.insert_engine)
        with self._lock:
            self._live[name] = LiveEngine(record, engine)
        self._audit.record(identity, "engine.create", engine_path(name), type=type, plugin=record.plugin)
        return record

    def update(
        self,
        identity: str,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any = None,
        max_ttl: Any = None,
        max_leases: int | None = None,
        max_leases_per_identity: int | None = None,
    ) -> EngineRecord:
        with self._failures_audited(identity, "engine.update", _engine_audit_path(name)):
            return self._update(identity, name, type, config, default_ttl, max_ttl, max_leases, max_leases_per_identity)

    def _update(
        self,
        identity: str,
        name: str,
        type: str,
        config: dict[str, Any],
        default_ttl: Any,
        max_ttl: Any,
        max_leases: int | None,
        max_leases_per_identity: int | None,
    ) -> EngineRecord:
        self._auth.require(identity, engine_path(name), "update")
        old = self.record(name)
        record, cls = self._record(
            name, type, config, default_ttl, max_ttl, max_leases, old.created_at, max_leases_per_identity
        )
        if (record.type, record.plugin) != (old.type, old.plugin):
            # What the engine is decides what its config may do (run commands, write files): a new
            # kind of engine is a new engine, made with create by whoever may.
            field = "type" if record.type != old.type else "config.plugin"
            raise InvalidConfig(
                f"{field} cannot change on update (engine {name!r} is {old.type}/{old.plugin}); "
                "delete the engine and create a new one.",
                field=field,
            )
        if (record.config, record.root_credentials_path) != (old.config, old.root_credentials_path):
            # Any config key may decide where the root credential goes (host, URL, endpoint, command).
            for path in dict.fromkeys((old.root_credentials_path, record.root_credentials_path)):
                self._require_caller_reads_root(identity, path, "Changing an engine's config")
        self._require_root_grant(record)
        if record.config != old.config:
            self.pools_changed(name, None)  # pooled users stand in the target as the old config reached it
        engine = self._connect_and_store(record, cls, self._store.update_engine)
        self._replace(name, LiveEngine(record, engine))
        self._audit.record(identity, "engine.update", engine_path(name))
        return record

    def _connect_and_store(
        self, record: EngineRecord, cls: type[Engine], save: Callable[[EngineRecord], None]
    ) -> Engine:
        """Build the engine, prove its config with a test connection (``verify``), then ``save`` the record."""
        engine = self._build(record, cls)
        try:
            call_engine(engine.verify)
            save(record)
        except BaseException:
            engine.close()
            raise
        return engine

    def delete(self, identity: str, name: str) -> None:
        self._auth.require(identity, engine_path(name), "delete")
        self.record(name)
        self.pools_changed(name, None)
        live = self._store.count_live_leases(name)
        if live:
            raise Conflict(
                f"Engine {name!r} still has {live} live lease(s); revoke them first "
                "(POST /v1/dynamic/leases/revoke-prefix with this engine).",
                engine=name,
                live_leases=live,
            )
        # Deleting an engine ends its identity: a later engine of the same name starts without its grants.
        unbound = [policy for policy, _ in self._store.list_bindings(identity=f"dynamic:{name}")]
        with self._store.transaction():
            self._store.delete_engine(name)
            for policy in unbound:
                self._store.remove_binding(policy, f"dynamic:{name}")
        self._replace(name, None)
        self._audit.record(identity, "engine.delete", engine_path(name), unbound=unbound or None)

    def get(self, identity: str, name: str) -> EngineRecord:
        self._auth.require(identity, engine_path(name), "read")
        return self.record(name)

    def list_engines(self, identity: str) -> list[EngineRecord]:
        self._auth.require(identity, "dynamic/engines", "list")
        return self._store.list_engines()

    def record(self, name: str) -> EngineRecord:
        record = self._store.get_engine(name)
        if record is None:
            raise EngineNotFound(f"No engine named {name!r}. List engines with GET /v1/dynamic/engines.", engine=name)
        return record

    def live(self, name: str) -> LiveEngine:
        """The engine object for ``name``, rebuilt if another process changed its record."""
        record = self.record(name)
        with self._lock:
            live = self._live.get(name)
            if live is not None and live.record.updated_at == record.updated_at:
                return live
            live = LiveEngine(record, self._build(record, self._registry.get(record.type, record.plugin)))
            self._replace(name, live)
            return live

    def _replace(self, name: str, live: LiveEngine | None) -> None:
        with self._lock:
            old = self._live.pop(name, None)
            if live is not None:
                self._live[name] = live
        if old is not None and old is not live:
            old.engine.close()

    def _build(self, record: EngineRecord, cls: type[Engine], root: Any = None) -> Engine:
        config = structure(record.config, cls.Config, where="config")
        engine: Engine | None = None  # bound below, so its templates get the engine's own `quote` filter
        check_fields(config, self._settings, "config")  # at every build: narrowed settings apply at restart
        context = EngineContext(
            name=record.name,
            config=config,
            root_credentials=root or (lambda: self.root_credentials(record)),
            render=lambda text, variables: self._templates.render(text, variables, engine),
            clock=self._clock,
            log=logging.getLogger(f"scaivault.engine.{record.name}"),
            save_root_credentials=lambda data, reason: self._save_root(record, data, reason),
            root_credential_versions=lambda: self.root_credential_versions(record),
            known_subjects=lambda names: {
                subject for subject, owner, _ in self._store.leases_by_subject(names) if owner == record.name
            },
            check_command=lambda argv, field: resolve_command(argv, self._settings, field),
        )
        engine = cls(context)
        return engine

    @contextmanager
    def _failures_audited(self, identity: str, operation: str, path: str) -> Iterator[None]:
        """A failed configuration change is audited too, its outcome the error's code."""
        try:
            yield
        except Exception as exc:
            self._audit.record(identity, operation, path, getattr(exc, "code", "internal"))
            raise

    def _require_caller_reads_root(self, identity: str, path: str | None, what: str) -> None:
        if path is None:
            return
        try:
            self._auth.require(identity, path, "read")
        except PermissionDenied:
            # Never says whether a secret exists there: the same answer either way.
            raise PermissionDenied(
                f"{what} that uses the root credentials at {path!r} needs 'read' on them: {identity} has no "
                "policy granting 'read' there.",
                identity=identity,
                path=path,
                permission="read",
            ) from None

    def _require_root_grant(self, record: EngineRecord) -> None:
        identity, path = f"dynamic:{record.name}", record.root_credentials_path
        if path and not self._auth.can(identity, path, "read"):
            raise InvalidConfig(
                f"Engine identity {identity} may not read its root credentials: bind it a policy granting "
                f"'read' on {path!r}.",
                missing_grant={"identity": identity, "path": path, "permission": "read"},
            )

    def root_credentials(self, record: EngineRecord) -> dict[str, Any]:
        """The engine's root credential, read as its own identity ``dynamic:<engine>``."""
        if not record.root_credentials_path:
            return {}
        self._require_root_grant(record)
        path = record.root_credentials_path
        try:
            data = self._secrets.read(path, identity=f"dynamic:{record.name}").data  # audited, as every read
        except ScaiVaultError:
            raise InvalidConfig(
                f"No root credentials are stored at {path!r}.", field="config.root_credentials_path"
            ) from None
        if not isinstance(data, dict):
            raise InvalidConfig(f"The root credentials at {path!r} must be a JSON object.")
        remember_secrets([data])
        return data

    def root_credential_versions(self, record: EngineRecord) -> list[dict[str, Any]]:
        """The data of every root secret version not yet retired, oldest first, read as ``dynamic:<engine>``."""
        if not record.root_credentials_path:
            return []
        self._require_root_grant(record)
        path, found = record.root_credentials_path, []
        for version in self._store.list_secret_versions(path):
            if version.retired_at is not None:
                continue
            try:
                data = self._secrets.read(path, version.version, identity=f"dynamic:{record.name}").data
            except ScaiVaultError:
                continue  # retired since it was listed
            if isinstance(data, dict):
                found.append(data)
        remember_secrets(found)
        return found

    def _save_root(self, record: EngineRecord, data: dict[str, Any], reason: str) -> None:
        # An engine that generates its own root credential (an SSH CA) stores it where it was configured,
        # as its own identity, which must be granted that write as any writer is: read alone is not enough.
        identity, path = f"dynamic:{record.name}", record.root_credentials_path
        if not path:  # the engine's config validation requires the path of an engine that stores its own
            raise InvalidConfig(
                "The engine has no root_credentials_path to store its root credentials at.",
                field="config.root_credentials_path",
            )
        permission = "update" if self._store.get_secret_version(path) is not None else "create"
        if not self._auth.can(identity, path, permission):
            raise InvalidConfig(
                f"Engine identity {identity} may not store the root credentials it generated: bind it a policy "
                f"granting {permission!r} on {path!r}.",
                field="config.root_credentials_path",
                missing_grant={"identity": identity, "path": path, "permission": permission},
            )
        self._secrets.write(identity, path, data, reason=reason)

    def reload(self, name: str) -> None:
        """Drop the live engine so the next use reconnects (after its root credential changed)."""
        self._replace(name, None)

    def probe(self, name: str, root: dict[str, Any]) -> bool:
        """Does the target accept ``root`` as this engine's credential? A throwaway engine tries it."""
        record = self.record(name)
        cls = self._registry.get(record.type, record.plugin)
        engine = self._build(record, cls, root=lambda: root)
        try:
            call_engine(engine.verify)
            return True
        except ScaiVaultError:
            return False
        finally:
            engine.close()

    def close(self) -> None:
        with self._lock:
            live, self._live = list(self._live.values()), {}
        for item in live:
            item.engine.close()

    # -- roles ---------------------------------------------------------------------------------

    def put_role(self, identity: str, engine_name: str, body: dict[str, Any], *, create: bool) -> RoleRecord:
        """Validate a role (types, templates, TTLs against the engine's) and store it."""
        name = body.get("name") if isinstance(body, dict) else None
        path = role_path(engine_name, name) if _valid_name(engine_name) and _valid_name(name) else "dynamic/engines"
        with self._failures_audited(identity, "role.create" if create else "role.update", path):
            return self._put_role(identity, engine_name, body, create=create)

    def _put_role(self, identity: str, engine_name: str, body: dict[str, Any], *, create: bool) -> RoleRecord:
        if not isinstance(body, dict):
            raise InvalidRequest("A role is a JSON object.")
        body = dict(body)
        name = check_name(body.pop("name", None), "name")
        self._auth.require(identity, role_path(engine_name, name), "create" if create else "update")
        live = self.live(engine_name)
        existing = self._store.get_role(engine_name, name)
        if create and existing is not None:
            raise Conflict(f"Role {name!r} already exists on engine {engine_name!r}; update it with PUT.", role=name)
        if not create and existing is None:
            raise RoleNotFound(f"Engine {engine_name!r} has no role {name!r}.", engine=engine_name, role=name)
        default = parse_duration(body.pop("default_ttl", None), "default_ttl")
        maximum = parse_duration(body.pop("max_ttl", None), "max_ttl")
        max_leases, per_identity = body.pop("max_leases", None), body.pop("max_leases_per_identity", None)
        _check_quota(max_leases)
        _check_quota(per_identity, "max_leases_per_identity")
        engine_max = live.record.max_ttl
        for field, value in (("default_ttl", default), ("max_ttl", maximum)):
            if value is not None and value > engine_max:
                raise InvalidConfig(
                    f"{field} {format_duration(value)} is above the engine's max_ttl {format_duration(engine_max)}.",
                    field=field,
                )
        if default is not None and maximum is not None and default > maximum:
            raise InvalidConfig(
                f"default_ttl {format_duration(default)} is above max_ttl {format_duration(maximum)}.",
                field="default_ttl",
            )
        typed = self._typed_role(live.engine, body)
        if live.engine.role_receives_root_credentials(typed) or self._routed_root(live.engine, existing):
            self._require_caller_reads_root(
                identity, live.record.root_credentials_path, "A role that sends the root credentials somewhere"
            )
        now = self._clock.time()
        record = RoleRecord(
            engine_name,
            name,
            body,
            default,
            maximum,
            max_leases,
            existing.created_at if existing else now,
            now,
            per_identity,
        )
        (self._store.insert_role if create else self._store.update_role)(record)
        self._audit.record(identity, "role.create" if create else "role.update", role_path(engine_name, name))
        with self._lock:
            self._roles[(engine_name, name)] = (now, record, typed)
        self.pools_changed(engine_name, name)
        return record

    @staticmethod
    def _routed_root(engine: Engine, existing: RoleRecord | None) -> bool:
        """Whether the stored role (before this update) sends the root credentials somewhere."""
        if existing is None:
            return False
        try:
            return engine.role_receives_root_credentials(structure(existing.params, type(engine).Role, where="role"))
        except ScaiVaultError:
            return True  # unreadable now: assume the worst rather than let anyone rewrite it

    def _typed_role(self, engine: Engine, params: dict[str, Any]) -> Any:
        typed = structure(params, type(engine).Role, where="role")
        check_fields(typed, self._settings)
        allowed = (*CORE_VARIABLES, *type(engine).template_variables)
        for field in type(engine).template_fields:
            self._templates.validate(field, template_list(getattr(typed, field, None)), allowed, engine)
        engine.validate_role(typed)
        if getattr(typed, "pool_size", 0) and not keeps_pools(engine):
            raise InvalidConfig(
                f"The {engine.plugin} engine keeps no warm pools: leave pool_size out.", field="pool_size"
            )
        return typed

    def role(self, engine_name: str, name: str) -> tuple[RoleRecord, Any]:
        """The stored role and its typed form (cached while unchanged)."""
        record = self._stored_role(engine_name, name)
        with self._lock:
            cached = self._roles.get((engine_name, name))
            if cached and cached[0] == record.updated_at:
                return record, cached[2]
        typed = structure(record.params, type(self.live(engine_name).engine).Role, where="role")
        check_fields(typed, self._settings)  # at every load: narrowed settings apply to stored roles too
        with self._lock:
            self._roles[(engine_name, name)] = (record.updated_at, record, typed)
        return record, typed

    def get_role(self, identity: str, engine_name: str, name: str) -> RoleRecord:
        self._auth.require(identity, role_path(engine_name, name), "read")
        self.record(engine_name)
        # As stored, without building the engine: a role the operator no longer allows stays readable, to fix.
        return self._stored_role(engine_name, name)

    def _stored_role(self, engine_name: str, name: str) -> RoleRecord:
        record = self._store.get_role(engine_name, name)
        if record is None:
            raise RoleNotFound(f"Engine {engine_name!r} has no role {name!r}.", engine=engine_name, role=name)
        return record

    def list_roles(self, identity: str, engine_name: str) -> list[RoleRecord]:
        self._auth.require(identity, f"{engine_path(engine_name)}/roles", "list")
        self.record(engine_name)
        return self._store.list_roles(engine_name)

    def delete_role(self, identity: str, engine_name: str, name: str) -> None:
        """Delete a role; its leases keep what revocation needs and stay revocable."""
        self._auth.require(identity, role_path(engine_name, name), "delete")
        self.record(engine_name)
        if not self._store.delete_role(engine_name, name):
            raise RoleNotFound(f"Engine {engine_name!r} has no role {name!r}.", engine=engine_name, role=name)
        with self._lock:
            self._roles.pop((engine_name, name), None)
        self._audit.record(identity, "role.delete", role_path(engine_name, name))
        self.pools_changed(engine_name, name)


def _valid_name(name: Any) -> TypeGuard[str]:
    try:
        check_name(name, "name")
        return True
    except InvalidRequest:
        return False


def _engine_audit_path(name: Any) -> str:
    return engine_path(name) if _valid_name(name) else "dynamic/engines"


def _check_quota(limit: Any, field: str = "max_leases") -> None:
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= MAX_QUOTA):
        raise InvalidConfig(f"{field} must be a whole number from 0 to {MAX_QUOTA:,}.", field=field)
