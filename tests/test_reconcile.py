"""Reconcile finds the users this engine made that no lease accounts for, removes them only when asked,
and touches nothing else: not another engine's users, not names it does not generate, not live leases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaivault_core import EngineUnreachable, LeaseState, PermissionDenied, hookimpl
from scaivault_core.templates import generate_username, is_generated_username
from scaivault_core.testing import MemoryEngine, MemoryUser

EVIL = 'v_readonly_abcdefghijkl" TO CURRENT_USER;ALTER USER attacker SUPERUSER--'


def orphan(vault, target, engine: str = "mem") -> str:
    """A user this engine made whose lease is closed in the store: revocation failed until the lease went
    irrevocable, and an operator forgot it. The user is still in the target."""
    issued = vault.issue(engine, "readonly")
    target.down = True
    while vault.lookup(issued.lease_id).state != LeaseState.IRREVOCABLE:
        with pytest.raises(EngineUnreachable):
            vault.revoke(issued.lease_id)
    target.down = False
    vault.forget_lease(issued.lease_id)
    assert issued.data["username"] in target.users
    return issued.data["username"]


def test_reconcile_lists_then_revokes_orphans(vault, target):
    live = vault.issue("mem", "readonly")
    left = sorted([orphan(vault, target), orphan(vault, target)])
    lookalike = generate_username("readonly", 63)  # made in the target by someone else: no mark, no lease
    target.users[lookalike] = MemoryUser("", 0)  # no mark: not the engine's
    report = vault.reconcile("mem")
    assert report == {"engine": "mem", "orphans": left, "revoked": [], "failed": [], "skipped": []}
    assert all(name in target.users for name in left)  # listing changes nothing
    report = vault.reconcile("mem", revoke=True)
    assert report["revoked"] == left
    assert sorted(target.users) == sorted([live.data["username"], lookalike])
    assert vault.reconcile("mem")["orphans"] == []


def test_reconcile_leaves_another_engines_users_alone(vault, target):
    """Two engines on one target: reconciling one never touches the other's users, live or orphaned."""
    vault.create_engine("other", "database", {"plugin": "memory"})
    vault.create_role("other", "readonly")
    theirs = [vault.issue("other", "readonly").data["username"] for _ in range(3)]
    their_orphan = orphan(vault, target, "other")
    mine = orphan(vault, target)
    report = vault.reconcile("mem", revoke=True)
    assert report["revoked"] == [mine] and report["skipped"] == []
    assert all(name in target.users for name in [*theirs, their_orphan])
    assert vault.reconcile("other")["orphans"] == [their_orphan]


class SloppyEngine(MemoryEngine):
    """A plugin that gets ``list_subjects`` wrong: every user of the target, and whatever else it is handed."""

    plugin = "sloppy"
    marks_subjects = False
    extra: list = []
    revoked: list = []

    def list_subjects(self):
        return [*self.target.users, *self.extra]

    def revoke_subject(self, subject):
        SloppyEngine.revoked.append(subject)
        super().revoke_subject(subject)


class SloppyPlugin:
    @hookimpl
    def register_engines(self, register):
        register(SloppyEngine)


@pytest.mark.parametrize("marks", [False, True], ids=["unmarked", "claims-marks"])
def test_reconcile_checks_what_a_plugin_lists(make_vault, target, marks, monkeypatch):
    """The core renders no name it does not generate, touches no live lease of any engine, and without
    marks in the target, only users its store knows as this engine's."""
    monkeypatch.setattr(SloppyEngine, "marks_subjects", marks)
    monkeypatch.setattr(SloppyEngine, "revoked", [])
    vault = make_vault(plugins=[SloppyPlugin()])
    for name, plugin in (("mem", "memory"), ("sloppy", "sloppy")):
        vault.create_engine(name, "database", {"plugin": plugin})
        vault.create_role(name, "readonly")
    others_live = vault.issue("mem", "readonly").data["username"]
    own_live = vault.issue("sloppy", "readonly").data["username"]
    own_orphan = orphan(vault, target, "sloppy")
    lookalike = generate_username("readonly", 63)
    target.users[lookalike] = MemoryUser("", 0)  # no mark: not the engine's
    monkeypatch.setattr(SloppyEngine, "extra", [EVIL, "postgres", "v_readonly_abcdefghijk\n", "x" * 5000, None, 42])

    report = vault.reconcile("sloppy", revoke=True)

    expected_orphans = sorted([own_orphan, lookalike]) if marks else [own_orphan]
    assert report["orphans"] == report["revoked"] == SloppyEngine.revoked == expected_orphans
    reasons = {entry["subject"]: entry["reason"] for entry in report["skipped"]}
    assert reasons.pop(others_live) == "live_lease_of_another_engine"
    if not marks:
        assert reasons.pop(lookalike) == "not_this_engines"
    assert reasons == {
        EVIL: "not_generated",
        "postgres": "not_generated",
        "v_readonly_abcdefghijk\n": "not_generated",
        "x" * 200 + "...": "not_generated",
        "None": "not_generated",
        "42": "not_generated",
    }
    assert others_live in target.users and own_live in target.users


def test_reconcile_needs_revoke_on_the_engine(vault):
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:nobody").reconcile("mem")


# -- the shape reconcile insists on ---------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(role=st.text(max_size=200), limit=st.integers(min_value=15, max_value=128))
def test_every_generated_name_has_the_shape_reconcile_accepts(role, limit):
    assert is_generated_username(generate_username(role, limit), limit)


@settings(max_examples=500, deadline=None)
@given(name=st.text(max_size=100), limit=st.integers(min_value=15, max_value=128))
def test_nothing_outside_the_generated_alphabet_has_that_shape(name, limit):
    if is_generated_username(name, limit):
        assert name.startswith("v_") and len(name) <= limit
        assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")
        assert name[-13] == "_" and name[-12:].isalnum()
