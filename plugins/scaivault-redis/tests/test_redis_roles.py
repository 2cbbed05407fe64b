"""Role validation at creation: rule syntax checked here, command and category names by the server,
each problem named by its field; rules that would touch the user's password or state refused."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig


@pytest.mark.parametrize(
    "fields, field, words",
    [
        ({"commands": ["+get", "+nosuchcommand"]}, "commands[1]", "'+nosuchcommand'"),
        ({"commands": ["+@nosuchcategory"]}, "commands[0]", "'@nosuchcategory'"),
        ({"commands": ["+config|nosuchsub"]}, "commands[0]", "'+config|nosuchsub'"),
        ({"commands": ["+get", "-get|0"]}, "commands[1]", "'-get|0'"),
        ({"commands": ["+config|get|x"]}, "commands[0]", "subcommand"),
        ({"commands": ["get"]}, "commands[0]", "+command"),
        ({"commands": ["+get"], "keys": ["~cache:*"]}, "keys[0]", "without its '~'"),
        ({"commands": ["+get"], "keys": ["cache: *"]}, "keys[0]", "without spaces"),
        ({"commands": ["+get"], "channels": ["&news"]}, "channels[0]", "without its '&'"),
        ({"commands": ["+get"], "acl_rules": ["nopass"]}, "acl_rules[0]", "password"),
        ({"commands": ["+get"], "acl_rules": ["on"]}, "acl_rules[0]", "state"),
        ({"commands": ["+get"], "acl_rules": ["RESET"]}, "acl_rules[0]", "state"),
        ({"commands": ["+get"], "acl_rules": ["%X~a"]}, "acl_rules[0]", "not an ACL rule"),
        ({"commands": ["+get"], "acl_rules": ["~a b"]}, "acl_rules[0]", "space"),
        ({"commands": ["+get"], "acl_rules": ["(~a clearselectors)"]}, "acl_rules[0]", "not an ACL rule"),
        ({"acl_rules": ["(~tmp:* +nosuch)"]}, "acl_rules[0]", "'+nosuch'"),
        ({"keys": ["cache:*"]}, "commands", "grants no command"),
        ({"keys": ["cache:*"], "commands": ["-@all"]}, "commands", "grants no command"),
    ],
)
def test_bad_rules_are_named(vault, engine, role_name, fields, field, words):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(engine, role_name, **fields)
    assert bad.value.details["field"] == field
    assert words in bad.value.message


def test_a_password_rule_is_not_echoed(vault, engine, role_name):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(engine, role_name, commands=["+get"], acl_rules=[">hunter2-secret"])
    assert "hunter2-secret" not in bad.value.message
    assert bad.value.details["field"] == "acl_rules[0]"


def test_every_problem_is_listed(vault, engine, role_name):
    with pytest.raises(InvalidConfig) as bad:
        vault.create_role(engine, role_name, keys=["~a"], commands=["get"], acl_rules=["off"])
    assert len(bad.value.details["problems"]) == 3


@pytest.mark.parametrize(
    "fields",
    [
        {"commands": ["+get", "+config|get", "+select|0", "-flushall", "+@read", "-@dangerous"]},
        {"acl_rules": ["allkeys", "allchannels", "allcommands", "-@admin"]},
        {"keys": ["a:*"], "acl_rules": ["%R~logs:*", "%RW~tmp:*", "(~other:* +set)", "clearselectors", "+get"]},
        {"channels": ["news.*"], "commands": ["+subscribe", "+psubscribe", "+publish"]},
        {"commands": ["+GET", "+@Read"]},
        {"commands": ["+@all", "-@dangerous"]},
    ],
)
def test_good_rules_are_accepted(vault, server, engine, role_name, fields):
    vault.create_role(engine, role_name, **fields)
    assert server.users_like(f"v_{role_name}_") == []  # validation creates nothing


def test_unknown_role_field_is_refused(vault, engine, role_name):
    with pytest.raises(InvalidConfig):
        vault.create_role(engine, role_name, command=["+get"])
