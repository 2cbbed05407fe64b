"""Reconcile on Redis: ACL users carry no mark of who made them, so only users the store knows as this
engine's leases are deleted. Users with odd names, look-alikes and another engine's users stay."""

from __future__ import annotations

from scaivault_core import LeaseState
from scaivault_core.templates import generate_username

from .conftest import configure_engine

# Redis refuses spaces and NUL in user names; anything else goes (each name is one protocol argument).
ODD = ['x"y', "x'y;FLUSHALL", "ü名", "*", "x" * 2000]


def lose_revocation(vault, issued) -> None:
    """The store says revoked, the user is still there: what a store restored from a backup looks like."""
    assert vault.store.update_lease(issued.lease_id, {"state": LeaseState.REVOKED}, expect={"state": LeaseState.ACTIVE})


def test_reconcile_touches_only_this_engines_users(vault, server, engine, reader, admin_user, namespace):
    configure_engine(vault, "other", {"connection_url": server.engine_url()}, admin_user)
    vault.create_role("other", reader, keys=[f"{namespace}cache:*"], commands=["+get"])
    live = vault.issue(engine, reader)
    theirs = vault.issue("other", reader)
    their_orphan = vault.issue("other", reader)
    lose_revocation(vault, their_orphan)
    orphan = vault.issue(engine, reader)
    lose_revocation(vault, orphan)
    lookalike = generate_username(reader, 64)
    odd = [f"v_{reader}_{text}" for text in ODD]
    for name in [lookalike, *odd]:
        server.admin.execute_command("ACL", "SETUSER", name, "on", ">made-by-someone-else", "+ping")

    report = vault.reconcile(engine, revoke=True)

    assert report["revoked"] == [orphan.data["username"]] and report["skipped"] == []
    users = set(server.users_like(f"v_{reader}_"))
    assert {lookalike, *odd, live.data["username"], theirs.data["username"], their_orphan.data["username"]} <= users
    assert orphan.data["username"] not in users
    assert server.admin.get(f"{namespace}cache:a") == "A"
