"""The operation table is the API: one entry per VaultAPI method, and bodies bound to it as declared."""

from __future__ import annotations

import inspect

from scaivault_core.api import OPERATIONS, VaultAPI
from scaivault_core.cli import cli


def test_every_vaultapi_method_is_one_operation():
    methods = {name for name, _ in inspect.getmembers(VaultAPI, inspect.isfunction) if not name.startswith("_")}
    methods.remove("iterate")  # no operation: it follows the `next` of the paged ones
    named = [op.name for op in OPERATIONS]
    assert sorted(named) == sorted(methods)
    assert len({op.operation_id for op in OPERATIONS}) == len(OPERATIONS)


def test_every_declared_command_is_on_the_command_line():
    for op in OPERATIONS:
        if op.cli is not None:
            *group, verb = op.cli.name.split()
            commands = cli.commands[group[0]].commands if group else cli.commands
            assert commands[verb].help == op.cli.help, op.cli.name


def test_a_role_body_is_checked_after_the_callers_permission(app_client):
    """Its limits are ``Unchecked``: the core checks them once the caller may write the role, so a refused
    caller is answered (and audited) as refused, never told about the body's types."""
    token = app_client.post("/v1/auth/tokens", json={"identity": "sa:nobody"}).json()["token"]
    body = {"name": "r2", "max_leases": "many"}
    refused = app_client.post("/v1/dynamic/engines/mem/roles", json=body, headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    checked = app_client.post("/v1/dynamic/engines/mem/roles", json=body)
    assert checked.status_code == 400 and checked.json()["error"]["details"]["field"] == "max_leases"


def test_a_name_in_the_body_must_be_the_one_in_the_path(app_client):
    rules = [{"path_pattern": "app/*", "permissions": ["read"]}]
    assert app_client.post("/v1/policies", json={"name": "p", "rules": rules}).status_code == 201
    other = app_client.put("/v1/policies/p", json={"name": "q", "rules": rules})
    assert other.status_code == 400 and other.json()["error"]["details"]["field"] == "name"
    assert app_client.put("/v1/policies/p", json={"name": "p", "rules": rules}).status_code == 200


def test_token_self_says_who_the_caller_is(app_client):
    """GET /v1/auth/tokens/self: any valid token, its own identity, ceilings, accessor and expiry."""
    rules = [{"path_pattern": "sys/tokens", "permissions": ["create"]}]
    app_client.post("/v1/policies", json={"name": "minter", "rules": rules})
    app_client.post("/v1/policies/minter/bindings", json={"identity": "sa:who"})
    minted = app_client.post("/v1/auth/tokens", json={"identity": "sa:who", "ttl": "1h"}).json()
    mine = app_client.get("/v1/auth/tokens/self", headers={"Authorization": f"Bearer {minted['token']}"})
    assert mine.status_code == 200
    assert mine.json() == {
        "identity": "sa:who",
        "ceilings": [],
        "accessor": minted["accessor"],
        "expires_at": minted["expires_at"],
    }
    sub = app_client.post(
        "/v1/auth/tokens", json={"identity": "sa:sub"}, headers={"Authorization": f"Bearer {minted['token']}"}
    ).json()
    theirs = app_client.get("/v1/auth/tokens/self", headers={"Authorization": f"Bearer {sub['token']}"}).json()
    assert theirs["identity"] == "sa:sub" and theirs["ceilings"] == ["sa:who"]  # it may do only what sa:who may
    assert app_client.get("/v1/auth/tokens/self", headers={"Authorization": ""}).status_code == 401
    assert app_client.delete("/v1/auth/tokens/self").status_code == 405  # "self" is never an accessor
    assert app_client.vault.token_self()["identity"] == "user:admin"  # embedded: the vault itself, no token
