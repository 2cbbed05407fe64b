"""Reconcile on MongoDB (the stateful wire-protocol double): a user is this engine's when its customData
names the engine (or, made before marks, when the store knows it). Another engine's users, look-alikes
and users with odd names stay."""

from __future__ import annotations

from scaivault_core import LeaseState
from scaivault_core.templates import generate_username

ODD = ['x"y', "x'y", "x.y$z", "x\ny", "ü名", "x" * 2000]


def configure(vault, kit, double, engine: str) -> None:
    kit.store_root(vault, kit.NO_AUTH, engine)
    vault.create_engine(engine, "database", kit.engine_config(kit.url_template(double.port)))
    vault.create_role(engine, "readonly", db_roles=[{"role": "read", "db": "app"}])


def test_reconcile_touches_only_this_engines_users(make_vault, kit, mongo_double):
    vault = make_vault()
    configure(vault, kit, mongo_double, "app-db")
    configure(vault, kit, mongo_double, "other-db")
    live = vault.issue("app-db", "readonly")
    theirs = vault.issue("other-db", "readonly")
    their_orphan = vault.issue("other-db", "readonly")
    orphan = vault.issue("app-db", "readonly")
    for lost in (their_orphan, orphan):  # the store says revoked, the user is still there
        assert vault.store.update_lease(
            lost.lease_id, {"state": LeaseState.REVOKED}, expect={"state": LeaseState.ACTIVE}
        )
    strangers = [generate_username("readonly", 63), *(f"v_readonly_{text}" for text in ODD)]
    for name in strangers:
        mongo_double.users[("admin", name)] = {"pwd": "made-by-someone-else", "roles": []}

    report = vault.reconcile("app-db", revoke=True)

    assert report["revoked"] == [orphan.data["username"]] and report["skipped"] == []
    users = {name for _, name in mongo_double.users}
    assert {*strangers, live.data["username"], theirs.data["username"], their_orphan.data["username"]} <= users
    assert orphan.data["username"] not in users
