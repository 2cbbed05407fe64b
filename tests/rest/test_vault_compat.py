"""The Vault-compatible paths in-process (memory engine, manual clock): shapes, ids, arithmetic, refusals.

The real clients (hvac, the bao CLI, bao agent) against a live server and a real PostgreSQL are in
tests/security/test_vault_clients.py.
"""

from __future__ import annotations

import pytest

from scaivault_core.testing.servers import FRONT_ENDS

ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info", "warnings", "auth"}


@pytest.fixture(scope="module", params=FRONT_ENDS)
def front_end(request):
    """Every test here runs against each front end."""
    return request.param


@pytest.fixture
def vault_client(app_client):
    """The admin's client speaking as Vault's clients do: X-Vault-Token instead of a bearer."""
    token = app_client.headers.pop("Authorization").split(" ", 1)[1]
    app_client.headers["X-Vault-Token"] = token
    return app_client


def caller(client, identity, rules):
    """A client holding only ``rules`` (and a token for ``identity``), sending X-Vault-Token."""
    vault = client.vault
    name = "p-" + identity.split(":")[1]
    if rules:
        vault.create_policy(name, rules)
        vault.bind_policy(name, identity)
    token = vault.create_token(identity, ttl="1h")["token"]
    return {"X-Vault-Token": token}


ISSUER = [{"path_pattern": "dynamic/engines/mem/roles/readonly", "permissions": ["read"]}]


def test_creds_answer_vaults_envelope_and_a_path_shaped_lease_id(vault_client, target):
    for method in ("GET", "POST", "PUT"):
        response = vault_client.request(method, "/v1/mem/creds/readonly")
        body = response.json()
        assert response.status_code == 200 and set(body) == ENVELOPE, body
        assert body["lease_id"].startswith("mem/creds/readonly/lease_db_")
        assert body["lease_duration"] == 3600 and body["renewable"] is True
        assert set(body["data"]) == {"username", "password"} and body["data"]["username"] in target.users
        assert body["wrap_info"] is None and body["auth"] is None and body["warnings"] is None
        assert response.headers["cache-control"] == "no-store"
        # our own API keeps its ids: the tail is the native lease
        native = body["lease_id"].rsplit("/", 1)[1]
        assert vault_client.get(f"/v1/dynamic/leases/{native}").json()["lease_id"] == native
    ttl = vault_client.get("/v1/mem/creds/readonly", params={"ttl": "5m"}).json()
    assert ttl["lease_duration"] == 300
    assert vault_client.post("/v1/mem/creds/readonly", json={"ttl": "9h"}).json()["errors"][0].startswith("ttl 9h")
    for field in ("engine", "role", "self", "nonsense"):
        refused = vault_client.get("/v1/mem/creds/readonly", params={field: "x"})
        assert refused.status_code == 400 and field in refused.json()["errors"][0], refused.text


def test_renew_counts_the_increment_from_now_capped_at_the_max(vault_client, clock):
    lease_id = vault_client.get("/v1/mem/creds/readonly", params={"ttl": "2h"}).json()["lease_id"]
    clock.advance(600)
    renewed = vault_client.put("/v1/sys/leases/renew", json={"lease_id": lease_id, "increment": 3600}).json()
    assert renewed["lease_id"] == lease_id and renewed["lease_duration"] == 3600 and renewed["warnings"] is None
    native = lease_id.rsplit("/", 1)[1]
    assert vault_client.vault.lookup(native).expires_at == clock.time() + 3600
    capped = vault_client.put(f"/v1/sys/leases/renew/{lease_id}", json={"increment": "100h"}).json()
    assert capped["lease_duration"] == 8 * 3600 - 600
    assert capped["warnings"] == [
        'TTL of "100h" exceeded the effective max_ttl of "7h50m"; TTL value is capped accordingly'
    ]
    # the native path keeps the guide's rule: from the current expiry
    native_renew = vault_client.post(f"/v1/dynamic/leases/{native}/renew", json={"increment": "1m"})
    assert native_renew.json()["capped"] is True


def test_lookup_and_revoke_by_vault_id(vault_client, target):
    creds = vault_client.get("/v1/mem/creds/readonly").json()
    lease_id, user = creds["lease_id"], creds["data"]["username"]
    data = vault_client.put("/v1/sys/leases/lookup", json={"lease_id": lease_id}).json()["data"]
    assert data["id"] == lease_id and data["path"] == "mem/creds/readonly" and data["ttl"] == 3600
    assert set(data) == {"id", "path", "issue_time", "expire_time", "last_renewal", "renewable", "ttl"}
    assert vault_client.put("/v1/sys/leases/revoke", json={"lease_id": lease_id, "sync": True}).status_code == 204
    assert user not in target.users
    # gone, as Vault forgets a revoked lease; revoking it again succeeds, as in Vault
    gone = vault_client.put("/v1/sys/leases/lookup", json={"lease_id": lease_id})
    assert gone.json() == {"errors": ["invalid lease"]}
    assert vault_client.put(f"/v1/sys/leases/revoke/{lease_id}").status_code == 204


@pytest.mark.parametrize(
    "bad",
    [
        "mem/creds/readonly/lease_db_doesnotexist",
        "garbage",
        "mem/creds/other/{native}",
        "other/creds/readonly/{native}",
        "mem/creds/readonly/{native}/x",
        12,
    ],
)
def test_a_lease_id_that_does_not_parse_or_name_the_lease_is_answered_as_missing(vault_client, bad):
    native = vault_client.get("/v1/mem/creds/readonly").json()["lease_id"].rsplit("/", 1)[1]
    bad = bad.format(native=native) if isinstance(bad, str) else bad
    for path, message in (("lookup", "invalid lease"), ("renew", "lease not found"), ("revoke", "lease not found")):
        response = vault_client.put(f"/v1/sys/leases/{path}", json={"lease_id": bad})
        assert (response.status_code, response.json()) == (400, {"errors": [message]}), path
    assert vault_client.vault.lookup(native).state == "active"


def test_a_lease_not_yours_is_answered_exactly_as_a_missing_one(vault_client):
    lease_id = vault_client.get("/v1/mem/creds/readonly").json()["lease_id"]
    missing = lease_id[:-4] + "zzzz"
    other = caller(vault_client, "sa:other", ISSUER)
    for path in ("lookup", "renew", "revoke"):
        theirs = vault_client.put(f"/v1/sys/leases/{path}", json={"lease_id": lease_id}, headers=other)
        absent = vault_client.put(f"/v1/sys/leases/{path}", json={"lease_id": missing}, headers=other)
        assert (theirs.status_code, theirs.json()) == (absent.status_code, absent.json())
        assert theirs.status_code == 400
    assert vault_client.vault.lookup(lease_id.rsplit("/", 1)[1]).state == "active"
    denials = vault_client.vault.audit_log(operation="access.denied", identity="sa:other")
    assert len(denials) == 6  # each refusal is recorded, the not-yours and the missing alike


def test_issuing_needs_the_same_grant_as_natively_and_a_denied_caller_learns_nothing(vault_client):
    nobody = caller(vault_client, "sa:nobody", [])
    answers = [
        vault_client.get(path, headers=nobody)
        for path in ("/v1/mem/creds/readonly", "/v1/mem/creds/nope", "/v1/nomount/creds/readonly")
    ]
    assert {(a.status_code, a.json()["errors"][0]) for a in answers} == {(403, "permission denied")}
    issuer = caller(vault_client, "sa:issuer", ISSUER)
    assert vault_client.get("/v1/mem/creds/readonly", headers=issuer).status_code == 200
    admin_missing = vault_client.get("/v1/mem/creds/nope")
    assert (admin_missing.status_code, admin_missing.json()) == (400, {"errors": ["unknown role: nope"]})
    no_engine = vault_client.get("/v1/nomount/creds/x")
    assert no_engine.status_code == 404 and "no handler for route" in no_engine.json()["errors"][0]


def test_tokens_bad_or_missing_are_403_as_in_vault(vault_client):
    for headers in ({"X-Vault-Token": "svt.bogus"}, {"X-Vault-Token": ""}):
        response = vault_client.get("/v1/auth/token/lookup-self", headers=headers)
        assert response.status_code == 403 and response.json()["errors"][0] == "permission denied"
    # both headers naming different tokens is no token at all, on either API
    both = {"Authorization": "Bearer svt.other"}
    assert vault_client.get("/v1/auth/token/lookup-self", headers=both).status_code == 403
    assert vault_client.get("/v1/dynamic/engines", headers=both).status_code == 401
    assert vault_client.get("/v1/dynamic/engines").status_code == 200  # X-Vault-Token works natively too


def test_lookup_self_and_renew_self(vault_client, clock):
    headers = caller(vault_client, "sa:app", ISSUER)
    data = vault_client.get("/v1/auth/token/lookup-self", headers=headers).json()["data"]
    assert data["id"] == headers["X-Vault-Token"] and data["ttl"] == 3600 and data["renewable"] is True
    assert data["type"] == "service" and data["meta"] == {"identity": "sa:app"}
    clock.advance(1800)
    auth = vault_client.put("/v1/auth/token/renew-self", json={"increment": "2h"}, headers=headers).json()["auth"]
    assert auth["client_token"] == headers["X-Vault-Token"] and auth["lease_duration"] == 7200
    assert vault_client.vault.audit_log(operation="token.renew")[-1][1].identity == "sa:app"
    admin = vault_client.post("/v1/auth/token/renew-self", json={})  # the admin token does not expire
    assert admin.status_code == 400
    assert admin.json()["errors"] == ["This token does not expire, so there is nothing to renew."]
    assert vault_client.get("/v1/auth/token/lookup-self").json()["data"]["ttl"] == 0


def test_health_unknown_paths_and_methods_answer_as_vault(vault_client):
    # This test's vault runs no expiry worker, so it is not ready: Vault's health check says 503, as a load
    # balancer needs (tests/rest/test_observability.py sees it go from 200 to 503 on a server that was ready).
    health = vault_client.get("/v1/sys/health", headers={"X-Vault-Token": ""})
    assert vault_client.get("/v1/health/ready").status_code == 503
    assert health.status_code == 503 and health.json()["initialized"] is True and health.json()["sealed"] is False
    assert vault_client.head("/v1/sys/health").status_code == 503
    for path in (
        "/v1/sys/internal/ui/mounts/mem/creds/readonly",
        "/v1/secret/data/x",
        "/v1/auth/token/nope",
        "/v1/sys/leases",
    ):
        response = vault_client.get(path)
        assert (response.status_code, response.json()) == (404, {"errors": []}), path
    wrong = vault_client.delete("/v1/sys/leases/renew")
    assert wrong.status_code == 405 and "unsupported operation" in wrong.json()["errors"][0]
    # the native API keeps its own answers
    assert vault_client.get("/v1/dynamic/nope").json()["error"]["code"] == "not_found"
    assert vault_client.delete("/v1/health").json()["error"]["code"] == "invalid_request"


def test_revoke_prefix_by_engine_and_by_role_needs_revoke_on_the_engine(vault_client, target):
    vault = vault_client.vault
    vault.create_role("mem", "other", default_ttl="1h", max_ttl="8h")
    ro = [vault_client.get("/v1/mem/creds/readonly").json()["lease_id"] for _ in range(2)]
    other = vault_client.get("/v1/mem/creds/other").json()["lease_id"]
    issuer = caller(vault_client, "sa:issuer", ISSUER)
    refused = vault_client.put("/v1/sys/leases/revoke-prefix/mem/creds/readonly/", headers=issuer)
    assert refused.status_code == 403
    assert vault_client.put("/v1/sys/leases/revoke-prefix/mem/creds/readonly", json={"sync": False}).status_code == 204
    states = {lease_id: vault.lookup(lease_id.rsplit("/", 1)[1]).state for lease_id in ro + [other]}
    assert states == {ro[0]: "revoked", ro[1]: "revoked", other: "active"}
    assert vault_client.put("/v1/sys/leases/revoke-prefix/mem/creds/readonly/nothere").status_code == 204
    assert vault_client.put("/v1/sys/leases/revoke-prefix/nomount").status_code == 204
    assert vault_client.put(f"/v1/sys/leases/revoke-prefix/{other}").status_code == 204
    assert vault.lookup(other.rsplit("/", 1)[1]).state == "revoked"


def test_list_leases_one_level_at_a_time(vault_client):
    lease_id = vault_client.get("/v1/mem/creds/readonly").json()["lease_id"]
    native = lease_id.rsplit("/", 1)[1]
    for prefix, keys in (("mem/", ["creds/"]), ("mem/creds/", ["readonly/"]), ("mem/creds/readonly/", [native])):
        response = vault_client.get(f"/v1/sys/leases/lookup/{prefix}", params={"list": "true"})
        assert response.json()["data"] == {"keys": keys}, prefix
    assert vault_client.get("/v1/sys/leases/lookup/nomount/", params={"list": "true"}).status_code == 404
    assert vault_client.get("/v1/sys/leases/lookup/mem/").status_code == 405  # GET without list=true
    # a caller without 'list' on the engine sees only its own leases
    issuer = caller(vault_client, "sa:issuer", ISSUER)
    assert (
        vault_client.get(
            "/v1/sys/leases/lookup/mem/creds/readonly/", params={"list": "true"}, headers=issuer
        ).status_code
        == 404
    )
    mine = vault_client.get("/v1/mem/creds/readonly", headers=issuer).json()["lease_id"].rsplit("/", 1)[1]
    listed = vault_client.get("/v1/sys/leases/lookup/mem/creds/readonly/", params={"list": "true"}, headers=issuer)
    assert listed.json()["data"]["keys"] == [mine]


def test_a_caller_who_may_only_look_a_lease_up_gets_the_missing_answer_for_renew_and_revoke(vault_client):
    lease_id = vault_client.get("/v1/mem/creds/readonly").json()["lease_id"]
    lister = caller(vault_client, "sa:lister", [{"path_pattern": "dynamic/engines/mem", "permissions": ["list"]}])
    assert vault_client.put("/v1/sys/leases/lookup", json={"lease_id": lease_id}, headers=lister).status_code == 200
    for path in ("renew", "revoke"):
        response = vault_client.put(f"/v1/sys/leases/{path}", json={"lease_id": lease_id}, headers=lister)
        assert (response.status_code, response.json()) == (400, {"errors": ["lease not found"]})
    assert vault_client.vault.lookup(lease_id.rsplit("/", 1)[1]).state == "active"


def test_head_mints_nothing(vault_client, target):
    assert vault_client.head("/v1/mem/creds/readonly").status_code == 405
    assert not target.users


def test_every_served_vault_path_is_in_the_compatibility_page():
    from pathlib import Path

    from scaivault_core.rest.vault_compat import PATHS

    page = (Path(__file__).resolve().parents[2] / "docs" / "vault-compatibility.md").read_text()
    for row in PATHS:
        vault_path = row.path.removeprefix("/v1/").replace("{engine}", "{mount}").replace(":path}", "}")
        assert f"`{vault_path}`" in page, vault_path


def test_prefix_paths_tell_a_denied_caller_nothing_about_which_engines_exist(vault_client):
    vault_client.get("/v1/mem/creds/readonly")
    issuer = caller(vault_client, "sa:issuer", ISSUER)
    for template in ("/v1/sys/leases/revoke-prefix/{}/creds/readonly",):
        real = vault_client.put(template.format("mem"), headers=issuer)
        absent = vault_client.put(template.format("nomount"), headers=issuer)
        assert real.status_code == absent.status_code == 403
        assert real.json()["errors"][0] == absent.json()["errors"][0] == "permission denied"
    for engine in ("mem", "nomount"):
        listed = vault_client.get(f"/v1/sys/leases/lookup/{engine}/", params={"list": "true"}, headers=issuer)
        assert (listed.status_code, listed.json()) == (404, {"errors": []})


def test_bodies_are_read_with_the_native_limits_and_answered_in_vaults_words(vault_client, target):
    for raw in (b"{", b"NaN", b"\xff"):
        refused = vault_client.put("/v1/sys/leases/renew", content=raw)
        assert refused.status_code == 400 and refused.json() == {"errors": ["failed to parse JSON input"]}, raw
    not_object = vault_client.put("/v1/sys/leases/renew", content=b"[1]")
    assert not_object.status_code == 400 and "must be a JSON object" in not_object.json()["errors"][0]
    too_large = vault_client.post("/v1/mem/creds/readonly", content=b" " * (2 * 1024 * 1024))
    assert too_large.status_code == 413 and too_large.json()["errors"], too_large.text
    assert not target.users  # nothing was issued by a refused body
