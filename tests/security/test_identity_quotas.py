"""One caller cannot use up an engine's lease quota for everyone (issue 17.7).

Before: ``max_leases`` on an engine or role was shared by every caller, so anyone allowed to issue
could take every place and lock the others out. ``max_leases_per_identity`` on the engine and on
the role caps each caller's own live leases, over REST, against a live server and real PostgreSQL.
"""

from __future__ import annotations

from .conftest import grant

ROLE_PATH = "dynamic/engines/pg/roles/readonly"
CREDS = "/v1/dynamic/engines/pg/creds/readonly"


def test_one_caller_cannot_take_the_whole_engine_quota(server, pg_engine):
    live = server()
    pg_engine(live)
    engine = live.admin.ok("GET", "/v1/dynamic/engines/pg")
    body = {
        "type": engine["type"],
        "config": engine["config"],
        "default_ttl": "1h",
        "max_ttl": "24h",
        "max_leases": 4,
        "max_leases_per_identity": 2,
    }
    assert live.admin.ok("PUT", "/v1/dynamic/engines/pg", body)["max_leases_per_identity"] == 2
    rules = [{"path_pattern": ROLE_PATH, "permissions": ["read"]}]
    mallory, alice = grant(live, "sa:mallory", rules), grant(live, "sa:alice", rules)

    taken = [mallory.post(CREDS, {}) for _ in range(3)]
    assert [r.status_code for r in taken] == [200, 200, 429]
    error = taken[2].json()["error"]
    assert error["code"] == "quota_exceeded" and error["details"]["max_leases_per_identity"] == 2
    assert "sa:mallory already holds its maximum of 2" in error["message"]
    assert alice.post(CREDS, {}).status_code == 200  # the engine still has places for others


def test_a_roles_quota_per_identity_holds_too(server, pg_engine):
    live = server()
    pg_engine(live)
    role = live.admin.ok("GET", f"/v1/{ROLE_PATH}")
    role.update(max_leases_per_identity=1)
    for key in ("engine", "created_at", "updated_at"):
        role.pop(key)
    assert live.admin.ok("PUT", f"/v1/{ROLE_PATH}", role)["max_leases_per_identity"] == 1
    mallory = grant(live, "sa:mallory", [{"path_pattern": ROLE_PATH, "permissions": ["read"]}])
    first = mallory.post(CREDS, {})
    assert first.status_code == 200 and mallory.post(CREDS, {}).status_code == 429
    assert mallory.delete(f"/v1/dynamic/leases/{first.json()['lease_id']}").status_code == 204
    assert mallory.post(CREDS, {}).status_code == 200  # revoking frees the caller's place


def test_a_bad_quota_is_refused(server):
    live = server()
    for value, code in ((-1, "invalid_config"), ("2", "invalid_request"), (True, "invalid_request")):
        answer = live.admin.post(
            "/v1/dynamic/engines",
            {"name": "x", "type": "database", "config": {"plugin": "memory"}, "max_leases_per_identity": value},
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code, answer.text
