"""Reconcile finds users in the target that no lease accounts for, and removes them only when asked."""

from __future__ import annotations

import pytest

from scaivault_core import PermissionDenied


def test_reconcile_lists_then_revokes_orphans(vault, target):
    live = vault.issue("mem", "readonly")
    target.users["v_readonly_leftover1"] = {}
    target.users["v_old_tool_user"] = {}
    report = vault.reconcile("mem")
    assert report["orphans"] == ["v_old_tool_user", "v_readonly_leftover1"] and report["revoked"] == []
    assert "v_old_tool_user" in target.users  # listing changes nothing
    report = vault.reconcile("mem", revoke=True)
    assert report["revoked"] == ["v_old_tool_user", "v_readonly_leftover1"]
    assert list(target.users) == [live.data["username"]]
    assert vault.reconcile("mem")["orphans"] == []


def test_reconcile_needs_revoke_on_the_engine(vault):
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:nobody").reconcile("mem")
