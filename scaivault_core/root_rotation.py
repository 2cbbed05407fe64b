"""Rotating root credentials: on demand, on a schedule, and safe against a crash at any step.

The protocol, for a secret that is an engine's ``root_credentials_path``::

    new = engine.new_root_credentials(current)     # a fresh credential (cloud engines mint it there)
    store.begin_rotation(path, seal(new))           # recorded, encrypted, before the target changes
    engine.apply_root_credentials(current, new)     # the target now takes the new one
    commit: new secret version + end_rotation       # one transaction
    retire the old version now (grace "0") or when the grace period ends

A rotation found pending at start-up is finished: apply again (the old credential still works,
so the target never changed) or, if the target already took the new one, just commit it. Either
way the vault keeps a working root credential.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .audit import Auditor
from .auth import Authorizer
from .crypto import Keyring
from .durations import parse_duration
from .engine_calls import call_engine
from .engine_manager import EngineManager
from .errors import EngineError, InvalidConfig, InvalidRequest, ScaiVaultError
from .models import SecretVersion
from .path_patterns import matches
from .redaction import remember_secrets
from .secret_store import SecretStore, check_path
from .store import Store

log = logging.getLogger("scaivault.rotation")
SYSTEM = "system:scheduler"


class Rotator:
    def __init__(
        self,
        store: Store,
        keyring: Keyring,
        secrets: SecretStore,
        engines: EngineManager,
        authorizer: Authorizer,
        auditor: Auditor,
        clock: Any,
        handlers: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]],
    ) -> None:
        self._store, self._keyring, self._secrets, self._engines = store, keyring, secrets, engines
        self._auth, self._audit, self._clock, self._handlers = authorizer, auditor, clock, handlers

    def _engine_for(self, path: str) -> str | None:
        for record in self._store.list_engines():
            if record.root_credentials_path == path:
                return record.name
        return None

    def _handler_for(self, path: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        return next((handler for pattern, handler in self._handlers if matches(pattern, path)), None)

    def rotate(
        self, identity: str, path: str, reason: str | None = None, grace_period: Any = None, *, scheduled: bool = False
    ) -> SecretVersion:
        """Rotate the secret at ``path`` (``rotate`` permission); returns the new version, without its value.

        A ``scheduled`` rotation was allowed when its schedule was set, so the scheduler needs no grant
        of its own; an engine's root credential needs the engine's ``rotate`` grant either way.
        """
        check_path(path)
        if not scheduled:
            self._auth.require(identity, path, "rotate")
        grace = parse_duration(grace_period, "grace_period") or 0
        engine_name = self._engine_for(path)
        handler = None if engine_name else self._handler_for(path)
        if engine_name is None and handler is None:
            raise InvalidRequest(
                f"{path!r} is no engine's root credential and no rotation handler covers it; "
                "register one with the register_rotation_handlers hook.",
                path=path,
            )
        if engine_name:
            self._require_engine_may_rotate(engine_name, path)
        current = self._secrets.read(path)
        if engine_name:
            version = self._rotate_engine_root(identity, path, engine_name, current, reason, grace)
        else:
            assert handler is not None  # refused above when neither an engine nor a handler covers the path
            new = call_engine(handler, dict(current.data))
            version = self._commit(identity, path, None, new, reason)
        self._retire_later(path, current.version, grace, engine_name)
        self._audit.record(identity, "secret.rotate", path, version=version.version, reason=reason, grace_period=grace)
        version.data = None
        return version

    def _rotate_engine_root(
        self, identity: str, path: str, engine_name: str, current: SecretVersion, reason: str | None, grace: int
    ) -> SecretVersion:
        engine = self._engines.live(engine_name).engine
        new = call_engine(engine.new_root_credentials, dict(current.data))
        if new is None:
            raise InvalidRequest(f"The {engine.plugin} engine cannot rotate its root credential.", engine=engine_name)
        remember_secrets([new])
        self._store.begin_rotation(
            path,
            engine_name,
            self._keyring.encrypt_json(new, f"rotation:{path}"),
            identity,
            reason,
            grace,
            self._clock.time(),
        )
        try:
            call_engine(engine.apply_root_credentials, dict(current.data), new)
        except ScaiVaultError as exc:
            self._store.end_rotation(path)  # the target refused: the old credential stays in force
            raise EngineError(
                f"The target refused the new root credential; the old one stays in force. {exc.message}",
                engine=engine_name,
            ) from None
        return self._commit(identity, path, engine_name, new, reason)

    def _commit(
        self, identity: str, path: str, engine_name: str | None, new: dict[str, Any], reason: str | None
    ) -> SecretVersion:
        with self._store.transaction():
            version = self._secrets.write(identity, path, new, reason=reason or "rotation")
            self._store.end_rotation(path)
        if engine_name:
            self._engines.reload(engine_name)  # pooled connections reconnect with the new credential
        return version

    def _retire_later(self, path: str, version: int, grace: int, engine_name: str | None) -> None:
        if grace:
            self._store.schedule_retirement(path, version, self._clock.time() + grace)
        else:
            self.retire(path, version, engine_name)

    def retire(self, path: str, version: int, engine_name: str | None = None) -> None:
        """End a previous version: invalidate it in the target where that is separate, then destroy it."""
        engine_name = engine_name or self._engine_for(path)
        try:
            old = self._secrets.read(path, version)
        except ScaiVaultError:
            return  # already retired
        if engine_name:
            engine = self._engines.live(engine_name).engine
            call_engine(engine.retire_root_credentials, dict(old.data))
        self._store.retire_secret_version(path, version, self._clock.time())
        self._audit.record(SYSTEM, "secret.retire", path, version=version)

    def run_due(self) -> int:
        """Retire versions whose grace period ended and rotate secrets whose period came round."""
        done = 0
        now = self._clock.time()
        for path, version in self._store.due_retirements(now):
            try:
                self.retire(path, version)
                done += 1
            except ScaiVaultError as exc:
                log.warning("retiring %s version %d failed, will retry: %s", path, version, exc.message)
                self._store.schedule_retirement(path, version, now + 60)
        for path, grace in self._store.claim_due_rotations(now):
            try:
                self.rotate(
                    self._rotating_identity(path), path, reason="scheduled rotation", grace_period=grace, scheduled=True
                )
                done += 1
            except ScaiVaultError as exc:
                log.error("scheduled rotation of %s failed: %s", path, exc.message)
        return done

    def _require_engine_may_rotate(self, engine_name: str, path: str) -> None:
        """An engine's root credential rotates as the engine (DESIGN.md): ``dynamic:<engine>`` needs ``rotate``
        there too, whoever asks, so a schedule cannot be accepted now and fail every period later."""
        identity = f"dynamic:{engine_name}"
        if not self._auth.can(identity, path, "rotate"):
            raise InvalidConfig(
                f"Engine identity {identity} may not rotate its root credentials: bind it a policy granting "
                f"'rotate' on {path!r}.",
                missing_grant={"identity": identity, "path": path, "permission": "rotate"},
            )

    def _rotating_identity(self, path: str) -> str:
        engine_name = self._engine_for(path)
        return f"dynamic:{engine_name}" if engine_name else SYSTEM

    def set_period(self, identity: str, path: str, period: Any, grace_period: Any = None) -> None:
        """Rotate ``path`` every ``period`` (None or "0" stops it), keeping the previous version for
        ``grace_period`` each time; needs ``rotate`` on the path."""
        check_path(path)
        self._auth.require(identity, path, "rotate")
        seconds = parse_duration(period, "rotation_period") or None
        grace = parse_duration(grace_period, "grace_period") or 0
        if seconds and grace >= seconds:
            raise InvalidRequest("grace_period must be shorter than the rotation period.", field="grace_period")
        if seconds:  # refuse now what would only fail, in a log line, when it comes due
            self._secrets.read(path)
            engine_name = self._engine_for(path)
            if engine_name is None and self._handler_for(path) is None:
                raise InvalidRequest(
                    f"{path!r} is no engine's root credential and no rotation handler covers it.", path=path
                )
            if engine_name:
                self._require_engine_may_rotate(engine_name, path)
        self._store.set_rotation_period(path, seconds, self._clock.time() + seconds if seconds else None, grace)
        self._audit.record(identity, "secret.rotation_period", path, period=seconds, grace_period=grace)

    def recover(self) -> None:
        """Finish rotations a crash interrupted, so the vault always holds a working root credential."""
        for pending in self._store.pending_rotations():
            path, engine_name = pending["path"], pending["engine"]
            new = self._keyring.decrypt_json(pending["sealed_new"], f"rotation:{path}")
            remember_secrets([new])
            current = self._secrets.read(path)
            engine = self._engines.live(engine_name).engine
            try:
                call_engine(engine.apply_root_credentials, dict(current.data), new)
            except ScaiVaultError:
                if not self._engines.probe(engine_name, new):  # did the target already take it?
                    log.error("rotation of %s could not be finished; the old credential stays", path)
                    self._store.end_rotation(path)
                    continue
            self._commit(pending["identity"], path, engine_name, new, pending["reason"])
            self._retire_later(path, current.version, pending["grace_period"], engine_name)
            log.warning("finished an interrupted rotation of %s", path)
