"""Policy explain: which rule of which policy lets an identity do something (or that none does), with
a token's ceilings counted, and who may ask about whom."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidRequest, PermissionDenied

ROLE = "dynamic/engines/pg/roles/ro"
TEAM = [
    {"path_pattern": "dynamic/engines/pg/roles", "permissions": ["list"]},
    {"path_pattern": "dynamic/engines/*/roles/ro", "permissions": ["read", "list"]},
]


@pytest.fixture
def team(vault):
    vault.create_policy("team", TEAM)
    vault.bind_policy("team", "sa:x")
    return vault


def test_yes_names_the_rule_and_policy(team):
    answer = team.explain("sa:x", "read", ROLE)
    assert answer.allowed
    [own] = answer.principals
    assert (own.identity, own.ceiling, own.policies) == ("sa:x", False, ["team"])
    [grant] = own.grants
    assert (grant.policy, grant.rule, grant.path_pattern) == ("team", 2, "dynamic/engines/*/roles/ro")
    assert answer.message == (
        "Yes: sa:x may read dynamic/engines/pg/roles/ro. sa:x is granted it by "
        "rule 2 of policy 'team' (dynamic/engines/*/roles/ro: read, list)."
    )


def test_every_granting_rule_is_named(team):
    team.create_policy("ops", [{"path_pattern": "dynamic/**", "permissions": ["read"]}])
    team.bind_policy("ops", "sa:x")
    grants = team.explain("sa:x", "read", ROLE).principals[0].grants
    assert {(g.policy, g.rule) for g in grants} == {("team", 2), ("ops", 1)}


def test_no_names_the_rules_that_match_the_path_without_the_permission(team):
    answer = team.explain("sa:x", "revoke", ROLE)
    assert not answer.allowed and answer.principals[0].grants == []
    assert [(g.policy, g.rule) for g in answer.principals[0].other_rules] == [("team", 2)]
    assert answer.message == (
        "No: sa:x may not revoke dynamic/engines/pg/roles/ro. No policy bound to sa:x grants "
        "it; rule 2 of policy 'team' (dynamic/engines/*/roles/ro) matches the path but grants "
        "only read, list."
    )


def test_an_identity_without_policies(team):
    answer = team.explain("sa:nobody", "read", ROLE)
    assert not answer.allowed and answer.principals[0].policies == []
    assert answer.message.endswith("No policy is bound to sa:nobody.")


def test_agrees_with_the_checks_themselves(team, target):
    """The answer is the authorizer's own: issuing works exactly where explain says yes."""
    team.create_engine("pg", "database", {"plugin": "memory"})
    team.create_role("pg", "ro")
    team.create_role("pg", "rw")
    x = team.as_identity("sa:x")
    assert team.explain("sa:x", "read", ROLE).allowed
    x.issue("pg", "ro")
    assert not team.explain("sa:x", "read", "dynamic/engines/pg/roles/rw").allowed
    with pytest.raises(PermissionDenied):
        x.issue("pg", "rw")


def test_a_tokens_ceilings_are_counted(team):
    """A token minted by a desk may do only what the desk may: its own access says so, naming the desk."""
    team.create_policy("desk", [{"path_pattern": "sys/tokens", "permissions": ["create"]}])
    team.bind_policy("desk", "sa:desk")
    desk = team.authenticate(team.create_token("sa:desk", ttl="1h")["token"])
    x = team.authenticate(desk.create_token("sa:x")["token"])
    answer = x.explain("sa:x", "read", ROLE)
    assert not answer.allowed
    assert [(v.identity, v.ceiling, v.allowed) for v in answer.principals] == [
        ("sa:x", False, True),
        ("sa:desk", True, False),
    ]
    assert (
        "Its token may do only what sa:desk (who minted it) may, and no policy bound to sa:desk grants it."
        in answer.message
    )
    # Give the desk the grant, and the same token may: ceilings are read at every question.
    team.create_policy("desk-issue", [{"path_pattern": "dynamic/engines/*/roles/*", "permissions": ["read"]}])
    team.bind_policy("desk-issue", "sa:desk")
    assert x.explain("sa:x", "read", ROLE).allowed
    # The identity itself, asked about by someone who may read every policy, has no token: no ceilings.
    assert [v.identity for v in team.explain("sa:x", "read", ROLE).principals] == ["sa:x"]


def test_anyone_may_explain_their_own_access(team):
    x = team.authenticate(team.create_token("sa:x", ttl="1h")["token"])
    assert x.explain("sa:x", "read", ROLE).allowed
    assert not x.explain("sa:x", "delete", "sys/policies/team").allowed


def test_explaining_another_identity_needs_read_on_every_policy(team):
    """The answer quotes the policies bound to the identity asked about, any of them: so asking needs what
    reading them all needs, `read` on sys/policies/*. A refusal is audited like any other."""
    x = team.as_identity("sa:x")
    with pytest.raises(PermissionDenied) as err:
        x.explain("sa:y", "read", ROLE)
    assert err.value.details == {"identity": "sa:x", "path": "sys/policies/*", "permission": "read"}
    assert "may explain only its own access" in err.value.message
    denied = team.audit_log(operation="access.denied", identity="sa:x")
    assert denied and denied[-1][1].path == "sys/policies/*"
    # Reading one policy is not reading every policy.
    team.create_policy("one", [{"path_pattern": "sys/policies/team", "permissions": ["read"]}])
    team.bind_policy("one", "sa:x")
    with pytest.raises(PermissionDenied):
        x.explain("sa:y", "read", ROLE)
    team.create_policy("auditor", [{"path_pattern": "sys/policies/**", "permissions": ["read"]}])
    team.bind_policy("auditor", "sa:auditor")
    assert team.as_identity("sa:auditor").explain("sa:x", "read", ROLE).allowed


def test_the_refusal_names_the_ceiling_that_lacks_the_grant(team):
    team.create_policy("desk", [{"path_pattern": "sys/tokens", "permissions": ["create"]}])
    team.bind_policy("desk", "sa:desk")
    team.create_policy("reader", [{"path_pattern": "sys/policies/*", "permissions": ["read"]}])
    team.bind_policy("reader", "sa:x")
    desk = team.authenticate(team.create_token("sa:desk", ttl="1h")["token"])
    x = team.authenticate(desk.create_token("sa:x")["token"])
    with pytest.raises(PermissionDenied) as err:
        x.explain("sa:y", "read", ROLE)
    assert "sa:desk (who minted it)" in err.value.message


@pytest.mark.parametrize(
    "identity, permission, path, field",
    [
        ("sa:x", "write", ROLE, "permission"),
        ("sa:x", "read", "dynamic/engines/*/roles/ro", "path"),
        ("sa:x", "read", "dynamic//x", "path"),
        ("sa:x", "read", "", "path"),
        ("sa:x", "read", "a" * 513, "path"),
        ("x", "read", ROLE, "identity"),
    ],
)
def test_malformed_questions_are_invalid_request(team, identity, permission, path, field):
    with pytest.raises(InvalidRequest) as err:
        team.explain(identity, permission, path)
    assert err.value.details["field"] == field


def test_to_dict_is_what_front_ends_show(team):
    body = team.explain("sa:x", "read", ROLE).to_dict()
    assert body["allowed"] is True and body["message"].startswith("Yes: ")
    assert body["principals"][0]["grants"] == [
        {"policy": "team", "rule": 2, "path_pattern": "dynamic/engines/*/roles/ro", "permissions": ["read", "list"]}
    ]
