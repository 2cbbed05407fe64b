"""REST endpoints for operators: metrics, reconcile, forgetting irrevocable leases, secret versions and
scheduled rotation, and endpoints a plugin adds as core operations."""

from __future__ import annotations

import re

import pytest

from scaivault_core import hookimpl
from scaivault_core.metrics import CONTENT_TYPE
from scaivault_core.rest import Operation, create_app
from scaivault_core.templates import generate_username
from scaivault_core.testing import MemoryUser

ISSUE = "/v1/dynamic/engines/mem/creds/readonly"
ROOT = "infra/mem/root"


def token_for(client, identity: str, rules: list[dict] | None = None) -> dict:
    """Authorization headers of a new token for ``identity``, bound to a policy with ``rules`` if given."""
    if rules:
        name = identity.split(":")[1] + "-policy"
        assert client.post("/v1/policies", json={"name": name, "rules": rules}).status_code == 201
        assert client.post(f"/v1/policies/{name}/bindings", json={"identity": identity}).status_code == 201
    token = client.post("/v1/auth/tokens", json={"identity": identity}).json()["token"]
    return {"Authorization": f"Bearer {token}"}


# -- metrics ---------------------------------------------------------------------------------------


def test_metrics_are_prometheus_text_behind_read_on_sys_metrics(app_client):
    lease = app_client.post(ISSUE, json={}).json()
    response = app_client.get("/v1/metrics")
    assert response.status_code == 200 and response.headers["content-type"] == CONTENT_TYPE
    assert 'scaivault_leases_active{engine="mem",role="readonly"} 1.0' in response.text
    assert re.search(
        r'scaivault_lease_operations_total\{engine="mem",operation="issue",outcome="ok",role="readonly"\} 1\.0',
        response.text,
    )
    assert lease["data"]["password"] not in response.text

    assert app_client.get("/v1/metrics", headers={"Authorization": ""}).status_code == 401
    nobody = token_for(app_client, "sa:nobody")
    denied = app_client.get("/v1/metrics", headers=nobody)
    assert denied.status_code == 403 and denied.json()["error"]["details"]["path"] == "sys/metrics"
    scraper = token_for(app_client, "sa:prometheus", [{"path_pattern": "sys/metrics", "permissions": ["read"]}])
    assert app_client.get("/v1/metrics", headers=scraper).text == app_client.get("/v1/metrics").text


def test_metrics_are_text_in_the_openapi_document(app_client):
    responses = app_client.get("/v1/openapi.json").json()["paths"]["/v1/metrics"]["get"]["responses"]
    assert responses["200"]["content"] == {CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Metrics"}}}
    assert {"401", "403"} <= set(responses)


# -- reconcile -------------------------------------------------------------------------------------


def orphans_of_mem(target, count: int) -> list[str]:
    """Users engine "mem" made (marked as its own in the target) that no lease record accounts for."""
    names = sorted(generate_username("readonly", 63) for _ in range(count))
    for name in names:
        target.users[name] = MemoryUser("x", 0, engine="mem")
    return names


def test_reconcile_lists_then_removes_users_no_lease_accounts_for(app_client, target):
    lease = app_client.post(ISSUE, json={}).json()
    orphans = orphans_of_mem(target, 2)
    target.users["v_readonly_not'ours"] = MemoryUser("z", 0, engine="mem")  # not a name the vault makes

    listed = app_client.post("/v1/dynamic/engines/mem/reconcile")  # no body: list only
    assert listed.status_code == 200
    assert listed.json() == {
        "engine": "mem",
        "orphans": orphans,
        "revoked": [],
        "failed": [],
        "skipped": [{"subject": "v_readonly_not'ours", "reason": "not_generated"}],
    }
    assert orphans[0] in target.users

    removed = app_client.post("/v1/dynamic/engines/mem/reconcile", json={"revoke": True}).json()
    assert removed["revoked"] == orphans and removed["failed"] == []
    assert sorted(target.users) == sorted([lease["data"]["username"], "v_readonly_not'ours"])  # the leased user stays
    assert app_client.post("/v1/dynamic/engines/mem/reconcile", json={"revoke": False}).json()["orphans"] == []


def test_reconcile_errors(app_client, target):
    assert app_client.post("/v1/dynamic/engines/mem/reconcile", json={"revoke": "yes"}).status_code == 400
    assert app_client.post("/v1/dynamic/engines/mem/reconcile", json={"dry_run": True}).status_code == 400
    assert app_client.post("/v1/dynamic/engines/nope/reconcile").json()["error"]["code"] == "engine_not_found"
    reader = token_for(
        app_client, "sa:reader", [{"path_pattern": "dynamic/engines/mem/roles/*", "permissions": ["read"]}]
    )
    denied = app_client.post("/v1/dynamic/engines/mem/reconcile", headers=reader)
    assert denied.status_code == 403 and denied.json()["error"]["details"]["permission"] == "revoke"
    (orphan,) = orphans_of_mem(target, 1)
    target.down_for = {"revoke"}  # the target still lists its users; each removal fails on its own, and says why
    failed = app_client.post("/v1/dynamic/engines/mem/reconcile", json={"revoke": True}).json()
    assert failed["revoked"] == [] and [(f["subject"], f["code"]) for f in failed["failed"]] == [
        (orphan, "engine_unreachable")
    ]


# -- irrevocable leases ---------------------------------------------------------------------------


def test_forget_an_irrevocable_lease(app_client, target):
    lease_id = app_client.post(ISSUE, json={}).json()["lease_id"]
    target.down = True
    refused = app_client.post(f"/v1/dynamic/leases/{lease_id}/forget")
    assert refused.status_code == 400 and "only irrevocable leases" in refused.json()["error"]["message"]
    for _ in range(4):  # the test vault gives up after 4 attempts
        assert app_client.delete(f"/v1/dynamic/leases/{lease_id}").status_code == 502
    assert app_client.get(f"/v1/dynamic/leases/{lease_id}").json()["state"] == "irrevocable"

    owner_less = token_for(
        app_client, "sa:reader", [{"path_pattern": "dynamic/engines/mem/roles/*", "permissions": ["read"]}]
    )
    # Without 'revoke' on the engine the lease is not theirs to see: the same 404 as a missing lease.
    assert app_client.post(f"/v1/dynamic/leases/{lease_id}/forget", headers=owner_less).status_code == 404
    forgotten = app_client.post(f"/v1/dynamic/leases/{lease_id}/forget")
    assert forgotten.status_code == 200
    body = forgotten.json()
    assert body["lease_id"] == lease_id and body["state"] == "revoked"
    assert app_client.get(f"/v1/dynamic/leases/{lease_id}").json()["last_error"] == "forgotten by operator"
    assert app_client.vault.audit_log(operation="lease.force_forget")[0][1].lease_id == lease_id
    assert app_client.post("/v1/dynamic/leases/lease_db_nope/forget").json()["error"]["code"] == "lease_not_found"


# -- secret versions and scheduled rotation ---------------------------------------------------------


@pytest.fixture
def rooted(app_client, target):
    """Engine "memroot" whose root secret is rotatable (the memory engine records what it was given)."""
    app_client.put(f"/v1/secrets/{ROOT}", json={"data": {"username": "admin", "password": "original-pw"}})
    app_client.post(
        "/v1/policies", json={"name": "mem-root", "rules": [{"path_pattern": ROOT, "permissions": ["read", "rotate"]}]}
    )
    app_client.post("/v1/policies/mem-root/bindings", json={"identity": "dynamic:memroot"})
    created = app_client.post(
        "/v1/dynamic/engines",
        json={"name": "memroot", "type": "database", "config": {"plugin": "memory", "root_credentials_path": ROOT}},
    )
    assert created.status_code == 201
    return app_client


def test_versions_list_every_version_without_values(rooted, target):
    rooted.post(f"/v1/secrets/{ROOT}/rotate", json={"reason": "quarterly", "grace_period": "1h"})
    response = rooted.get(f"/v1/secrets/{ROOT}/versions")
    assert response.status_code == 200
    body = response.json()
    assert body["path"] == ROOT and [v["version"] for v in body["versions"]] == [1, 2]
    assert [v["reason"] for v in body["versions"]] == [None, "quarterly"]
    assert "original-pw" not in response.text and target.root_passwords[-1] not in response.text
    assert all("data" not in v for v in body["versions"])
    assert rooted.get("/v1/secrets/infra/none/versions").json()["error"]["code"] == "not_found"
    stranger = token_for(rooted, "sa:stranger")
    assert rooted.get(f"/v1/secrets/{ROOT}/versions", headers=stranger).status_code == 403


def test_rotation_period_schedules_rotation(rooted, target, clock):
    response = rooted.put(f"/v1/secrets/{ROOT}/rotation", json={"period": "30d", "grace_period": "1h"})
    assert response.status_code == 200 and response.json() == {"path": ROOT, "period": "720h", "grace_period": "1h"}
    vault = rooted.vault
    clock.advance(30 * 86400 + 1)
    vault.worker._scheduled()
    versions = rooted.get(f"/v1/secrets/{ROOT}/versions").json()["versions"]
    assert [v["reason"] for v in versions] == [None, "scheduled rotation"] and len(target.root_passwords) == 1

    assert rooted.put(f"/v1/secrets/{ROOT}/rotation", json={"period": None}).json() == {
        "path": ROOT,
        "period": None,
        "grace_period": None,
    }
    clock.advance(60 * 86400)
    vault.worker._scheduled()
    assert len(target.root_passwords) == 1  # stopped
    assert rooted.put(f"/v1/secrets/{ROOT}/rotation", json={"period": "0"}).json()["period"] is None


def test_rotation_period_errors(rooted):
    bad = rooted.put(f"/v1/secrets/{ROOT}/rotation", json={"period": "monthly"})
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "period"
    assert rooted.put(f"/v1/secrets/{ROOT}/rotation", json={}).status_code == 400
    assert rooted.put(f"/v1/secrets/{ROOT}/rotation", json={"period": True}).status_code == 400
    reader = token_for(rooted, "sa:reader", [{"path_pattern": ROOT, "permissions": ["read"]}])
    denied = rooted.put(f"/v1/secrets/{ROOT}/rotation", json={"period": "1d"}, headers=reader)
    assert denied.status_code == 403 and denied.json()["error"]["details"]["permission"] == "rotate"


def test_secret_paths_ending_in_an_action_are_not_secrets_over_rest(app_client):
    for action in ("rotate", "rotation", "versions"):
        assert app_client.delete(f"/v1/secrets/app/{action}").status_code == 405, action
    assert app_client.put("/v1/secrets/app/versions", json={"data": {"k": "v"}}).status_code == 405
    assert app_client.get("/v1/secrets/app/rotation").status_code == 405
    assert app_client.get("/v1/secrets/app/versions").json()["error"]["message"] == "No secret at 'app'."
    assert (
        app_client.put("/v1/secrets/app/versions/x", json={"data": {"k": "v"}}).status_code == 200
    )  # only the last segment
    assert app_client.get("/v1/secrets/app/versions/x/versions").json()["versions"][0]["path"] == "app/versions/x"


# -- endpoints a plugin adds as operations ---------------------------------------------------------


def _engine_type(api, call):
    return f"{api.ops.get_engine(call.path['engine']).type}\n"


class OperationsPlugin:
    @hookimpl
    def register_routes(self, routes):
        routes.append(
            Operation(
                "GET",
                "/v1/dynamic/engines/{engine}/acme/type",
                _engine_type,
                "An engine's type",
                "acmeType",
                media_type="text/plain",
                errors=(404,),
                tag="acme",
            )
        )
        routes.append(
            Operation(
                "POST",
                "/v1/acme/echo",
                lambda api, call: {"got": call.body, "as": api.ops.identity},
                "Echo a body",
                "acmeEcho",
                body=dict,
                body_schema={"type": "object"},
                response={"type": "object"},
                tag="acme",
            )
        )


class ClashingPlugin:
    @hookimpl
    def register_routes(self, routes):
        routes.append(Operation("GET", "/v1/health", lambda api, call: {}, "Not the health", "fakeHealth", auth=False))


def test_plugin_operations_are_served_and_documented_like_the_core(make_vault, target):
    from starlette.testclient import TestClient

    vault = make_vault(plugins=[OperationsPlugin()])
    vault.create_engine("mem", "database", {"plugin": "memory"})
    with TestClient(create_app(vault), raise_server_exceptions=False) as client:
        assert client.get("/v1/dynamic/engines/mem/acme/type").status_code == 401
        client.headers["Authorization"] = f"Bearer {vault.create_admin_token()}"
        typed = client.get("/v1/dynamic/engines/mem/acme/type")
        assert typed.status_code == 200 and typed.text == "database\n"
        assert typed.headers["content-type"] == "text/plain; charset=utf-8"
        assert client.get("/v1/dynamic/engines/nope/acme/type").json()["error"]["code"] == "engine_not_found"
        assert client.post("/v1/acme/echo", json={"a": 1}).json() == {"got": {"a": 1}, "as": "user:admin"}
        assert client.post("/v1/acme/echo", content=b"{").json()["error"]["code"] == "invalid_request"
        paths = client.get("/v1/openapi.json").json()["paths"]
    typed_doc = paths["/v1/dynamic/engines/{engine}/acme/type"]["get"]
    assert typed_doc["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert typed_doc["parameters"][0]["name"] == "engine" and typed_doc["security"] == [{"bearer": []}]
    assert paths["/v1/acme/echo"]["post"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object"
    }


def test_a_plugin_cannot_replace_a_core_endpoint(make_vault):
    vault = make_vault(plugins=[ClashingPlugin()])
    with pytest.raises(Exception, match="Two REST operations answer GET /v1/health"):
        create_app(vault)
