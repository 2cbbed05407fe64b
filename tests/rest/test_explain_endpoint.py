"""GET /v1/sys/explain: the core's policy explain over REST and through the client, asked by the
identity itself or by a holder of read on every policy, and by nobody else."""

from __future__ import annotations

from scaivault_core.client import ScaiVaultClient

ROLE = "dynamic/engines/mem/roles/readonly"


def token_for(app_client, identity: str, rules: list[dict] | None = None) -> dict[str, str]:
    vault = app_client.vault
    if rules:
        name = identity.replace(":", "-")
        vault.create_policy(name, rules)
        vault.bind_policy(name, identity)
    return {"Authorization": f"Bearer {vault.create_token(identity)['token']}"}


def explain(app_client, headers, identity: str, permission: str = "read", path: str = ROLE):
    return app_client.get(
        "/v1/sys/explain", params={"identity": identity, "permission": permission, "path": path}, headers=headers
    )


def test_an_identity_may_explain_its_own_access(app_client):
    app = token_for(app_client, "sa:app", [{"path_pattern": ROLE, "permissions": ["read"]}])
    answer = explain(app_client, app, "sa:app")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["allowed"] is True and body["message"].startswith("Yes: sa:app may read " + ROLE)
    [own] = body["principals"]
    assert own["grants"] == [{"policy": "sa-app", "rule": 1, "path_pattern": ROLE, "permissions": ["read"]}]
    assert explain(app_client, app, "sa:app", "revoke").json()["allowed"] is False


def test_another_identitys_access_needs_read_on_every_policy(app_client):
    app_client.vault.create_policy("secret-team", [{"path_pattern": "apps/**", "permissions": ["read"]}])
    app_client.vault.bind_policy("secret-team", "sa:other")
    nosy = token_for(app_client, "sa:nosy", [{"path_pattern": "sys/policies/secret-team", "permissions": ["read"]}])
    refused = explain(app_client, nosy, "sa:other", path="apps/db")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    desk = token_for(app_client, "sa:desk", [{"path_pattern": "sys/policies/*", "permissions": ["read"]}])
    answer = explain(app_client, desk, "sa:other", path="apps/db").json()
    assert answer["allowed"] is True and answer["principals"][0]["policies"] == ["secret-team"]


def test_every_question_part_is_required_and_checked(app_client):
    for params in (
        {"permission": "read", "path": ROLE},
        {"identity": "sa:x", "path": ROLE},
        {"identity": "sa:x", "permission": "read"},
        {"identity": "sa:x", "permission": "fly", "path": ROLE},
        {"identity": "nobody", "permission": "read", "path": ROLE},
    ):
        answer = app_client.get("/v1/sys/explain", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request", params


def test_the_client_asks_the_same(app_client):
    client = ScaiVaultClient(
        str(app_client.base_url), transport=app_client._transport, token=app_client.headers["Authorization"].split()[1]
    )
    answer = client.explain("user:admin", "rotate", "infra/anything")
    assert answer == app_client.vault.explain("user:admin", "rotate", "infra/anything")  # the vault's very Explanation
    assert answer.allowed is True and answer.principals[0].grants[0].policy == "root"
    assert client.json.explain("user:admin", "rotate", "infra/anything") == answer.to_dict()
