"""Role templates: strict, sandboxed, checked when the role is created."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig


def test_unknown_variable_is_invalid_config_at_role_creation(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "typo", creation_statements=['CREATE ROLE "{{nmae}}"'])
    assert "nmae" in err.value.message and "creation_statements[0]" in err.value.message


def test_syntax_error_is_invalid_config(vault):
    with pytest.raises(InvalidConfig):
        vault.create_role("mem", "broken", creation_statements=["CREATE {{ name"])


def test_unknown_role_field_is_named(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "x", creation_statement=["CREATE {{name}}"])
    assert "creation_statement" in err.value.message


def test_sandbox_refuses_attribute_escapes(vault, target):
    vault.create_role("mem", "evil", creation_statements=["{{ name.__class__.__mro__[1].__subclasses__() }}"])
    with pytest.raises(Exception) as err:
        vault.issue("mem", "evil")
    assert "SecurityError" in str(err.value)
    assert target.users == {}


def test_all_four_variables_render(vault, target):
    vault.create_role("mem", "vars", creation_statements=["{{name}}|{{password}}|{{expiration}}|{{ttl_seconds}}"])
    creds = vault.issue("mem", "vars", ttl="30m")
    rendered = target.users[creds.data["username"]]["statements"][0]
    name, password, expiration, ttl = rendered.split("|")
    assert (name, password, ttl) == (creds.data["username"], creds.data["password"], "1800")
    assert expiration.endswith("Z")
