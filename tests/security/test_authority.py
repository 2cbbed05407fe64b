"""Authority (issue 16 items 2-bindings, 4, 5, 6): no narrow grant adds up to root, and a denied
caller learns nothing. Each test is the attack against a live server, then what an attacker tries next."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from .conftest import ROOT_PATH, Api, grant

READONLY = "dynamic/engines/pg/roles/readonly"


def error(response) -> dict:
    return response.json()["error"]


def same_refusal(first, second, *names: tuple[str, str]) -> None:
    """Two answers a caller cannot tell apart, once the names the caller itself sent are swapped."""
    assert first.status_code == second.status_code
    body = first.text
    for mine, theirs in names:
        body = body.replace(mine, theirs)
    assert body == second.text


# -- 16.4: token desks ---------------------------------------------------------------------------


def test_a_token_desk_cannot_mint_its_way_to_root(server, pg_engine):
    live = server()
    pg_engine(live)
    desk = grant(live, "sa:desk", [{"path_pattern": "sys/tokens", "permissions": ["create"]}])

    # The reproduction: 'create' on sys/tokens mints a token for user:admin...
    minted = desk.ok("POST", "/v1/auth/tokens", {"identity": "user:admin"})
    as_admin = Api(live, minted["token"], "user:admin")
    # ...which can do nothing its minter cannot.
    assert as_admin.get(f"/v1/secrets/{ROOT_PATH}").status_code == 403
    assert (
        as_admin.post(
            "/v1/policies", {"name": "own", "rules": [{"path_pattern": "**", "permissions": ["read"]}]}
        ).status_code
        == 403
    )
    assert as_admin.get("/v1/dynamic/engines").status_code == 403
    assert as_admin.post("/v1/dynamic/engines/pg/creds/readonly", {}).status_code == 403
    refused = as_admin.get("/v1/policies")
    assert error(refused)["code"] == "permission_denied" and "sa:desk (who minted it)" in error(refused)["message"]

    # Next: that token mints a child, and the child a grandchild: user:admin may mint, and so may the desk.
    child = Api(live, as_admin.ok("POST", "/v1/auth/tokens", {"identity": "user:admin"})["token"], "user:admin")
    grandchild = Api(live, child.ok("POST", "/v1/auth/tokens", {"identity": "user:admin"})["token"], "user:admin")
    for api in (child, grandchild):
        assert api.get(f"/v1/secrets/{ROOT_PATH}").status_code == 403
        assert api.get("/v1/auth/tokens").status_code == 403
    listed = {t["accessor"]: t for t in live.admin.ok("GET", "/v1/auth/tokens")["tokens"]}
    assert listed[minted["accessor"]]["ceilings"] == ["sa:desk"]

    # Next: an engine's own identity, which reads the root credential.
    for identity in ("dynamic:pg", "dynamic:not-yet"):
        refused = desk.post("/v1/auth/tokens", {"identity": identity})
        assert refused.status_code == 400 and error(refused)["code"] == "invalid_request"

    # Revoking the desk's token revokes everything minted from it, however far down.
    desk_accessor = listed[minted["accessor"]]["parent"]
    assert live.admin.delete(f"/v1/auth/tokens/{desk_accessor}").status_code == 204
    for api in (desk, as_admin, child, grandchild):
        assert api.get("/v1/auth/tokens").status_code == 401


def test_tokens_live_the_operators_ttls(server):
    live = server(SCAIVAULT_TOKEN_DEFAULT_TTL="10m", SCAIVAULT_TOKEN_MAX_TTL="1h")
    too_long = live.admin.post("/v1/auth/tokens", {"identity": "sa:app", "ttl": "2h"})
    assert too_long.status_code == 400 and error(too_long)["code"] == "ttl_exceeds_max"
    assert error(too_long)["details"] == {"ttl": "2h", "max_ttl": "1h"}
    default = live.admin.ok("POST", "/v1/auth/tokens", {"identity": "sa:app"})
    info = next(t for t in live.admin.ok("GET", "/v1/auth/tokens")["tokens"] if t["accessor"] == default["accessor"])
    assert info["expires_at"] is not None
    # The operator's own admin token (scaivault init) does not expire, like Vault's root token.
    admin = next(t for t in live.admin.ok("GET", "/v1/auth/tokens?identity=user:admin")["tokens"])
    assert admin["expires_at"] is None


# -- 16.4: policy editors ------------------------------------------------------------------------


def test_a_policy_editor_cannot_grant_itself_more(server):
    live = server()
    admin = live.admin
    admin.ok("PUT", "/v1/secrets/apps/web/db", {"data": {"password": "web-db-password"}})
    admin.ok("PUT", "/v1/secrets/infra/vault-key", {"data": {"key": "very-secret-key"}})
    admin.ok(
        "POST", "/v1/policies", {"name": "mine", "rules": [{"path_pattern": "apps/web/db", "permissions": ["read"]}]}
    )
    admin.ok("POST", "/v1/policies", {"name": "ops", "rules": [{"path_pattern": "**", "permissions": ["read"]}]})
    mallory = grant(
        live,
        "sa:mallory",
        [
            {"path_pattern": "sys/policies/*", "permissions": ["read", "update"]},
            {"path_pattern": "dynamic/engines/*", "permissions": ["read"]},
            {"path_pattern": "apps/*/db", "permissions": ["read"]},
        ],
    )

    # The reproduction: rewrite a policy it may update to '**' with every permission, bind it to itself.
    everything = [
        {"path_pattern": "**", "permissions": ["read", "create", "update", "delete", "list", "rotate", "revoke"]}
    ]
    refused = mallory.put("/v1/policies/mine", {"name": "mine", "rules": everything})
    assert refused.status_code == 403 and "nobody hands out more than they hold" in error(refused)["message"]
    # Next: one permission short of what it holds, or a pattern wider than its own.
    for rules in (
        [{"path_pattern": "apps/*/db", "permissions": ["read", "update"]}],
        [{"path_pattern": "apps/**", "permissions": ["read"]}],
        [{"path_pattern": "dynamic/**", "permissions": ["read"]}],
        [{"path_pattern": "apps/*/db", "permissions": ["read"]}, {"path_pattern": "infra/*", "permissions": ["read"]}],
    ):
        assert mallory.put("/v1/policies/mine", {"name": "mine", "rules": rules}).status_code == 403, rules
    # Next: bind another policy that already grants more, or the root policy itself.
    for name in ("ops", "root"):
        refused = mallory.post(f"/v1/policies/{name}/bindings", {"identity": "sa:mallory"})
        assert refused.status_code == 403, name
    assert mallory.get("/v1/secrets/infra/vault-key").status_code == 403
    assert admin.ok("GET", "/v1/policies/ops/bindings")["identities"] == []
    assert admin.ok("GET", "/v1/policies/root/bindings")["identities"] == ["user:admin"]

    # What it holds it may still hand on, within the same bounds.
    mallory.ok(
        "PUT",
        "/v1/policies/mine",
        {
            "name": "mine",
            "rules": [
                {"path_pattern": "apps/*/db", "permissions": ["read"]},
                {"path_pattern": "dynamic/engines/pg", "permissions": ["read"]},
            ],
        },
    )
    mallory.ok("POST", "/v1/policies/mine/bindings", {"identity": "sa:helper"})


def test_a_policy_desk_cannot_take_grants_it_does_not_hold(server):
    """Taking a policy from its holders (unbind, delete) needs holding what it grants, like binding it:
    a desk with `update`/`delete` on every policy must not strip the admin of root."""
    live = server()
    admin = live.admin
    admin.ok("POST", "/v1/policies", {"name": "ops", "rules": [{"path_pattern": "**", "permissions": ["read"]}]})
    admin.ok("POST", "/v1/policies/ops/bindings", {"identity": "sa:ops"})
    desk = grant(
        live,
        "sa:desk",
        [
            {"path_pattern": "sys/policies/*", "permissions": ["read", "create", "update", "delete"]},
            {"path_pattern": "apps/**", "permissions": ["read"]},
        ],
    )
    assert desk.delete("/v1/policies/root/bindings/user:admin").status_code == 403
    assert desk.delete("/v1/policies/ops/bindings/sa:ops").status_code == 403
    assert desk.delete("/v1/policies/ops").status_code == 403
    assert admin.ok("GET", "/v1/policies/root/bindings")["identities"] == ["user:admin"]
    assert admin.ok("GET", "/v1/policies/ops/bindings")["identities"] == ["sa:ops"]
    # What it holds it may still take back.
    desk.ok(
        "POST", "/v1/policies", {"name": "apps-read", "rules": [{"path_pattern": "apps/**", "permissions": ["read"]}]}
    )
    desk.ok("POST", "/v1/policies/apps-read/bindings", {"identity": "sa:app"})
    assert desk.delete("/v1/policies/apps-read/bindings/sa:app").status_code == 204
    assert desk.delete("/v1/policies/apps-read").status_code == 204


def test_a_policy_author_cannot_create_a_wider_policy(server):
    live = server()
    author = grant(
        live,
        "sa:author",
        [
            {"path_pattern": "sys/policies/*", "permissions": ["create", "update", "read"]},
            {"path_pattern": "dynamic/engines/*", "permissions": ["revoke"]},
        ],
    )
    wider = author.post(
        "/v1/policies", {"name": "wider", "rules": [{"path_pattern": "dynamic/**", "permissions": ["revoke"]}]}
    )
    assert wider.status_code == 403
    assert error(wider)["details"] == {"identity": "sa:author", "path": "dynamic/**", "permission": "revoke"}
    assert live.admin.get("/v1/policies/wider").status_code == 404  # nothing was created
    author.ok(
        "POST",
        "/v1/policies",
        {"name": "narrower", "rules": [{"path_pattern": "dynamic/engines/pg", "permissions": ["revoke"]}]},
    )


# -- 16.5: a denied caller learns nothing ----------------------------------------------------------


def test_revoke_prefix_tells_a_denied_caller_nothing(server, pg_engine):
    live = server()
    pg_engine(live)
    app = grant(live, "sa:app", [{"path_pattern": READONLY, "permissions": ["read"]}])
    lease_id = app.ok("POST", "/v1/dynamic/engines/pg/creds/readonly", {"ttl": "10m"})["lease_id"]

    for rules in (
        [],
        [{"path_pattern": "dynamic/engines/other", "permissions": ["revoke"]}],
        [{"path_pattern": READONLY, "permissions": ["revoke"]}],
    ):
        mallory = grant(live, f"sa:mallory-{secrets.token_hex(2)}", rules)
        # The reproduction: a live prefix answered 403 naming the engine, any other 200 "revoked: 0".
        live_prefix = mallory.post("/v1/dynamic/leases/revoke-prefix", {"prefix": lease_id[:12]})
        dead_prefix = mallory.post("/v1/dynamic/leases/revoke-prefix", {"prefix": "lease_zz_nothing"})
        assert live_prefix.status_code == 403
        same_refusal(live_prefix, dead_prefix)
        # Next: name the engine, one that exists and one that does not.
        named = mallory.post("/v1/dynamic/leases/revoke-prefix", {"prefix": "lease_", "engine": "pg"})
        absent = mallory.post("/v1/dynamic/leases/revoke-prefix", {"prefix": "lease_", "engine": "qq"})
        assert named.status_code == 403
        same_refusal(named, absent, ("dynamic/engines/pg", "dynamic/engines/qq"))
    assert live.admin.ok("GET", f"/v1/dynamic/leases/{lease_id}")["state"] == "active"


def test_lease_ids_tell_a_denied_caller_nothing(server, pg_engine):
    live = server()
    pg_engine(live)
    app = grant(live, "sa:app", [{"path_pattern": READONLY, "permissions": ["read"]}])
    lease_id = app.ok("POST", "/v1/dynamic/engines/pg/creds/readonly", {"ttl": "10m"})["lease_id"]
    absent_id = lease_id[:-4] + ("zzzz" if not lease_id.endswith("zzzz") else "yyyy")
    # Another issuer of the same role, and a caller who may only list a different engine.
    for mallory in (
        grant(live, "sa:mallory", [{"path_pattern": READONLY, "permissions": ["read"]}]),
        grant(live, "sa:lister", [{"path_pattern": "dynamic/engines/other", "permissions": ["list"]}]),
    ):
        for method, suffix in (("GET", ""), ("DELETE", ""), ("POST", "/renew"), ("POST", "/forget")):
            theirs = mallory.http.request(method, f"/v1/dynamic/leases/{lease_id}{suffix}")
            none = mallory.http.request(method, f"/v1/dynamic/leases/{absent_id}{suffix}")
            assert theirs.status_code == 404 and error(theirs)["code"] == "lease_not_found", (method, suffix)
            assert error(theirs)["details"] == {"lease_id": lease_id}  # no role path, no engine
            same_refusal(theirs, none, (lease_id, absent_id))
    # The issuer still has its lease, untouched.
    assert app.ok("GET", f"/v1/dynamic/leases/{lease_id}")["state"] == "active"
    assert app.delete(f"/v1/dynamic/leases/{lease_id}").status_code == 204


def test_writing_a_secret_tells_a_denied_caller_nothing(server):
    live = server()
    live.admin.ok("PUT", "/v1/secrets/apps/web/db", {"data": {"password": "web-db-password"}})
    mallory = grant(live, "sa:mallory", [{"path_pattern": "apps/*/cache", "permissions": ["read"]}])
    existing = mallory.put("/v1/secrets/apps/web/db", {"data": {"x": "y"}})
    absent = mallory.put("/v1/secrets/apps/web/dc", {"data": {"x": "y"}})
    assert existing.status_code == 403
    same_refusal(existing, absent, ("apps/web/db", "apps/web/dc"))


# -- 16.2: deleting an engine ends its identity ----------------------------------------------------


def test_an_engine_of_the_same_name_inherits_no_grants(server, pg_engine, scram_cluster, target_db):
    live = server()
    pg_engine(live)
    admin = live.admin
    assert admin.delete("/v1/dynamic/engines/pg/roles/readonly").status_code == 204
    assert admin.delete("/v1/dynamic/engines/pg").status_code == 204
    assert "dynamic:pg" not in str(admin.ok("GET", "/v1/policies/pg-root/bindings"))

    # The reproduction: whoever may create that name again would inherit the root grant.
    body = {
        "name": "pg",
        "type": "database",
        "config": {
            "plugin": "postgresql",
            "root_credentials_path": ROOT_PATH,
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{scram_cluster.port}/{target_db}",
        },
    }
    refused = admin.post("/v1/dynamic/engines", body)
    assert refused.status_code == 400 and error(refused)["code"] == "invalid_config"
    assert error(refused)["details"]["missing_grant"] == {
        "identity": "dynamic:pg",
        "path": ROOT_PATH,
        "permission": "read",
    }
    # Next: rebind it without holding the grant.
    mallory = grant(live, "sa:mallory", [{"path_pattern": "sys/policies/pg-root", "permissions": ["read", "update"]}])
    assert mallory.post("/v1/policies/pg-root/bindings", {"identity": "dynamic:pg"}).status_code == 403
    # Someone who holds the grant binds it again: the engine works.
    admin.ok("POST", "/v1/policies/pg-root/bindings", {"identity": "dynamic:pg"})
    admin.ok("POST", "/v1/dynamic/engines", body)


# -- 16.6: rotation needs the engine's own grant ---------------------------------------------------


def test_rotation_needs_the_engines_rotate_grant(server, pg_engine, scram_cluster, target_db):
    live = server()
    pg_engine(live)
    admin = live.admin
    # A root of its own (target_db drops it afterwards), so that a rotation getting through could not
    # change the password of the cluster's superuser that other tests use.
    password = "rot-" + secrets.token_hex(8)
    with psycopg.connect(scram_cluster.admin_url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE rot_root SUPERUSER LOGIN PASSWORD '{password}'")
    admin.ok("PUT", f"/v1/secrets/{ROOT_PATH}", {"data": {"username": "rot_root", "password": password}})
    # The reproduction: dynamic:pg may read its root credential but not rotate it.
    admin.ok(
        "PUT",
        "/v1/policies/pg-root",
        {"name": "pg-root", "rules": [{"path_pattern": ROOT_PATH, "permissions": ["read"]}]},
    )
    missing = {"identity": "dynamic:pg", "path": ROOT_PATH, "permission": "rotate"}
    for method, path, body in (
        ("POST", f"/v1/secrets/{ROOT_PATH}/rotate", {}),
        ("PUT", f"/v1/secrets/{ROOT_PATH}/rotation", {"period": "1h"}),
    ):
        refused = admin.http.request(method, path, json=body)
        assert refused.status_code == 400 and error(refused)["code"] == "invalid_config", refused.text
        assert error(refused)["details"]["missing_grant"] == missing
    # Nothing was rotated: the root password is the one it was.
    assert admin.ok("GET", f"/v1/secrets/{ROOT_PATH}/versions")["versions"][-1]["version"] == 2
    with psycopg.connect(scram_cluster.url("rot_root", password, target_db)) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # With the grant, rotation works (and changes the password).
    admin.ok(
        "PUT",
        "/v1/policies/pg-root",
        {"name": "pg-root", "rules": [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}]},
    )
    admin.ok("POST", f"/v1/secrets/{ROOT_PATH}/rotate", {})
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(scram_cluster.url("rot_root", password, target_db)).close()
