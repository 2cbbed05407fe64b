"""Role validation at creation: statements parsed by the server, never run; bad parts named."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig


def test_a_statement_the_server_cannot_parse_is_named(vault, server, engine, role_name):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(
            engine,
            role_name,
            creation_statements=[
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
                "GRAN SELECT ON *.* TO '{{name}}'@'%'",
            ],
        )
    assert bad.value.details["field"] == "creation_statements[1]"
    assert "1064" in bad.value.message
    assert server.users_like("v_check_") == []  # parsed, not run


def test_validation_runs_nothing(vault, server, engine, role_name, database):
    vault.create_role(
        engine,
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            f"CREATE TABLE `{database}`.made_by_validation (id INT)",
        ],
    )
    assert server.users_like("v_check_") == []
    assert server.execute(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = 'made_by_validation'",
        (database,),
    ) == [(0,)]


def test_revocation_statements_are_checked_too(vault, engine, role_name):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(
            engine,
            role_name,
            creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"],
            revocation_statements=["DROP USR '{{name}}'@'%'"],
        )
    assert bad.value.details["field"] == "revocation_statements[0]"


def test_two_statements_in_one_entry_are_refused(vault, engine, role_name):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(
            engine,
            role_name,
            creation_statements=[
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; DROP DATABASE mysql",
            ],
        )
    assert bad.value.details["field"] == "creation_statements[0]"


def test_password_is_refused_outside_creation(vault, engine, role_name):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(
            engine,
            role_name,
            creation_statements=["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"],
            renew_statements=["ALTER USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'"],
        )
    assert bad.value.details["field"] == "renew_statements"


def test_unknown_variable_and_missing_statements(vault, engine, role_name):
    with pytest.raises(InvalidConfig) as unknown:
        vault.create_role(engine, role_name, creation_statements=["CREATE USER '{{user}}'@'%'"])
    assert unknown.value.details["field"] == "creation_statements[0]"
    with pytest.raises(InvalidConfig) as empty:
        vault.create_role(engine, role_name, creation_statements=[])
    assert empty.value.details["field"] == "creation_statements"
    with pytest.raises(InvalidConfig):
        vault.create_role(engine, role_name, creation_statement=["typo in the field name"])


def test_expiration_is_a_datetime_literal(vault, server, engine, role_name, clock):
    vault.create_role(
        engine,
        role_name,
        creation_statements=[
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
            "SELECT TIMESTAMP '{{expiration}}'",
        ],
    )
    issued = vault.issue(engine, role_name, ttl="1h")
    assert vault._engines.live(engine).engine.format_expiration(clock.time() + 3600) == "2027-01-15 09:00:00"
    assert server.users_like(issued.data["username"]) == [issued.data["username"]]
