"""The contract every engine plugin runs against itself: ``class TestContract(EngineContract)``.

The suite drives a real vault (a temporary SQLite file, a manual clock, no background worker)
against the plugin's real target, through the same public calls a front end makes. A plugin
provides the target and four answers; everything else is checked here, the same way for every
engine, ours or a third party's::

    from scaivault_core.testing import EngineContract

    class TestContract(EngineContract):
        engine_class = AcmeEngine

        @pytest.fixture
        def target(self, tmp_path):            # set up (and tear down) what the engine talks to
            yield AcmeServer(tmp_path)

        def engine_config(self, target, address):
            return {"url": f"http://{address[0]}:{address[1]}"}

        def root_credentials(self, target):
            return {"api_key": target.admin_key}

        def target_address(self, target):      # the suite puts a TCPProxy in front of this
            return target.host, target.port

        def role(self, target):
            return {"groups": ["readers"]}

        def credential_works(self, target, issued):
            return target.login(issued.data["username"], issued.data["password"])

See docs/plugins/guide.md for the whole list of hooks and what each case proves.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from ..clock import ManualClock
from ..engine import Engine, Issued, IssueRequest
from ..errors import EngineError, EngineNotFound, EngineUnreachable, InvalidConfig, InvalidRequest, ScaiVaultError
from ..hookspecs import hookimpl
from ..leases import LeaseOptions
from ..models import IssuedCredentials, Lease, LeaseState
from ..plugin_manager import make_plugin_manager
from ..settings import Settings
from ..templates import generate_username
from ..vault import Vault
from .proxy import TCPProxy
from .vaults import VaultFactory

ROOT_PATH = "contract/engine/root"
ENGINE_POLICY = "contract-engine-root"
SECRET_KEY = re.compile(r"pass|secret|token|key|private|credential|cert", re.IGNORECASE)
_MIN_SECRET = 6  # shorter values would match ordinary words in messages


class SimulatedCrash(BaseException):
    """Raised inside ``create`` to stand for the process dying there: nothing in the core catches it."""


class EngineContract:
    """Base class of a plugin's contract tests. Provide the marked hooks; the ``test_*`` methods are the contract."""

    # -- what a plugin provides ------------------------------------------------------------------

    engine_class: ClassVar[type[Engine]]
    """The ``Engine`` subclass under test."""
    engine_name: ClassVar[str] = "contract"
    role_name: ClassVar[str] = "contract"
    lease_options: ClassVar[LeaseOptions] = LeaseOptions(backoff_base=1.0, backoff_max=5.0, max_attempts=6)

    @pytest.fixture
    def target(self) -> Iterator[Any]:
        """Override: set up the target system for one test, yield whatever the hooks below need, clean up."""
        yield None

    def engine_config(self, target: Any, address: tuple[str, int] | None) -> dict[str, Any]:
        """Provide: the engine's ``config`` (without ``root_credentials_path``; ``plugin`` is added for databases).

        ``address`` is where the engine must connect to reach the target: the suite's proxy when
        ``target_address`` gives one, else None.
        """
        raise NotImplementedError("EngineContract.engine_config must be provided")

    def root_credentials(self, target: Any) -> dict[str, Any] | None:
        """Provide if the engine uses one: the root credential, stored at ``ROOT_PATH`` and readable by the engine."""
        return None

    def target_address(self, target: Any) -> tuple[str, int] | None:
        """Provide for a TCP target: its (host, port); the suite then relays it through a ``TCPProxy``."""
        return None

    def make_unreachable(self, target: Any, proxy: TCPProxy | None) -> None:
        """Cut the engine off its target. The default stops the proxy; override for a non-TCP target."""
        if proxy is None:
            pytest.skip("no target_address and no make_unreachable: cannot make the target unreachable")
        proxy.stop()

    def make_reachable(self, target: Any, proxy: TCPProxy | None) -> None:
        """Undo ``make_unreachable``."""
        if proxy is not None:
            proxy.start()

    def role(self, target: Any) -> dict[str, Any]:
        """Provide: the role's engine-specific fields (the suite adds ``default_ttl`` 1h and ``max_ttl`` 3h)."""
        raise NotImplementedError("EngineContract.role must be provided")

    def credential_works(self, target: Any, issued: IssuedCredentials) -> bool:
        """Provide: whether the target accepts the credential in ``issued.data`` right now."""
        raise NotImplementedError("EngineContract.credential_works must be provided")

    def credential_expiry(self, target: Any, issued: IssuedCredentials) -> float | None:
        """Provide if the target records an expiry: it, as epoch seconds (checked against the lease after renew)."""
        return None

    def bad_configs(
        self, target: Any, address: tuple[str, int] | None
    ) -> dict[str, tuple[dict[str, Any], dict[str, Any] | None]]:
        """Provide: named (config, root credentials) pairs that must be refused with ``invalid_config``.

        The suite always adds an unknown config field. Include a root credential the target refuses.
        """
        return {}

    def create_foreign_user(self, target: Any, name: str) -> None:
        """Provide if the engine lists its users (``list_subjects``): make user ``name`` in the target
        directly, as someone other than the vault would. The suite checks that reconcile leaves it alone."""
        pytest.skip("create_foreign_user is not provided: cannot check that list_subjects leaves others' users out")

    def drop_foreign_user(self, target: Any, name: str) -> None:
        """Provide with ``create_foreign_user``: remove that user again (it runs even if the test failed)."""

    def secret_values(self, data: dict[str, Any]) -> list[str]:
        """The values in ``data`` that must never be logged or shown: by default those under secret-sounding keys."""
        found: list[str] = []
        for key, value in data.items():
            if isinstance(value, dict):
                found += self.secret_values(value)
            elif isinstance(value, str) and SECRET_KEY.search(key) and len(value) >= _MIN_SECRET:
                found.append(value)
        return found

    # -- the suite's own fixtures ----------------------------------------------------------------

    @pytest.fixture
    def contract_clock(self) -> ManualClock:
        return ManualClock(start=float(int(time.time())))

    @pytest.fixture
    def contract_proxy(self, target: Any) -> Iterator[TCPProxy | None]:
        upstream = self.target_address(target)
        if upstream is None:
            yield None
            return
        proxy = TCPProxy(upstream).start()
        try:
            yield proxy
        finally:
            proxy.stop()

    @pytest.fixture
    def contract_settings(self) -> Settings:
        """Override (a fixture) if the engine runs commands or uses files: the operator's ``Settings``
        that allow them (``command_dirs``, ``file_dirs``). The default allows nothing."""
        return Settings()

    @pytest.fixture
    def open_vault(self, tmp_path: Any, contract_clock: ManualClock, contract_settings: Settings) -> Iterator[Any]:
        """``open_vault(engine_class=None)``: a vault on this test's store; reopening stands for a restart."""
        factory = VaultFactory(
            tmp_path / "contract.db",
            clock=contract_clock,
            start_worker=False,
            lease_options=self.lease_options,
            settings=contract_settings,
        )

        def open_(engine_class: type[Engine] | None = None) -> Vault:
            pm = make_plugin_manager(load_entrypoints=False, plugins=[_Registers(engine_class or self.engine_class)])
            return factory(plugin_manager=pm)

        yield open_
        factory.close_all()

    @pytest.fixture
    def vault(self, open_vault: Any, target: Any, contract_proxy: TCPProxy | None) -> Vault:
        """A vault with the engine configured and the role defined."""
        vault = open_vault()
        self.configure(vault, target, contract_proxy)
        return vault

    # -- helpers ---------------------------------------------------------------------------------

    def configure(
        self,
        vault: Vault,
        target: Any,
        proxy: TCPProxy | None,
        *,
        config: dict[str, Any] | None = None,
        root: dict[str, Any] | None = None,
        role: bool = True,
    ) -> None:
        """Store the root credential, grant the engine's identity ``read`` on it, create the engine and role."""
        root = self.root_credentials(target) if root is None else root
        if config is None:
            config = self.engine_config(target, proxy.address if proxy else None)
        config = dict(config)
        if self.engine_class.type == "database":
            config.setdefault("plugin", self.engine_class.plugin)
        if root is not None:
            vault.put_secret(ROOT_PATH, root)
            if ENGINE_POLICY not in {p.name for p in vault.list_policies()}:
                vault.create_policy(ENGINE_POLICY, [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}])
            vault.bind_policy(ENGINE_POLICY, f"dynamic:{self.engine_name}")
            config["root_credentials_path"] = ROOT_PATH
        vault.create_engine(self.engine_name, self.engine_class.type, config, default_ttl="1h", max_ttl="24h")
        if role:
            vault.create_role(
                self.engine_name, self.role_name, **{"default_ttl": "1h", "max_ttl": "3h", **self.role(target)}
            )

    def issue(self, vault: Vault, **kwargs: Any) -> IssuedCredentials:
        return vault.issue(self.engine_name, self.role_name, **kwargs)

    def live_engine(self, vault: Vault) -> Engine:
        """The engine object the vault uses, for calling its methods directly."""
        return vault._engines.live(self.engine_name).engine

    def secrets_of(self, target: Any, *issued: IssuedCredentials) -> list[str]:
        values = self.secret_values(self.root_credentials(target) or {})
        for item in issued:
            values += self.secret_values(item.data)
        return values

    # -- the contract ----------------------------------------------------------------------------

    def test_create_then_revoke(self, vault: Vault, target: Any) -> None:
        """An issued credential works in the target; once revoked, it no longer does."""
        issued = self.issue(vault, metadata={"ticket": "CONTRACT-1"})
        assert issued.lease_id.startswith(f"lease_{self.engine_class.lease_prefix}_")
        assert vault.lookup(issued.lease_id).state == LeaseState.ACTIVE
        assert self.credential_works(target, issued), "a freshly issued credential must work"
        revoked = vault.revoke(issued.lease_id)
        assert revoked.state == LeaseState.REVOKED
        assert not self.credential_works(target, issued), "a revoked credential must stop working"

    def test_expiry_revokes(self, vault: Vault, target: Any, contract_clock: ManualClock) -> None:
        """At expiry the worker's pass revokes the credential in the target."""
        issued = self.issue(vault)
        contract_clock.advance(issued.expires_at - contract_clock.time() + 1)
        assert vault.expire_due() >= 1
        assert vault.lookup(issued.lease_id).state == LeaseState.REVOKED
        assert not self.credential_works(target, issued)

    def test_revoke_twice_succeeds(self, vault: Vault, target: Any) -> None:
        """Revoking again, through the vault or the engine itself, is success."""
        issued = self.issue(vault)
        handle = _record(issued).handle
        vault.revoke(issued.lease_id)
        assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED
        engine = self.live_engine(vault)
        engine.revoke(handle)
        engine.revoke(handle)
        assert engine.revoke_many([handle, handle]) == [None, None]
        assert not self.credential_works(target, issued)

    def test_revoke_of_credential_already_gone_succeeds(self, vault: Vault, target: Any) -> None:
        """A credential someone removed from the target behind the vault's back still revokes cleanly."""
        issued = self.issue(vault)
        self.live_engine(vault).revoke(_record(issued).handle)  # removed out of band
        assert not self.credential_works(target, issued)
        assert vault.revoke(issued.lease_id).state == LeaseState.REVOKED

    def test_renew_extends_up_to_max(self, vault: Vault, target: Any) -> None:
        """Renew adds the increment to the current expiry, capped at issue time + max_ttl, and says when capped."""
        issued = self.issue(vault)
        lease = _record(issued)
        if not lease.renewable:
            with pytest.raises(InvalidRequest):
                vault.renew(issued.lease_id, "1h")
            return
        # The role allows 3h; a target's own ceiling (limits().max_ttl) may lower it.
        wanted = lease.expires_at + 1800
        first = vault.renew(issued.lease_id, "30m")
        assert first.capped == (wanted > lease.max_expires_at)
        assert first.expires_at == min(wanted, lease.max_expires_at)
        self._check_target_expiry(target, issued, first.expires_at)
        assert self.credential_works(target, issued), "a renewed credential must keep working"
        second = vault.renew(issued.lease_id, "3h")
        assert second.capped
        assert second.expires_at == lease.max_expires_at
        self._check_target_expiry(target, issued, second.expires_at)
        assert self.credential_works(target, issued)

    def _check_target_expiry(self, target: Any, issued: IssuedCredentials, expected: float) -> None:
        actual = self.credential_expiry(target, issued)
        if actual is not None:
            assert abs(actual - expected) <= 2, f"target expiry {actual} differs from the lease's {expected}"

    def test_unreachable_at_configure(self, open_vault: Any, target: Any, contract_proxy: TCPProxy | None) -> None:
        """Configuring an engine whose target is down is ``engine_unreachable``, and nothing is stored."""
        vault = open_vault()
        self.make_unreachable(target, contract_proxy)
        with pytest.raises(EngineUnreachable) as caught:
            self.configure(vault, target, contract_proxy, role=False)
        assert caught.value.code == "engine_unreachable"
        with pytest.raises(EngineNotFound):
            vault.get_engine(self.engine_name)

    def test_unreachable_at_issue(
        self, vault: Vault, target: Any, contract_proxy: TCPProxy | None, contract_clock: ManualClock
    ) -> None:
        """Issuing while the target is down is ``engine_unreachable``; the intent is undone once it is back."""
        self.issue(vault)  # a pooled connection exists and must notice it broke
        self.make_unreachable(target, contract_proxy)
        with pytest.raises(EngineUnreachable) as caught:
            self.issue(vault)
        assert caught.value.code == "engine_unreachable"
        self.make_reachable(target, contract_proxy)
        contract_clock.advance(self.lease_options.intent_timeout + 1)
        vault.expire_due()
        states = {lease.state for lease in vault.list_leases(engine=self.engine_name, limit=100)}
        assert LeaseState.INTENT not in states and LeaseState.REVOKING not in states
        assert self.credential_works(target, self.issue(vault)), "issuing works again once the target is back"

    def test_unreachable_revocation_is_retried(
        self, vault: Vault, target: Any, contract_proxy: TCPProxy | None, contract_clock: ManualClock
    ) -> None:
        """A revocation that cannot reach the target stays queued and succeeds once the target is back."""
        issued = self.issue(vault)
        self.make_unreachable(target, contract_proxy)
        with pytest.raises(EngineUnreachable):
            vault.revoke(issued.lease_id)
        assert vault.lookup(issued.lease_id).state == LeaseState.REVOKING
        self.make_reachable(target, contract_proxy)
        contract_clock.advance(self.lease_options.backoff_max * 2)
        vault.expire_due()
        assert vault.lookup(issued.lease_id).state == LeaseState.REVOKED
        assert not self.credential_works(target, issued)

    def test_bad_config_is_invalid_config(self, open_vault: Any, target: Any, contract_proxy: TCPProxy | None) -> None:
        """Every bad config the plugin names, and an unknown field, is ``invalid_config`` and nothing is stored."""
        address = contract_proxy.address if contract_proxy else None
        cases = {
            "unknown field": ({**self.engine_config(target, address), "no_such_field": 1}, None),
            **self.bad_configs(target, address),
        }
        vault = open_vault()
        for label, (config, root) in cases.items():
            with pytest.raises(InvalidConfig) as caught:
                self.configure(vault, target, contract_proxy, config=config, root=root, role=False)
            assert caught.value.code == "invalid_config", label
            assert caught.value.message, label
            with pytest.raises(EngineNotFound):
                vault.get_engine(self.engine_name)

    def test_bad_role_is_invalid_config(self, vault: Vault, target: Any) -> None:
        """A role with an unknown field is refused when it is created, not when credentials are issued."""
        with pytest.raises(InvalidConfig):
            vault.create_role(self.engine_name, "typo", **{**self.role(target), "no_such_field": 1})

    def test_failed_create_leaves_nothing(self, open_vault: Any, target: Any, contract_proxy: TCPProxy | None) -> None:
        """When ``create`` fails after the target made the credential, the core revokes it at once."""
        made: list[tuple[IssueRequest, Issued]] = []
        vault = open_vault(
            _failing_after_create(self.engine_class, made, EngineError("simulated failure after create"))
        )
        self.configure(vault, target, contract_proxy)
        with pytest.raises(EngineError):
            self.issue(vault)
        request, issued = made[0]
        lease = vault.lookup(request.lease_id)
        assert lease.state == LeaseState.ROLLED_BACK
        assert not self.credential_works(target, IssuedCredentials.of(lease, issued.data))

    def test_crash_after_create_is_rolled_back(
        self, open_vault: Any, target: Any, contract_proxy: TCPProxy | None, contract_clock: ManualClock
    ) -> None:
        """A process that dies after the target made the credential leaves an intent the next start undoes."""
        made: list[tuple[IssueRequest, Issued]] = []
        vault = open_vault(_failing_after_create(self.engine_class, made, SimulatedCrash()))
        self.configure(vault, target, contract_proxy)
        with pytest.raises(SimulatedCrash):
            self.issue(vault)
        request, issued = made[0]
        assert vault.lookup(request.lease_id).state == LeaseState.INTENT
        assert self.credential_works(target, IssuedCredentials.of(vault.lookup(request.lease_id), issued.data))
        vault.close()
        restarted = open_vault()
        contract_clock.advance(self.lease_options.intent_timeout + 1)
        restarted.expire_due()
        lease = restarted.lookup(request.lease_id)
        assert lease.state == LeaseState.ROLLED_BACK
        assert not self.credential_works(target, IssuedCredentials.of(lease, issued.data))

    def test_crash_before_create_is_rolled_back(
        self, open_vault: Any, target: Any, contract_proxy: TCPProxy | None, contract_clock: ManualClock
    ) -> None:
        """An intent whose credential was never made rolls back cleanly: revoking what never existed is success."""
        vault = open_vault(_crashing_before_create(self.engine_class))
        self.configure(vault, target, contract_proxy)
        with pytest.raises(SimulatedCrash):
            self.issue(vault)
        (lease,) = vault.list_leases(engine=self.engine_name, state=LeaseState.INTENT)
        vault.close()
        restarted = open_vault()
        contract_clock.advance(self.lease_options.intent_timeout + 1)
        restarted.expire_due()
        assert restarted.lookup(lease.lease_id).state == LeaseState.ROLLED_BACK

    def test_list_subjects_lists_only_users_the_vault_created(self, vault: Vault, target: Any) -> None:
        """``list_subjects`` holds this engine's users, never the root user or a look-alike someone else made."""
        engine = self.live_engine(vault)
        live = self.issue(vault)
        listed = engine.list_subjects()
        if listed is None:
            pytest.skip("the engine does not list its users, so it has no reconcile")
        assert _record(live).subject in listed, "a live lease's user is one of this engine's users"
        root = (self.root_credentials(target) or {}).get("username")
        assert not root or root not in listed, "the root user is never one of the engine's users"
        lookalike = generate_username(self.role_name, type(engine).username_max_length)
        try:
            self.create_foreign_user(target, lookalike)
            relisted = engine.list_subjects()
            assert relisted is not None and lookalike not in relisted, (
                "a user made in the target by someone else was listed"
            )
            report = vault.reconcile(self.engine_name, revoke=True)
            assert lookalike not in report["revoked"] and _record(live).subject not in report["revoked"]
            assert self.credential_works(target, live)
        finally:
            self.drop_foreign_user(target, lookalike)

    def test_reconcile_removes_an_orphan_of_this_engine(
        self, vault: Vault, target: Any, contract_clock: ManualClock
    ) -> None:
        """A user whose lease the store closed without revoking it (a lost revocation) is found and removed."""
        issued = self.issue(vault)
        if self.live_engine(vault).list_subjects() is None:
            pytest.skip("the engine does not list its users, so it has no reconcile")
        assert vault.store.update_lease(
            issued.lease_id,
            {"state": LeaseState.REVOKED, "revoked_at": contract_clock.time()},
            expect={"state": LeaseState.ACTIVE},
        )
        assert self.credential_works(target, issued)
        assert _record(issued).subject in vault.reconcile(self.engine_name)["orphans"]
        assert vault.reconcile(self.engine_name, revoke=True)["revoked"] == [_record(issued).subject]
        assert not self.credential_works(target, issued)

    def test_no_secret_in_repr_logs_or_errors(
        self,
        vault: Vault,
        target: Any,
        contract_proxy: TCPProxy | None,
        contract_clock: ManualClock,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """No root or issued secret appears in a repr, a log record, an error, a lease or the audit log."""
        caplog.set_level(logging.DEBUG)
        issued = self.issue(vault, metadata={"purpose": "contract"})
        if issued.renewable:
            vault.renew(issued.lease_id, "10m")
        shown: list[str] = [
            repr(issued),
            repr(_record(issued)),
            repr(self.live_engine(vault)),
            repr(vault),
            str(_record(issued).to_dict()),
            str(vault.lookup(issued.lease_id).to_dict()),
        ]
        errors: list[ScaiVaultError] = []
        # Where there is no way to cut this target off, the failure paths are checked without it.
        with contextlib.suppress(pytest.skip.Exception):
            self.make_unreachable(target, contract_proxy)
        for action in (lambda: self.issue(vault), lambda: vault.revoke(issued.lease_id)):
            try:
                action()
            except ScaiVaultError as exc:
                errors.append(exc)
        self.make_reachable(target, contract_proxy)
        contract_clock.advance(self.lease_options.backoff_max * 2)
        vault.expire_due()
        for error in errors:
            shown += [str(error), repr(error), str(error.to_dict())]
        shown += [str(event.to_dict()) for _, event in vault.audit_log(limit=1000)]
        shown += [f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records]
        secrets = self.secrets_of(target, issued)
        assert secrets, "secret_values found nothing to look for: override it"
        for text in shown:
            for secret in secrets:
                assert secret not in text, f"a secret value leaked into: {text[:200]}"


def _record(issued: IssuedCredentials) -> Lease:
    """The lease record of credentials issued in-process (the contract always runs embedded)."""
    assert issued.lease is not None, "issued in-process, so the lease record is there"
    return issued.lease


class _Registers:
    """A plugin object that registers one engine class (the suite never needs entry points)."""

    def __init__(self, cls: type[Engine]) -> None:
        self.cls = cls

    @hookimpl
    def register_engines(self, register):
        register(self.cls)


def _failing_after_create(cls: type[Engine], made: list, error: BaseException) -> type[Engine]:
    """``cls`` whose ``create`` makes the credential in the target, records it, then raises ``error``."""

    class FailingAfterCreate(cls):  # type: ignore[misc, valid-type]  # a base known only at run time
        def create(self, request: IssueRequest) -> Issued:
            issued = super().create(request)
            made.append((request, issued))
            raise error

    FailingAfterCreate.__name__ = cls.__name__
    return FailingAfterCreate


def _crashing_before_create(cls: type[Engine]) -> type[Engine]:
    class CrashingBeforeCreate(cls):  # type: ignore[misc, valid-type]  # a base known only at run time
        def create(self, request: IssueRequest) -> Issued:
            raise SimulatedCrash()

    CrashingBeforeCreate.__name__ = cls.__name__
    return CrashingBeforeCreate
