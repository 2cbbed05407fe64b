"""Core tests: a vault on a temporary SQLite file, a manual clock, and a small in-memory engine."""

from __future__ import annotations

import attrs
import pytest

from scaivault_core import Engine, EngineUnreachable, Issued, ManualClock, Renewed, Vault, hookimpl, make_plugin_manager
from scaivault_core.leases import LeaseOptions


@attrs.define
class MemoryConfig:
    fail_revocations: int = 0


@attrs.define
class MemoryRole:
    creation_statements: list[str] = attrs.field(factory=lambda: ["create {{name}}"])


class MemoryTarget:
    """The "target system" of the memory engine: users by name, and a switch to make it unreachable."""

    def __init__(self) -> None:
        self.users: dict[str, dict] = {}
        self.down = False
        self.created: list[str] = []
        self.root_passwords: list[str] = []
        self.retired: list[str] = []
        self.refuse_rotation = False

    def check(self) -> None:
        if self.down:
            raise EngineUnreachable("memory target is down")


class MemoryEngine(Engine):
    type = "database"
    plugin = "memory"
    Config = MemoryConfig
    Role = MemoryRole
    template_fields = ("creation_statements",)
    needs_root_credentials = False
    target = MemoryTarget()

    def verify(self) -> None:
        self.target.check()

    def create(self, request):
        self.target.check()
        statements = request.render(request.role.creation_statements, self.context.render)
        self.target.users[request.username] = {"password": request.password, "until": request.expires_at,
                                               "statements": statements}
        self.target.created.append(request.username)
        return Issued(data={"username": request.username, "password": request.password})

    def renew(self, handle, role, expires_at):
        self.target.check()
        self.target.users[handle["username"]]["until"] = expires_at
        return None

    def revoke(self, handle):
        self.target.check()
        self.target.users.pop(handle["username"], None)

    def new_root_credentials(self, current):
        return {**current, "password": f"rotated-{len(self.target.root_passwords)}-{id(self)}"}

    def apply_root_credentials(self, current, new):
        self.target.check()
        if self.target.refuse_rotation:
            from scaivault_core import EngineError

            raise EngineError("password does not meet the target's policy")
        self.target.root_passwords.append(new["password"])

    def retire_root_credentials(self, old):
        self.target.retired.append(old["password"])


class MemoryPlugin:
    @hookimpl
    def register_engines(self, register):
        register(MemoryEngine)


@pytest.fixture
def target():
    MemoryEngine.target = MemoryTarget()
    return MemoryEngine.target


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def make_vault(tmp_path, clock):
    opened = []

    def make(*, plugins=(), **kwargs):
        kwargs.setdefault("plugin_manager",
                          make_plugin_manager(load_entrypoints=False, plugins=[MemoryPlugin(), *plugins]))
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("start_worker", False)
        kwargs.setdefault("lease_options", LeaseOptions(backoff_base=1.0, max_attempts=4))
        vault = Vault(tmp_path / "vault.db", **kwargs)
        opened.append(vault)
        return vault

    yield make
    for vault in opened:
        try:
            vault.close()
        except Exception:
            pass


@pytest.fixture
def vault(make_vault, target):
    vault = make_vault()
    vault.create_engine("mem", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="24h")
    vault.create_role("mem", "readonly", default_ttl="1h", max_ttl="8h")
    return vault
