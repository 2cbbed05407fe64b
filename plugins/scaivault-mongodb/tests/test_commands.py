"""What the engine says to MongoDB, asserted command by command on a wire-protocol peer, driven through a Vault."""

from __future__ import annotations

import pytest
from pymongo.uri_parser import parse_uri

from scaivault_core import EngineError, EngineNotFound, EngineUnreachable, InvalidConfig, LeaseState

READ_APP = [{"role": "read", "db": "app"}]


def issue(vault, peer, **kwargs):
    """Issue a ``readonly`` lease, answering createUser with ok; returns (credentials, createUser request)."""
    pending = peer.call(vault.issue, "app-db", "readonly", **kwargs)
    request = peer.expect("createUser")
    request.ok()
    return pending.result(timeout=10), request


def test_engine_creation_pings_admin_without_authenticating(make_vault, peer, kit):
    vault = make_vault()
    kit.store_root(vault, kit.NO_AUTH)
    pending = peer.call(vault.create_engine, "app-db", "database", kit.engine_config(peer.url()))
    # The first command is the ping itself: with an empty root username there is no saslStart before it.
    request = peer.expect("ping")
    assert peer.body(request) == {"ping": 1}
    request.ok()
    record = pending.result(timeout=10)
    assert (record.type, record.plugin) == ("database", "mongodb")


def test_issue_sends_create_user_with_the_roles_and_the_password(vault, peer):
    creds, request = issue(vault, peer, ttl="2h")
    data = creds.data
    assert peer.body(request) == {
        "createUser": data["username"],
        "pwd": data["password"],
        "roles": READ_APP,
        "customData": {"scaivault_engine": "app-db"},
    }  # the mark reconcile reads
    assert data["username"].startswith("v_readonly_")
    assert (data["host"], data["port"], data["database"]) == ("127.0.0.1", peer.port, "admin")
    parsed = parse_uri(data["connection_url"])  # pymongo's own reading of the URL the caller gets
    assert (parsed["username"], parsed["password"]) == (data["username"], data["password"])
    assert parsed["nodelist"] == [("127.0.0.1", peer.port)]
    assert parsed["options"]["authSource"] == "admin"
    assert vault.lookup(creds.lease_id).state == LeaseState.ACTIVE


def test_users_are_created_in_auth_database_with_every_role(make_vault, peer, kit):
    vault = make_vault()
    roles = [{"role": "readWrite", "db": "orders"}, {"role": "read", "db": "catalog"}]
    kit.configure(vault, peer, roles=[], auth_database="orders")
    pending = peer.call(vault.create_role, "app-db", "readonly", db_roles=roles)
    peer.answer_roles_info(roles, db="orders")
    pending.result(timeout=10)

    pending = peer.call(vault.issue, "app-db", "readonly")
    request = peer.expect("createUser", db="orders")
    request.ok()
    creds = pending.result(timeout=10)
    assert peer.body(request)["roles"] == roles
    assert parse_uri(creds.data["connection_url"])["options"]["authSource"] == "orders"

    pending = peer.call(vault.revoke, creds.lease_id)
    request = peer.expect("dropUser", db="orders")
    request.ok()
    assert pending.result(timeout=10).state == LeaseState.REVOKED


def test_revoke_sends_drop_user(vault, peer):
    creds, _ = issue(vault, peer)
    pending = peer.call(vault.revoke, creds.lease_id)
    request = peer.expect("dropUser")
    assert peer.body(request) == {"dropUser": creds.data["username"]}
    request.ok()
    assert pending.result(timeout=10).state == LeaseState.REVOKED
    # Revoking again is answered from the lease record: nothing more is sent.
    assert vault.revoke(creds.lease_id).state == LeaseState.REVOKED
    assert not peer.server.got(timeout=0.2)


def test_user_not_found_on_drop_counts_as_revoked(vault, peer):
    creds, _ = issue(vault, peer)
    name = creds.data["username"]
    pending = peer.call(vault.revoke, creds.lease_id)
    peer.expect("dropUser").command_err(code=11, errmsg=f"User {name}@admin not found")
    assert pending.result(timeout=10).state == LeaseState.REVOKED


def test_refused_drop_is_reported_and_retried(vault, peer, clock):
    creds, _ = issue(vault, peer)
    pending = peer.call(vault.revoke, creds.lease_id)
    peer.expect("dropUser").command_err(code=13, errmsg="not authorized on admin to execute command { dropUser }")
    with pytest.raises(EngineError) as caught:
        pending.result(timeout=10)
    assert "not authorized on admin" in caught.value.message and "code 13" in caught.value.message
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKING

    clock.advance(60)  # past the retry backoff
    pending = peer.call(vault.expire_due)
    peer.expect("dropUser").ok()
    assert pending.result(timeout=10) == 1
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED


def test_refused_create_user_is_an_engine_error_and_is_rolled_back(vault, peer):
    pending = peer.call(vault.issue, "app-db", "readonly")
    request = peer.expect("createUser")
    name, password = request["createUser"], request["pwd"]
    request.command_err(code=51003, errmsg=f'User "{name}@admin" already exists')
    # The core undoes the planned user at once: dropUser, where "not found" is success.
    rollback = peer.expect("dropUser")
    assert peer.body(rollback) == {"dropUser": name}
    rollback.command_err(code=11, errmsg=f"User {name}@admin not found")
    with pytest.raises(EngineError) as caught:
        pending.result(timeout=10)
    assert "already exists" in caught.value.message and "51003" in caught.value.message
    assert password not in caught.value.message
    [lease] = vault.list_leases(engine="app-db")
    assert lease.state == LeaseState.ROLLED_BACK


def test_connection_lost_during_create_user_is_unreachable_and_rolled_back(vault, peer):
    pending = peer.call(vault.issue, "app-db", "readonly")
    request = peer.expect("createUser")
    name = request["createUser"]
    request.hangup()
    rollback = peer.expect("dropUser")  # on a fresh pooled connection
    assert peer.body(rollback) == {"dropUser": name}
    rollback.ok()
    with pytest.raises(EngineUnreachable):
        pending.result(timeout=10)
    [lease] = vault.list_leases(engine="app-db")
    assert lease.state == LeaseState.ROLLED_BACK


def test_expiry_drops_the_user(vault, peer, clock):
    creds, _ = issue(vault, peer, ttl="1h")
    clock.advance(3599)
    assert vault.expire_due() == 0  # not due yet: nothing sent
    clock.advance(2)
    pending = peer.call(vault.expire_due)
    request = peer.expect("dropUser")
    assert peer.body(request) == {"dropUser": creds.data["username"]}
    request.ok()
    assert pending.result(timeout=10) == 1
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED


def test_revoke_prefix_drops_each_user_and_counts_missing_ones_revoked(vault, peer):
    names = [issue(vault, peer)[0].data["username"] for _ in range(3)]
    pending = peer.call(vault.revoke_prefix, "lease_db_", engine="app-db")
    dropped = []
    for index in range(3):
        request = peer.expect("dropUser")
        dropped.append(request["dropUser"])
        if index == 1:
            request.command_err(code=11, errmsg=f"User {request['dropUser']}@admin not found")
        else:
            request.ok()
    result = pending.result(timeout=10)
    assert sorted(dropped) == sorted(names)
    assert (result["revoked"], result["failed"]) == (3, [])


def test_root_client_is_pooled_across_leases(vault, peer):
    first, create_1 = issue(vault, peer)
    second, create_2 = issue(vault, peer)
    pending = peer.call(vault.revoke, first.lease_id)
    drop = peer.expect("dropUser")
    drop.ok()
    pending.result(timeout=10)
    # One client, one pooled connection reused for every command (mockupdb sees the client's port).
    assert create_1.client_port == create_2.client_port == drop.client_port


def test_role_naming_a_role_mongodb_lacks_is_invalid_config(make_vault, peer, kit):
    vault = make_vault()
    kit.configure(vault, peer, roles=[])
    roles = [{"role": "read", "db": "app"}, {"role": "readAnyDatabase", "db": "app"}]
    pending = peer.call(vault.create_role, "app-db", "reader", db_roles=roles)
    peer.answer_roles_info(roles, found=roles[:1])
    with pytest.raises(InvalidConfig) as caught:
        pending.result(timeout=10)
    assert caught.value.details["field"] == "db_roles[1]"
    assert "readAnyDatabase" in caught.value.message and "only in admin" in caught.value.message


def test_role_is_accepted_when_root_may_not_list_roles(make_vault, peer, kit):
    vault = make_vault()
    kit.configure(vault, peer, roles=[])
    pending = peer.call(vault.create_role, "app-db", "reader", db_roles=READ_APP)
    peer.expect("rolesInfo").command_err(code=13, errmsg="not authorized on admin to execute command { rolesInfo }")
    assert pending.result(timeout=10).name == "reader"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"db_roles": []}, "db_roles"),
        ({"db_roles": [{"role": "", "db": "app"}]}, "db_roles[0].role"),
        ({"db_roles": [{"role": "read", "db": "app.orders"}]}, "db_roles[0].db"),
        ({"db_roles": [{"role": "read", "db": "app"}, {"role": "read", "db": "app"}]}, "db_roles[1]"),
    ],
)
def test_malformed_roles_are_refused_before_asking_mongodb(make_vault, peer, kit, fields, field):
    vault = make_vault()
    kit.configure(vault, peer, roles=[])
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role("app-db", "bad", **fields)
    assert caught.value.details["field"] == field
    assert not peer.server.got(timeout=0.2)


@pytest.mark.parametrize(
    "db_roles",
    [
        [{"role": "read"}],  # db missing
        [{"role": "read", "db": "app", "collection": "x"}],  # not a field
        ["read"],  # a bare name: roles must say their database
    ],
)
def test_roles_of_the_wrong_shape_name_db_roles(make_vault, peer, kit, db_roles):
    vault = make_vault()
    kit.configure(vault, peer, roles=[])
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role("app-db", "bad", db_roles=db_roles)
    assert "db_roles" in caught.value.message


def test_unreachable_server_at_engine_creation(make_vault, kit, closed_port):
    vault = make_vault()
    kit.store_root(vault, kit.NO_AUTH)
    config = kit.engine_config(kit.url_template(closed_port), connect_timeout=0.5)
    with pytest.raises(EngineUnreachable) as caught:
        vault.create_engine("app-db", "database", config)
    assert caught.value.code == "engine_unreachable"
    assert "Cannot reach MongoDB" in caught.value.message and "Topology" not in caught.value.message
    with pytest.raises(EngineNotFound):
        vault.get_engine("app-db")


def test_bad_root_credentials_are_invalid_config_with_the_servers_reason(make_vault, peer, kit):
    vault = make_vault()
    root = {"username": "scai:admin@x", "password": "p@ss/w0rd?#%"}  # URL-reserved characters on purpose
    kit.store_root(vault, root)
    pending = peer.call(vault.create_engine, "app-db", "database", kit.engine_config(peer.url()))
    for _ in range(2):  # refused once, the credentials are read again and retried once
        request = peer.expect("saslStart")
        assert b"n=scai:admin@x," in request["payload"]  # the username arrived decoded, exactly
        request.command_err(code=18, errmsg="Authentication failed.")
    with pytest.raises(InvalidConfig) as caught:
        pending.result(timeout=10)
    assert caught.value.message == "MongoDB refused the root credentials: Authentication failed. (code 18)"
    assert root["password"] not in repr(caught.value.to_dict())
    with pytest.raises(EngineNotFound):
        vault.get_engine("app-db")


def test_root_password_without_username_is_invalid_config(make_vault, peer, kit):
    vault = make_vault()
    kit.store_root(vault, {"username": "", "password": "orphan-password"})
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine("app-db", "database", kit.engine_config(peer.url()))
    assert caught.value.details["field"] == "root_credentials"
    assert not peer.server.got(timeout=0.2)


def test_server_down_at_issue_is_unreachable_and_undone_when_it_returns(make_vault, make_peer, kit):
    peer = make_peer()
    vault = make_vault()
    # Long enough for pymongo's monitor (which re-checks a lost server at most every 0.5 s) to find it back.
    kit.configure(vault, peer, connect_timeout=2)
    port = peer.port
    peer.stop()
    with pytest.raises(EngineUnreachable):
        vault.issue("app-db", "readonly")
    [lease] = vault.list_leases(engine="app-db")
    assert lease.state == LeaseState.INTENT  # nothing can be undone yet: the worker keeps it

    back = make_peer(port)
    pending = back.call(vault.expire_due)
    request = back.expect("dropUser")
    assert peer.body(request) == {"dropUser": lease.subject}
    request.command_err(code=11, errmsg=f"User {lease.subject}@admin not found")
    assert pending.result(timeout=10) == 1
    assert vault.lookup(lease.lease_id).state == LeaseState.ROLLED_BACK


def live_engine(vault):
    return vault._engines.live("app-db").engine  # reconcile and rotation are not on the Vault API yet


def test_list_subjects_reads_users_info_and_keeps_this_engines_users(vault, peer):
    ours = {"scaivault_engine": "app-db"}
    pending = peer.call(live_engine(vault).list_subjects)
    request = peer.expect("usersInfo")
    assert peer.body(request) == {"usersInfo": 1}
    request.ok(
        users=[
            {"_id": "admin.v_ro_b", "user": "v_ro_b", "db": "admin", "customData": ours},
            {"_id": "admin.app", "user": "app", "db": "admin", "customData": ours},
            {"_id": "admin.v_ro_c", "user": "v_ro_c", "db": "admin", "customData": {"scaivault_engine": "x"}},
            {"_id": "admin.v_ro_d", "user": "v_ro_d", "db": "admin"},  # no mark, no lease: not ours
            {"_id": "admin.v_ro_e", "user": "v_ro_e", "db": "admin", "customData": "odd"},
            {"_id": "admin.v_ro_a", "user": "v_ro_a", "db": "admin", "customData": ours},
        ]
    )
    assert pending.result(timeout=10) == ["v_ro_a", "v_ro_b"]


def test_revoke_subject_drops_the_user(vault, peer):
    pending = peer.call(live_engine(vault).revoke_subject, "v_ro_orphan")
    request = peer.expect("dropUser")
    assert peer.body(request) == {"dropUser": "v_ro_orphan"}
    request.ok()
    pending.result(timeout=10)


def test_root_rotation_updates_the_root_users_password(vault, peer):
    engine = live_engine(vault)
    assert engine.new_root_credentials({"username": "", "password": ""}) is None  # nothing to rotate
    current = {"username": "scaivault_admin", "password": "old"}
    new = engine.new_root_credentials(current)
    assert new["username"] == "scaivault_admin" and len(new["password"]) == 32 and new["password"].isalnum()
    pending = peer.call(engine.apply_root_credentials, current, new)
    request = peer.expect("updateUser")
    assert peer.body(request) == {"updateUser": "scaivault_admin", "pwd": new["password"]}
    request.ok()
    pending.result(timeout=10)
