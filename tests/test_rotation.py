"""Root credential rotation in the core: versions, grace periods, schedules, handlers, refusals."""

from __future__ import annotations

import pytest

from scaivault_core import EngineError, InvalidConfig, InvalidRequest, NotFound, hookimpl

ROOT = "infra/mem/root"


@pytest.fixture
def rooted(make_vault, target):
    vault = make_vault()
    vault.put_secret(ROOT, {"username": "admin", "password": "original-pw"})
    vault.create_policy("mem-root", [{"path_pattern": ROOT, "permissions": ["read", "rotate"]}])
    vault.bind_policy("mem-root", "dynamic:mem")
    vault.create_engine("mem", "database", {"plugin": "memory", "root_credentials_path": ROOT})
    vault.create_role("mem", "readonly")
    return vault


def test_grace_period_keeps_the_old_version_readable_then_destroys_it(rooted, clock, target):
    rooted.rotate_secret(ROOT, reason="quarterly", grace_period="1h")
    new = rooted.get_secret(ROOT)
    assert new.version == 2 and new.data["password"] == target.root_passwords[-1]
    assert rooted.get_secret(ROOT, version=1).data["password"] == "original-pw"  # still readable
    assert target.retired == []
    clock.advance(3601)
    rooted.worker._scheduled()
    with pytest.raises(NotFound):
        rooted.get_secret(ROOT, version=1)
    assert target.retired == ["original-pw"]
    assert [v.retired_at is not None for v in rooted.list_secret_versions(ROOT)] == [True, False]


def test_grace_zero_retires_at_once(rooted, target):
    rooted.rotate_secret(ROOT, grace_period="0")
    assert target.retired == ["original-pw"]


def test_refused_rotation_keeps_the_old_credential_and_says_why(rooted, target):
    target.refuse["rotate"] = 1  # the target turns the new password down
    with pytest.raises(EngineError) as err:
        rooted.rotate_secret(ROOT)
    assert "old one stays in force" in err.value.message and "refused rotate" in err.value.message
    assert rooted.get_secret(ROOT).data["password"] == "original-pw"
    assert rooted.store.pending_rotations() == []


def test_scheduled_rotation(rooted, clock, target):
    rooted.set_rotation_period(ROOT, "1d")
    rooted.worker._scheduled()
    assert target.root_passwords == []
    clock.advance(86401)
    rooted.worker._scheduled()
    assert len(target.root_passwords) == 1
    assert rooted.get_secret(ROOT).created_by == "dynamic:mem"


def test_secret_of_no_engine_needs_a_handler(rooted):
    rooted.put_secret("apps/api-key", {"key": "k1"})
    with pytest.raises(InvalidRequest):
        rooted.rotate_secret("apps/api-key")


def test_rotation_handler_hook(make_vault, target):
    class Handlers:
        @hookimpl
        def register_rotation_handlers(self, register):
            register("apps/**", lambda current: {"key": current["key"] + "-next"})

    vault = make_vault(plugins=[Handlers()])
    vault.put_secret("apps/api-key", {"key": "k1"})
    vault.rotate_secret("apps/api-key", grace_period="0")
    assert vault.get_secret("apps/api-key").data == {"key": "k1-next"}


def test_scheduled_rotation_keeps_its_grace_period(rooted, clock, target):
    rooted.set_rotation_period(ROOT, "1d", grace_period="2h")
    clock.advance(86401)
    rooted.worker._scheduled()
    assert rooted.get_secret(ROOT, version=1).data["password"] == "original-pw"  # still readable
    assert target.retired == []
    clock.advance(7201)
    rooted.worker._scheduled()
    assert target.retired == ["original-pw"]


def test_grace_period_must_be_shorter_than_the_period(rooted):
    with pytest.raises(InvalidRequest):
        rooted.set_rotation_period(ROOT, "1h", grace_period="2h")


def test_rotation_needs_the_engines_own_rotate_grant_on_demand_and_when_scheduled(make_vault, target):
    # DESIGN.md: root rotation needs 'rotate' for dynamic:<engine> too, not only for whoever asks.
    vault = make_vault()
    vault.put_secret(ROOT, {"username": "admin", "password": "original-pw"})
    vault.create_policy("mem-root", [{"path_pattern": ROOT, "permissions": ["read"]}])
    vault.bind_policy("mem-root", "dynamic:mem")
    vault.create_engine("mem", "database", {"plugin": "memory", "root_credentials_path": ROOT})
    missing = {"identity": "dynamic:mem", "path": ROOT, "permission": "rotate"}
    for attempt in (lambda: vault.rotate_secret(ROOT), lambda: vault.set_rotation_period(ROOT, "1d")):
        with pytest.raises(InvalidConfig) as err:
            attempt()
        assert err.value.details["missing_grant"] == missing and "dynamic:mem" in err.value.message
    assert target.root_passwords == [] and vault.get_secret(ROOT).version == 1
    vault.update_policy("mem-root", [{"path_pattern": ROOT, "permissions": ["read", "rotate"]}])
    vault.set_rotation_period(ROOT, "1d")
    vault.rotate_secret(ROOT)
    assert len(target.root_passwords) == 1


def test_a_scheduled_rotation_by_a_handler_runs_when_due(make_vault, clock, target):
    # It ran as system:scheduler, which holds no policy, so every period failed, only in the log.
    class Handlers:
        @hookimpl
        def register_rotation_handlers(self, register):
            register("apps/**", lambda current: {"key": current["key"] + "-next"})

    vault = make_vault(plugins=[Handlers()])
    vault.put_secret("apps/api-key", {"key": "k1"})
    vault.set_rotation_period("apps/api-key", "1d")
    clock.advance(86401)
    vault.worker._scheduled()
    assert vault.get_secret("apps/api-key").data == {"key": "k1-next"}
