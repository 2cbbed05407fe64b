"""Engine configuration against real servers: unreachable, refused credentials, a root user that may
not manage users, the default-password root, ACL-file persistence, and batched revocation."""

from __future__ import annotations

import pytest
import redis

from scaivault_core import EngineUnreachable, InvalidConfig, make_plugin_manager
from scaivault_core.plugin_manager import EngineRegistry


def test_unreachable_server_at_creation(vault, configure, closed_port):
    with pytest.raises(EngineUnreachable) as down:
        configure(vault, "down", {"host": "127.0.0.1", "port": closed_port, "connect_timeout": 2}, {})
    assert down.value.code == "engine_unreachable"
    assert "Connection refused" in down.value.message
    assert vault.list_engines() == []


def test_wrong_acl_password_is_invalid_config_with_the_servers_reason(vault, server, configure, admin_user):
    wrong = {**admin_user, "password": admin_user["password"] + "-wrong"}
    with pytest.raises(InvalidConfig) as refused:
        configure(vault, "badroot", {"connection_url": server.engine_url()}, wrong)
    assert refused.value.code == "invalid_config"
    assert "invalid username-password pair" in refused.value.message
    assert wrong["password"] not in refused.value.message and admin_user["password"] not in refused.value.message


def test_a_root_user_that_may_not_manage_users_is_invalid_config(vault, server, configure, admin_user):
    server.admin.execute_command("ACL", "SETUSER", admin_user["username"], "-acl|deluser")
    with pytest.raises(InvalidConfig) as refused:
        configure(vault, "weakroot", {"connection_url": server.engine_url()}, admin_user)
    assert "may not run ACL DELUSER" in refused.value.message


NARROW_ROOT = [
    "+acl|whoami",
    "+acl|dryrun",
    "+acl|setuser",
    "+acl|deluser",
    "+acl|cat",
    "+command|info",
    "+acl|users",
    "+acl|getuser",
]


def test_a_root_user_with_only_the_acl_commands_it_needs(vault, server, configure, namespace, role_name):
    username, password = f"sv_narrow_{role_name}", f"Narrow-{role_name}-pw"
    server.admin.execute_command("ACL", "SETUSER", username, "reset", "on", f">{password}", *NARROW_ROOT)
    try:
        configure(
            vault, "narrow", {"connection_url": server.engine_url()}, {"username": username, "password": password}
        )
        vault.create_role("narrow", role_name, keys=[f"{namespace}cache:*"], commands=["+get"])
        issued = vault.issue("narrow", role_name)
        assert server.login_error(issued.data["username"], issued.data["password"]) is None
        assert issued.data["username"] in vault._engines.live("narrow").engine.list_subjects()
        vault.revoke(issued.lease_id)
        assert server.users_like(issued.data["username"]) == []
    finally:
        server.admin.execute_command("ACL", "DELUSER", username)


def test_host_and_port_fields_instead_of_a_url(vault, server, configure, admin_user, namespace, role_name):
    configure(vault, "fields", {"host": server.host, "port": server.port, "db": server.db}, admin_user)
    vault.create_role("fields", role_name, keys=[f"{namespace}cache:*"], commands=["+get"])
    issued = vault.issue("fields", role_name)
    client = redis.Redis.from_url(issued.data["connection_url"], decode_responses=True)
    assert client.get(f"{namespace}cache:a") == "A"
    client.close()


@pytest.mark.parametrize(
    "config, problem",
    [
        ({"connection_url": "redis://admin:pw@127.0.0.1:6379/0"}, "root secret"),
        ({"connection_url": "http://127.0.0.1:6379/0"}, "redis://"),
        ({"connection_url": "redis://127.0.0.1:6379/x"}, "database number"),
        ({"connection_url": "redis://127.0.0.1:6379/0", "host": "127.0.0.1"}, "not both"),
        ({}, "config.host"),
    ],
)
def test_malformed_configs(vault, configure, config, problem):
    with pytest.raises(InvalidConfig) as bad:
        configure(vault, "bad", config, {})
    assert problem in bad.value.message


# -- the private server: the default user's password as root, ACL file, command counts ------------


@pytest.fixture
def private_engine(vault, configure, private_server):
    configure(
        vault,
        "private",
        {"connection_url": private_server.engine_url(), "acl_save": True},
        {"password": private_server.password},
    )
    return "private"


def test_default_password_root(vault, private_server, private_engine, role_name):
    vault.create_role(private_engine, role_name, keys=["k:*"], commands=["+get", "+set"])
    issued = vault.issue(private_engine, role_name)
    held = private_server.connect_as(issued.data["username"], issued.data["password"])
    assert private_server.ask(held, "SET", "k:1", "v") == "OK"

    vault.revoke(issued.lease_id)

    with pytest.raises(redis.ConnectionError):
        private_server.ask(held, "PING")
    assert private_server.login_error(issued.data["username"], issued.data["password"]) is redis.AuthenticationError


@pytest.mark.parametrize(
    "root, words",
    [
        ({"password": "not-the-password"}, "invalid username-password pair"),
        ({}, "authenticat"),  # no AUTH at all: "NOAUTH Authentication required" or HELLO refused
    ],
)
def test_wrong_default_password_is_invalid_config(vault, configure, private_server, root, words):
    with pytest.raises(InvalidConfig) as refused:
        configure(vault, "private", {"connection_url": private_server.engine_url()}, root)
    assert words in refused.value.message.lower()
    assert "not-the-password" not in refused.value.message


def test_acl_save_keeps_the_acl_file_in_step(vault, private_server, private_engine, role_name):
    vault.create_role(private_engine, role_name, keys=["k:*"], commands=["+get"])
    issued = vault.issue(private_engine, role_name)
    assert f"user {issued.data['username']} " in private_server.acl_file.read_text()

    vault.revoke(issued.lease_id)

    assert issued.data["username"] not in private_server.acl_file.read_text()
    private_server.admin.execute_command("ACL", "LOAD")  # what a restart does: the user stays gone
    assert private_server.users_like(issued.data["username"]) == []


def test_expiring_leases_go_in_one_deluser(vault, private_server, private_engine, role_name, clock):
    vault.create_role(private_engine, role_name, keys=["k:*"], commands=["+get"])
    issued = [vault.issue(private_engine, role_name, ttl="5m") for _ in range(6)]
    held = [private_server.connect_as(i.data["username"], i.data["password"]) for i in issued]
    before = private_server.deluser_calls()

    clock.advance(301)
    assert vault.expire_due() == 6

    assert private_server.deluser_calls() - before == 1
    assert private_server.users_like(f"v_{role_name}_") == []
    for conn in held:
        with pytest.raises(redis.ConnectionError):
            private_server.ask(conn, "PING")


def test_the_plugin_is_found_through_its_entry_point():
    registry = EngineRegistry(make_plugin_manager())
    assert ("database", "redis", "redis") in registry.types()


def test_root_rotation_with_a_grace_period(vault, server, engine, reader, admin_user, clock):
    before = vault.issue(engine, reader)

    vault.rotate_secret("infra/redis/cache/root", reason="test", grace_period="1h")

    new = vault.get_secret("infra/redis/cache/root").data
    assert new["username"] == admin_user["username"] and new["password"] != admin_user["password"]
    # both passwords work during the grace period
    assert server.login_error(admin_user["username"], admin_user["password"]) is None
    assert server.login_error(new["username"], new["password"]) is None
    vault.revoke(before.lease_id)  # leases from before the rotation stay revocable
    assert server.users_like(before.data["username"]) == []

    clock.advance(3601)
    assert vault._rotator.run_due() == 1  # the grace period ended: the old password is retired
    assert server.login_error(admin_user["username"], admin_user["password"]) is redis.AuthenticationError
    assert server.login_error(new["username"], new["password"]) is None
    vault._engines.live(engine).engine.retire_root_credentials(admin_user)  # again: nothing left to remove
    after = vault.issue(engine, reader)
    assert server.login_error(after.data["username"], after.data["password"]) is None


def test_default_user_rotation(vault, configure, private_server, role_name):
    configure(
        vault, "rotdefault", {"connection_url": private_server.engine_url()}, {"password": private_server.password}
    )
    vault.create_role("rotdefault", role_name, keys=["k:*"], commands=["+get"])

    vault.rotate_secret("infra/redis/rotdefault/root", grace_period="0")

    new = vault.get_secret("infra/redis/rotdefault/root").data
    try:
        assert "username" not in new
        assert private_server.login_error("default", private_server.password) is redis.AuthenticationError
        assert private_server.login_error("default", new["password"]) is None
        issued = vault.issue("rotdefault", role_name)
        assert private_server.login_error(issued.data["username"], issued.data["password"]) is None
        vault.revoke(issued.lease_id)
    finally:  # give the session's server its password back
        restore = redis.Redis(host=private_server.host, port=private_server.port, password=new["password"])
        restore.execute_command("ACL", "SETUSER", "default", "resetpass", f">{private_server.password}")
        restore.close()
        private_server.admin.connection_pool.disconnect()
