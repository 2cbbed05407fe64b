"""An engine whose target lives in memory: the core's own test engine, and the smallest complete example.

A ``MemoryTarget`` stands for the target system: users with passwords and expiry, an admin
password the root credential must match (if it has one), and switches that make it unreachable
or refuse the next operations. It keeps what happened to it (``calls``, the root passwords
rotation applied and retired) for tests to check. ``hang`` holds an operation until the test lets it go,
as a target that stops answering mid-call would. Engines find their target by name
(``config.target``, default ``"default"``), because the core builds engine objects from stored
config, never from a test's objects.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from typing import Any

import attrs

from ..engine import Engine, Issued, IssueRequest, LeaseLimits, Renewed
from ..errors import EngineError, EngineUnreachable, InvalidConfig
from ..hookspecs import hookimpl

DEFAULT_TARGET = "default"
"""The target an engine config without ``target`` uses: ``MemoryTarget.new(name=DEFAULT_TARGET)`` registers it."""

_targets: dict[str, MemoryTarget] = {}
_counter = itertools.count(1)
_lock = threading.Lock()


@attrs.define
class MemoryUser:
    password: str = attrs.field(repr=False)
    expires_at: float
    permissions: list[str] = attrs.field(factory=list)  # as rendered from the role's templates
    engine: str = ""  # which engine made the user: the target's mark, read by list_subjects
    locked: bool = False  # a warm pool's user: no login until activated


class MemoryTarget:
    """A target system in memory. ``MemoryTarget.new()`` registers one under a fresh name."""

    def __init__(self, name: str, admin_password: str | None = None) -> None:
        self.name = name
        self.admin_password = admin_password
        self.users: dict[str, MemoryUser] = {}
        self.down = False  # every operation finds the target unreachable
        self.down_for: set[str] = set()  # only these operations do, as if part of the target were cut off
        self.refuse: dict[str, int] = {}  # operation -> how many more times to refuse it
        self.hang: dict[str, threading.Event] = {}  # operation -> it waits until the event is set
        self.calls: list[tuple[str, str]] = []  # (operation, username), in order
        self.root_passwords: list[str] = []  # every admin password rotation applied, in order
        self.retired: list[str] = []  # every admin password rotation retired, in order
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemoryTarget {self.name} users={len(self.users)}{' down' if self.down else ''}>"

    @classmethod
    def new(cls, admin_password: str | None = None, *, name: str | None = None) -> MemoryTarget:
        """A fresh target, registered so an engine config ``{"target": t.name}`` finds it.

        ``name`` registers it under that name instead of a new one, replacing any target there.
        """
        with _lock:
            target = cls(name or f"memory-{next(_counter)}", admin_password)
            _targets[target.name] = target
        return target

    @staticmethod
    def get(name: str) -> MemoryTarget:
        with _lock:
            try:
                return _targets[name]
            except KeyError:
                raise InvalidConfig(f"No memory target named {name!r}.", field="config.target") from None

    def forget(self) -> None:
        """Unregister (tests call this at teardown)."""
        with _lock:
            if _targets.get(self.name) is self:
                del _targets[self.name]

    def login(self, username: str, password: str, now: float | None = None) -> bool:
        """Whether ``username``/``password`` would be accepted (at ``now``, if given)."""
        user = self.users.get(username)
        return (
            user is not None
            and not user.locked
            and user.password == password
            and (now is None or now < user.expires_at)
        )

    def _enter(self, operation: str, username: str = "") -> None:
        if (held := self.hang.get(operation)) is not None:
            held.wait()
        if self.down or operation in self.down_for:
            raise EngineUnreachable(f"Memory target {self.name} is down.")
        with self._lock:
            self.calls.append((operation, username))
            if self.refuse.get(operation, 0) > 0:
                self.refuse[operation] -= 1
                raise EngineError(f"Memory target {self.name} refused {operation}.")


@attrs.define
class MemoryConfig:
    target: str = DEFAULT_TARGET
    renewable: bool = True
    max_ttl: int | None = None  # seconds: a ceiling the "target" imposes, as STS does


@attrs.define
class MemoryRole:
    permissions: list[str] = attrs.field(factory=lambda: ["read:{{name}}"])
    pool_size: int = 0  # users kept ready ahead of time (warm pools)


class MemoryEngine(Engine):
    """``type: database``, ``plugin: memory``: users in a ``MemoryTarget``."""

    type = "database"
    plugin = "memory"
    lease_prefix = "db"
    Config = MemoryConfig
    Role = MemoryRole
    template_fields = ("permissions",)
    needs_root_credentials = False
    marks_subjects = True

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.target = MemoryTarget.get(self.config.target)

    def verify(self) -> None:
        self.target._enter("verify")
        if self.target.admin_password is not None:
            root = self.context.root_credentials()
            if root.get("password") != self.target.admin_password:
                raise InvalidConfig(f"Memory target {self.target.name} refused the root credentials.")

    def validate_role(self, role: MemoryRole) -> None:
        if not role.permissions:
            raise InvalidConfig("permissions needs at least one entry.", field="permissions")

    def limits(self, role: MemoryRole) -> LeaseLimits:
        return LeaseLimits(
            renewable=self.config.renewable, max_ttl=self.config.max_ttl, reason="the memory target's own limit"
        )

    def create(self, request: IssueRequest) -> Issued:
        self.target._enter("create", request.username)
        permissions = request.render(request.role.permissions, self.context.render)
        self.target.users[request.username] = MemoryUser(
            request.password, request.expires_at, permissions, engine=self.context.name
        )
        return Issued(data={"username": request.username, "password": request.password})

    def create_pooled(self, requests: list[IssueRequest]) -> list[Issued]:
        """Locked users with the role's permissions (all of the batch, or none if the target refuses)."""
        self.target._enter("create_pooled", requests[0].username)
        for request in requests:
            permissions = request.render(request.role.permissions, self.context.render)
            self.target.users[request.username] = MemoryUser(
                request.password, request.expires_at, permissions, engine=self.context.name, locked=True
            )
        return [Issued(data={}) for _ in requests]

    def activate(self, handle: dict[str, Any], request: IssueRequest) -> Issued:
        self.target._enter("activate", request.username)
        user = self.target.users[request.username]
        user.password, user.expires_at, user.locked = request.password, request.expires_at, False
        return Issued(data={"username": request.username, "password": request.password})

    def renew(self, handle: dict[str, Any], role: MemoryRole | None, expires_at: float) -> Renewed | None:
        self.target._enter("renew", handle["username"])
        user = self.target.users.get(handle["username"])
        if user is not None:
            user.expires_at = expires_at
        return None

    def revoke(self, handle: dict[str, Any]) -> None:
        self.target._enter("revoke", handle["username"])
        self.target.users.pop(handle["username"], None)  # already gone is success

    def list_subjects(self) -> list[str]:
        self.target._enter("list")
        return sorted(name for name, user in self.target.users.items() if user.engine == self.context.name)

    def revoke_subject(self, subject: str) -> None:
        self.revoke({"username": subject})

    # Root rotation: the admin password changes in the target; the old one is retired after the grace period.

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        return {**current, "password": secrets.token_urlsafe(18)}

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        self.target._enter("rotate")
        if self.target.admin_password is not None:
            self.target.admin_password = new["password"]
        self.target.root_passwords.append(new["password"])

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        self.target._enter("retire")
        self.target.retired.append(old["password"])


class MemoryPlugin:
    """Registers ``MemoryEngine``: ``make_plugin_manager(load_entrypoints=False, plugins=[MemoryPlugin()])``."""

    @hookimpl
    def register_engines(self, register):
        register(MemoryEngine)
