"""The REST API over the core's memory-engine vault: statuses, bodies and errors of every area."""

from __future__ import annotations

import re

import pytest
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from scaivault_core import EngineNotFound, Vault, hookimpl, make_plugin_manager
from scaivault_core.logs import RequestIdFilter
from scaivault_core.rest import Operation, api_docs, create_app, operations, vault_compat
from scaivault_core.rest.errors import error_response
from scaivault_core.testing.servers import FRONT_ENDS

ISSUE = "/v1/dynamic/engines/mem/creds/readonly"


@pytest.fixture(scope="module", params=FRONT_ENDS)
def front_end(request):
    """Every test here runs against each front end."""
    return request.param


def error_of(response) -> dict:
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


# -- the issue's error checks --------------------------------------------------------------------


def test_no_token_is_401_unauthenticated(app_client):
    response = app_client.get("/v1/dynamic/engines", headers={"Authorization": ""})
    assert response.status_code == 401 and error_of(response)["code"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"
    bad = app_client.get("/v1/dynamic/engines", headers={"Authorization": "Bearer svt.not-a-token"})
    assert bad.status_code == 401 and error_of(bad)["code"] == "unauthenticated"
    basic = app_client.get("/v1/dynamic/engines", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_identity_without_grant_is_403_permission_denied(app_client):
    token = app_client.post("/v1/auth/tokens", json={"identity": "sa:nobody"}).json()["token"]
    response = app_client.post(ISSUE, json={}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied" and error["details"]["identity"] == "sa:nobody"


def test_malformed_json_is_400_invalid_request(app_client):
    for raw in (b'{"name": ', b"\xff\xfe", b'{"name": NaN}', b"[" * 100_000):
        response = app_client.post("/v1/policies", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, raw[:10]
        assert error_of(response)["code"] == "invalid_request"


def test_a_small_body_without_a_valid_token_is_401_whatever_it_holds(app_client):
    """A small body is received before the token is checked, but parsed only after: malformed JSON from
    a caller without a valid token is refused as unauthenticated, never as a bad body."""
    for token in ("", "Bearer svt.not-a-token"):
        response = app_client.post(
            "/v1/policies", content=b'{"name": ', headers={"Content-Type": "application/json", "Authorization": token}
        )
        assert response.status_code == 401 and error_of(response)["code"] == "unauthenticated"


def test_unknown_engine_is_404_engine_not_found(app_client):
    for response in (
        app_client.post("/v1/dynamic/engines/nope/creds/readonly", json={}),
        app_client.get("/v1/dynamic/engines/nope"),
        app_client.post("/v1/dynamic/engines/nope/roles", json={"name": "r"}),
    ):
        assert response.status_code == 404
        assert error_of(response)["code"] == "engine_not_found"


# -- bodies --------------------------------------------------------------------------------------


def test_unknown_and_mistyped_fields_are_refused_by_name(app_client):
    unknown = app_client.post("/v1/policies", json={"name": "p", "rules": [], "colour": "red"})
    assert unknown.status_code == 400 and "colour" in error_of(unknown)["message"]
    typed = app_client.post("/v1/auth/tokens", json={"identity": 5})
    assert typed.status_code == 400 and "identity must be a string" in error_of(typed)["message"]
    rule = app_client.post("/v1/policies", json={"name": "p", "rules": [{"path_pattern": 7, "permissions": ["read"]}]})
    assert rule.status_code == 400 and "rules[0].path_pattern" in error_of(rule)["message"]
    request_field = app_client.post(ISSUE, json={"ttl": "1h", "flavour": "x"})
    assert request_field.status_code == 400 and "flavour" in error_of(request_field)["message"]
    reserved = app_client.post(ISSUE, json={"engine": "other"})
    assert reserved.status_code == 400 and error_of(reserved)["details"]["field"] == "engine"
    not_object = app_client.post(ISSUE, json=["ttl"])
    assert not_object.status_code == 400


def test_body_size_limit_is_413_invalid_request(app_client):
    big = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    declared = app_client.post("/v1/policies", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and error_of(declared)["code"] == "invalid_request"

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(40):
            yield b"x" * 65536

    streamed = app_client.post("/v1/policies", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and error_of(streamed)["code"] == "invalid_request"


def test_routing_errors_are_error_json(app_client):
    missing = app_client.get("/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert app_client.get("/v1/policies/").status_code == 404  # no redirect to the slash-less path
    wrong = app_client.patch("/v1/policies/root")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "invalid_request"
    assert set(wrong.headers["allow"].split(", ")) >= {"GET", "PUT", "DELETE"}


class RoutesPlugin:
    @hookimpl
    def register_routes(self, routes):
        def boom(request):
            secret = "hunter" + str(2)  # built at run time, so only the message could carry it to the log
            raise RuntimeError(f"password={secret} leaked into a message")

        def typed(request):
            raise EngineNotFound("No engine named 'x'.", engine="x")

        async def who(request):
            return JSONResponse({"vault": type(request.app.state.vault).__name__})

        def op_boom(api, call):
            raise RuntimeError(f"password={'hunter' + str(2)} leaked into a message")

        async def stream(request):
            async def pieces():
                for piece in (b"one ", b"two ", b"three"):
                    yield piece

            return StreamingResponse(pieces(), media_type="text/plain")

        routes += [Route("/v1/plugin/boom", boom), Route("/v1/plugin/typed", typed), Route("/v1/plugin/who", who)]
        routes.append(Route("/v1/plugin/stream", stream))
        routes.append(Operation("GET", "/v1/plugin/op-boom", op_boom, "Fails", "plugin_op_boom", auth=False))


def test_plugin_routes_and_unexpected_errors(make_vault, caplog, serve_app):
    """A plugin's plain route (the threaded front end's bridge) and its Operation (served in the connection's
    thread there) fail alike: a bare 500 with the request id, and a log line with the frames, not the message."""
    caplog.handler.addFilter(RequestIdFilter())  # what configure_logging's handler has
    vault = make_vault(plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[RoutesPlugin()]))
    rids = []
    with serve_app(create_app(vault)) as client:
        assert client.get("/v1/plugin/who").json() == {"vault": "Vault"}
        streamed = client.get("/v1/plugin/stream")  # no length: sent in chunks
        assert streamed.status_code == 200 and streamed.text == "one two three"
        typed = client.get("/v1/plugin/typed")
        assert typed.status_code == 404 and error_of(typed)["code"] == "engine_not_found"
        for path in ("/v1/plugin/boom", "/v1/plugin/op-boom"):
            boom = client.get(path)
            assert boom.status_code == 500
            # The body carries the request id, which finds the log line with the traceback.
            rids.append(rid := boom.headers["x-request-id"])
            assert boom.json() == {
                "error": {"code": "internal", "message": "Internal server error.", "details": {"request_id": rid}}
            }
    assert "hunter2" not in caplog.text
    tracebacks = [r for r in caplog.records if r.name == "scaivault.rest" and "unhandled RuntimeError" in r.message]
    assert [r.request_id for r in tracebacks] == rids and all("boom" in r.message for r in tracebacks)


def test_error_response_never_shows_an_unexpected_message(caplog):
    response = error_response(KeyError("token svt." + "secret"))
    assert response.status_code == 500 and b"svt.secret" not in response.body and b"KeyError" not in response.body
    assert "svt.secret" not in caplog.text and "KeyError" in caplog.text


# -- areas ---------------------------------------------------------------------------------------


def test_health_and_openapi_need_no_token(app_client):
    del app_client.headers["Authorization"]
    health = app_client.get("/v1/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spec = app_client.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1") and "/v1/dynamic/engines/{engine}/creds/{role}" in spec["paths"]


def test_every_route_is_documented_and_every_documented_operation_served(app_client):
    spec = app_client.get("/v1/openapi.json").json()
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    served = set()
    vault_paths = {p.path for p in vault_compat.PATHS}  # Vault's API, documented in docs/vault-compatibility.md
    pages = {r.path for r in api_docs.routes()}  # /docs: the page that shows the document, no operation in it
    for route in app_client.app.routes:
        if route.path in vault_paths | pages:
            continue
        for method in route.methods - {"HEAD"}:
            served.add((re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path), method))
    assert served == documented
    assert len({op.operation_id for op in operations()}) == len(operations())


def test_issue_renew_revoke(app_client):
    issued = app_client.post(ISSUE, json={"ttl": "2h", "metadata": {"purpose": "nightly report"}})
    assert issued.status_code == 200
    body = issued.json()
    assert set(body) == {"lease_id", "data", "lease_duration", "renewable", "expires_at"}
    assert body["lease_duration"] == "2h" and body["renewable"] is True and body["data"]["username"]
    lease_url = f"/v1/dynamic/leases/{body['lease_id']}"

    lookup = app_client.get(lease_url).json()
    assert lookup["state"] == "active" and lookup["metadata"] == {"purpose": "nightly report"}
    assert "password" not in str(lookup)

    renewed = app_client.post(lease_url + "/renew", json={"increment": "1h"}).json()
    assert renewed["lease_duration"] == "3h" and renewed["capped"] is False
    capped = app_client.post(lease_url + "/renew", json={"increment": "24h"}).json()
    assert capped["lease_duration"] == "8h" and capped["capped"] is True
    assert app_client.post(lease_url + "/renew").status_code == 200  # no body: the default increment

    assert app_client.delete(lease_url).status_code == 204
    assert app_client.delete(lease_url).status_code == 204  # idempotent
    assert app_client.get(lease_url).json()["state"] == "revoked"
    after = app_client.post(lease_url + "/renew", json={})
    assert after.status_code == 400 and error_of(after)["code"] == "lease_expired"
    missing = app_client.delete("/v1/dynamic/leases/lease_db_nope")
    assert missing.status_code == 404 and error_of(missing)["code"] == "lease_not_found"


def test_ttl_above_max_is_ttl_exceeds_max(app_client):
    response = app_client.post(ISSUE, json={"ttl": "9h"})
    assert response.status_code == 400 and error_of(response)["code"] == "ttl_exceeds_max"
    bad = app_client.post(ISSUE, json={"ttl": "soon"})
    assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_request"


def test_issue_with_empty_body(app_client):
    response = app_client.post(ISSUE)
    assert response.status_code == 200 and response.json()["lease_duration"] == "1h"


def test_lease_listing_filters_and_pages(app_client):
    ids = sorted(app_client.post(ISSUE, json={"ttl": "1h"}).json()["lease_id"] for _ in range(5))
    app_client.delete(f"/v1/dynamic/leases/{ids[0]}")
    seen, after = [], None
    while True:
        page = app_client.get("/v1/dynamic/leases", params={"limit": 2, **({"after": after} if after else {})}).json()
        seen += [lease["lease_id"] for lease in page["leases"]]
        after = page["next"]
        if after is None:
            break
        assert len(page["leases"]) == 2
    assert seen == ids
    active = app_client.get("/v1/dynamic/leases", params={"state": "active"}).json()["leases"]
    assert [lease["lease_id"] for lease in active] == ids[1:]
    assert app_client.get(
        "/v1/dynamic/leases",
        params={"state": "live", "engine": "mem", "role": "readonly", "identity": "user:admin", "prefix": "lease_"},
    ).json()["leases"]
    assert app_client.get("/v1/dynamic/leases", params={"role": "other"}).json() == {"leases": [], "next": None}
    for params in ({"state": "sleeping"}, {"limit": 0}, {"limit": 1001}, {"limit": "ten"}):
        response = app_client.get("/v1/dynamic/leases", params=params)
        assert response.status_code == 400 and error_of(response)["code"] == "invalid_request", params


def test_revoke_prefix(app_client):
    ids = [app_client.post(ISSUE, json={}).json()["lease_id"] for _ in range(3)]
    result = app_client.post("/v1/dynamic/leases/revoke-prefix", json={"prefix": "lease_", "engine": "mem"})
    assert result.status_code == 200 and result.json() == {"revoked": 3, "failed": [], "in_progress": 0}
    assert all(app_client.get(f"/v1/dynamic/leases/{i}").json()["state"] == "revoked" for i in ids)
    bad = app_client.post("/v1/dynamic/leases/revoke-prefix", json={"prefix": "x"})
    assert bad.status_code == 400
    unknown = app_client.post("/v1/dynamic/leases/revoke-prefix", json={"prefix": "lease_", "engine": "nope"})
    assert unknown.status_code == 404 and error_of(unknown)["code"] == "engine_not_found"


def test_tokens(app_client):
    created = app_client.post(
        "/v1/auth/tokens", json={"identity": "sa:reporting-service", "ttl": "1h", "display_name": "reports"}
    )
    assert created.status_code == 201
    body = created.json()
    assert set(body) == {"token", "accessor", "identity", "expires_at"} and body["identity"] == "sa:reporting-service"
    listed = app_client.get("/v1/auth/tokens", params={"identity": "sa:reporting-service"}).json()["tokens"]
    assert [t["accessor"] for t in listed] == [body["accessor"]] and body["token"] not in str(listed)
    assert "token_hash" not in listed[0]
    as_service = {"Authorization": f"Bearer {body['token']}"}
    assert (
        app_client.get(
            "/v1/dynamic/leases", params={"identity": "sa:reporting-service"}, headers=as_service
        ).status_code
        == 200
    )
    assert app_client.delete(f"/v1/auth/tokens/{body['accessor']}").status_code == 204
    assert app_client.get("/v1/dynamic/leases", headers=as_service).status_code == 401
    assert app_client.delete("/v1/auth/tokens/acc_nope").status_code == 404
    denied = app_client.post("/v1/auth/tokens", json={"identity": "sa:x"}, headers=as_service)
    assert denied.status_code == 401


def test_only_admins_create_tokens(app_client):
    token = app_client.post("/v1/auth/tokens", json={"identity": "sa:worker"}).json()["token"]
    response = app_client.post(
        "/v1/auth/tokens", json={"identity": "user:admin"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403 and error_of(response)["code"] == "permission_denied"


def test_policies_and_bindings(app_client):
    rules = [{"path_pattern": "dynamic/engines/mem/roles/readonly", "permissions": ["read"]}]
    assert app_client.post("/v1/policies", json={"name": "svc", "rules": rules}).status_code == 201
    duplicate = app_client.post("/v1/policies", json={"name": "svc", "rules": rules})
    assert duplicate.status_code == 409 and error_of(duplicate)["code"] == "conflict"
    assert app_client.get("/v1/policies/svc").json() == {"name": "svc", "rules": rules, "description": ""}
    assert {p["name"] for p in app_client.get("/v1/policies").json()["policies"]} == {"root", "svc"}
    updated = app_client.put("/v1/policies/svc", json={"rules": rules, "description": "issue readonly"})
    assert updated.status_code == 200 and updated.json()["description"] == "issue readonly"
    mismatch = app_client.put("/v1/policies/svc", json={"name": "other", "rules": rules})
    assert mismatch.status_code == 400

    assert app_client.post("/v1/policies/svc/bindings", json={"identity": "sa:svc"}).json() == {
        "policy": "svc",
        "identity": "sa:svc",
    }
    assert app_client.get("/v1/policies/svc/bindings").json() == {
        "policy": "svc",
        "identities": ["sa:svc"],
        "next": None,
    }
    bad_identity = app_client.post("/v1/policies/svc/bindings", json={"identity": "svc"})
    assert bad_identity.status_code == 400
    token = app_client.post("/v1/auth/tokens", json={"identity": "sa:svc"}).json()["token"]
    as_svc = {"Authorization": f"Bearer {token}"}
    assert app_client.post(ISSUE, json={}, headers=as_svc).status_code == 200
    assert app_client.delete("/v1/policies/svc/bindings/sa:svc").status_code == 204
    assert app_client.post(ISSUE, json={}, headers=as_svc).status_code == 403
    assert app_client.delete("/v1/policies/svc/bindings/sa:svc").status_code == 404
    assert app_client.delete("/v1/policies/svc").status_code == 204
    assert app_client.get("/v1/policies/svc").status_code == 404
    assert app_client.delete("/v1/policies/root").status_code == 400


def test_engines_and_roles(app_client):
    created = app_client.post(
        "/v1/dynamic/engines",
        json={
            "name": "mem2",
            "type": "database",
            "config": {"plugin": "memory"},
            "default_ttl": "30m",
            "max_ttl": "2h",
            "max_leases": 3,
        },
    )
    assert created.status_code == 201
    assert created.json()["config"] == {"plugin": "memory"} and created.json()["max_leases"] == 3
    assert (
        app_client.post(
            "/v1/dynamic/engines", json={"name": "mem2", "type": "database", "config": {"plugin": "memory"}}
        ).status_code
        == 409
    )
    unknown = app_client.post(
        "/v1/dynamic/engines", json={"name": "x", "type": "database", "config": {"plugin": "oracle"}}
    )
    assert unknown.status_code == 400 and "scaivault-oracle" in error_of(unknown)["message"]
    assert {e["name"] for e in app_client.get("/v1/dynamic/engines").json()["engines"]} == {"mem", "mem2"}
    updated = app_client.put(
        "/v1/dynamic/engines/mem2", json={"type": "database", "config": {"plugin": "memory"}, "max_ttl": "4h"}
    )
    assert updated.status_code == 200 and updated.json()["max_ttl"] == "4h"

    role = app_client.post(
        "/v1/dynamic/engines/mem2/roles", json={"name": "r", "max_ttl": "1h", "permissions": ["make {{name}}"]}
    )
    assert role.status_code == 201 and role.json()["permissions"] == ["make {{name}}"]
    strict = app_client.post("/v1/dynamic/engines/mem2/roles", json={"name": "r2", "permissions": ["{{nope}}"]})
    assert strict.status_code == 400 and error_of(strict)["code"] == "invalid_config"
    assert [r["name"] for r in app_client.get("/v1/dynamic/engines/mem2/roles").json()["roles"]] == ["r"]
    assert app_client.put("/v1/dynamic/engines/mem2/roles/r", json={"max_ttl": "2h"}).json()["max_ttl"] == "2h"
    assert app_client.get("/v1/dynamic/engines/mem2/roles/r").json()["max_ttl"] == "2h"
    missing = app_client.get("/v1/dynamic/engines/mem2/roles/nope")
    assert missing.status_code == 404 and error_of(missing)["code"] == "role_not_found"

    lease = app_client.post("/v1/dynamic/engines/mem2/creds/r", json={}).json()["lease_id"]
    busy = app_client.delete("/v1/dynamic/engines/mem2")
    assert busy.status_code == 409 and error_of(busy)["details"]["live_leases"] == 1
    assert app_client.delete("/v1/dynamic/engines/mem2/roles/r").status_code == 204
    assert app_client.delete(f"/v1/dynamic/leases/{lease}").status_code == 204  # still revocable
    assert app_client.delete("/v1/dynamic/engines/mem2").status_code == 204
    assert app_client.get("/v1/dynamic/engines/mem2").status_code == 404


def test_secrets(app_client):
    written = app_client.put("/v1/secrets/app/db/root", json={"data": {"password": "s3cret-value"}})
    assert written.status_code == 200 and written.json()["version"] == 1 and "s3cret-value" not in written.text
    app_client.put("/v1/secrets/app/db/root", json={"data": {"password": "second-value"}})
    assert app_client.get("/v1/secrets/app/db/root").json()["data"] == {"password": "second-value"}
    assert app_client.get("/v1/secrets/app/db/root", params={"version": 1}).json()["data"] == {
        "password": "s3cret-value"
    }
    text = app_client.put("/v1/secrets/app/motd", json={"data": "hello", "secret_type": "text"})
    assert text.status_code == 200
    # ".../rotate" names rotation, so a secret path cannot end in it over REST.
    assert app_client.put("/v1/secrets/app/rotate", json={"data": {"a": 1}}).status_code == 405
    assert app_client.put("/v1/secrets/rotate", json={"data": {"a": 1}}).status_code == 200
    newline = app_client.put("/v1/secrets/app/a%0Ab", json={"data": {}})
    assert newline.status_code == 400 and error_of(newline)["details"]["field"] == "path"
    assert app_client.put("/v1/secrets/dynamic/x", json={"data": {}}).status_code == 400  # reserved namespace
    assert app_client.put("/v1/secrets/app/x", json={"data": 5}).status_code == 400
    assert app_client.delete("/v1/secrets/app/db/root").status_code == 204
    missing = app_client.get("/v1/secrets/app/db/root")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_rotate_route_follows_the_core(app_client):
    app_client.put("/v1/secrets/app/standalone", json={"data": {"password": "x"}})
    response = app_client.post("/v1/secrets/app/standalone/rotate", json={"reason": "test", "grace_period": "0"})
    # A secret that belongs to no engine cannot be rotated, with or without the core's rotation support.
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_request"
    assert app_client.post("/v1/secrets/app/standalone/rotate", json={"grace_period": []}).status_code == 400
    if not hasattr(Vault, "rotate_secret"):
        assert "cannot rotate" in error_of(response)["message"]


def test_plugins_listing_needs_a_token(app_client):
    plugins = app_client.get("/v1/sys/plugins").json()["plugins"]
    assert [p["engines"] for p in plugins] == [["database/memory"]]  # the core's test vault: only its memory engine
    assert app_client.get("/v1/sys/plugins", headers={"Authorization": ""}).status_code == 401
