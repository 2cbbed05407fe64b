"""Engine configuration errors: an unreachable server, refused root credentials, a bad URL; the
plugin found through its entry point."""

from __future__ import annotations

import pytest

from scaivault_core import EngineUnreachable, InvalidConfig, make_plugin_manager
from scaivault_core.plugin_manager import EngineRegistry

URL = "mysql://{{username}}:{{password}}@127.0.0.1:%d/%s"


def test_unreachable_server_at_creation(vault, configure, closed_port):
    with pytest.raises(EngineUnreachable) as down:
        configure(vault, "down", URL % (closed_port, "x"), {"username": "root", "password": ""}, connect_timeout=2)
    assert down.value.code == "engine_unreachable"
    assert "2003" in down.value.message
    assert vault.list_engines() == []


def test_wrong_root_password_is_invalid_config_with_the_servers_reason(
    vault, server, configure, admin_account, database
):
    wrong = {**admin_account, "password": admin_account["password"] + "-wrong"}
    with pytest.raises(InvalidConfig) as refused:
        configure(vault, "badroot", URL % (server.port, database), wrong)
    assert refused.value.code == "invalid_config"
    assert "Access denied for user" in refused.value.message
    assert wrong["password"] not in refused.value.message and admin_account["password"] not in refused.value.message


def test_a_dedicated_admin_account_works_as_root(vault, server, configure, admin_account, database, role_name):
    configure(vault, "admin", URL % (server.port, database), admin_account)
    vault.create_role(
        "admin",
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            f"GRANT SELECT ON `{database}`.* TO '{{{{name}}}}'@'%'",
        ],
    )
    issued = vault.issue("admin", role_name)
    assert server.login_error(issued.data["username"], issued.data["password"], database) is None
    vault.revoke(issued.lease_id)
    assert server.login_error(issued.data["username"], issued.data["password"], database) in (1045, 1698)


def test_unknown_database_is_invalid_config(vault, server, configure):
    with pytest.raises(InvalidConfig) as refused:
        configure(
            vault,
            "nodb",
            URL % (server.port, "sv_no_such_database"),
            {"username": server.user, "password": server.password},
        )
    assert "1049" in refused.value.message


@pytest.mark.parametrize(
    "url, problem",
    [
        ("mysql://root:@127.0.0.1:3306/x", "{{username}}"),
        ("postgresql://{{username}}:{{password}}@127.0.0.1:3306/x", "mysql://"),
        ("mysql://{{username}}:{{password}}@127.0.0.1:3306/x?ssl=1", "query"),
    ],
)
def test_malformed_urls(vault, configure, url, problem):
    with pytest.raises(InvalidConfig) as bad:
        configure(vault, "badurl", url, {"username": "root", "password": ""})
    assert problem in bad.value.message
    assert bad.value.details["field"] == "config.connection_url"


def test_the_plugin_is_found_through_its_entry_point():
    registry = EngineRegistry(make_plugin_manager())
    assert ("database", "mysql", "mysql") in registry.types()


def test_root_rotation_changes_the_admin_password(vault, server, configure, admin_account, database, role_name):
    configure(vault, "rot", URL % (server.port, database), admin_account)
    vault.create_role("rot", role_name, creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"])
    before = vault.issue("rot", role_name)

    version = vault.rotate_secret("infra/mysql/rot/root", reason="test", grace_period="0")

    new = vault.get_secret("infra/mysql/rot/root").data
    assert version.version == 2 and new["username"] == admin_account["username"]
    assert new["password"] != admin_account["password"]
    assert server.login_error(admin_account["username"], admin_account["password"]) in (1045, 1698)
    assert server.login_error(new["username"], new["password"]) is None
    # leases from before the rotation stay revocable; new ones are issued with the new credential
    vault.revoke(before.lease_id)
    assert server.users_like(before.data["username"]) == []
    after = vault.issue("rot", role_name)
    assert server.login_error(after.data["username"], after.data["password"]) is None


def test_a_root_account_with_only_the_documented_grants(vault, server, configure, database, role_name):
    user, password = f"sv_admin_n{role_name}", f"Narrow-{role_name}-pw"
    server.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
    try:
        server.execute(f"GRANT CREATE USER, PROCESS, CONNECTION ADMIN ON *.* TO '{user}'@'%'")
        server.execute(f"GRANT SELECT ON mysql.user TO '{user}'@'%'")
        server.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%' WITH GRANT OPTION")
        configure(vault, "narrow", URL % (server.port, database), {"username": user, "password": password})
        vault.create_role(
            "narrow",
            role_name,
            creation_statements=[
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
                f"GRANT SELECT ON `{database}`.* TO '{{{{name}}}}'@'%'",
            ],
        )
        issued = vault.issue("narrow", role_name)
        held = server.connect_as(issued.data["username"], issued.data["password"], database)
        vault.revoke(issued.lease_id)
        assert server.users_like(issued.data["username"]) == []
        assert server.sessions_of(issued.data["username"]) == []
        held.close()
    finally:
        server.drop_users(user)
