"""The harness itself: a caller holding one narrow grant can do that and nothing else."""

from __future__ import annotations

import psycopg

from .conftest import grant


def test_a_narrow_grant_issues_and_nothing_more(server, pg_engine, scram_cluster, target_db):
    live = server()
    pg_engine(live)
    app = grant(live, "sa:app", [{"path_pattern": "dynamic/engines/pg/roles/readonly", "permissions": ["read"]}])
    issued = app.ok("POST", "/v1/dynamic/engines/pg/creds/readonly", {"ttl": "10m"})
    data = issued["data"]
    with psycopg.connect(scram_cluster.url(data["username"], data["password"], target_db)) as conn:
        assert conn.execute("SELECT body FROM reports").fetchone() == ("hello",)
    assert app.get("/v1/dynamic/engines/pg").status_code == 403
    assert app.get("/v1/secrets/infra/pg/root").status_code == 403
    assert app.delete(f"/v1/dynamic/leases/{issued['lease_id']}").status_code == 204
