"""The published guide, run as written: every ```bash block with the real curl, the Python examples with httpx.

Only the host changes (the server runs on 127.0.0.1 over HTTPS with a self-signed certificate
that curl and httpx are told to trust through their environment), the tokens come from the
environment as the guide's ``$ADMIN_TOKEN``/``$SERVICE_TOKEN``, and the guide's example lease id
is replaced by the real one. curl's status code is collected through a private ``.curlrc``, so
the commands themselves are untouched. The target is the real PostgreSQL: the guide's
``support`` database and its ``scaivault_admin`` root user are created for the test (as a
superuser, since the guide's revocation reassigns to ``postgres``) and removed afterwards.
"""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from scaivault_core import Vault, parse_duration

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "dynamic-secrets.md"
HOST = "https://scaivault.example.com"
EXAMPLE_LEASE = "lease_db_abc123xyz"


def code_blocks(language: str) -> list[str]:
    return [body for lang, body in re.findall(r"```(\w+)\n(.*?)```", GUIDE.read_text(), re.S) if lang == language]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def guide_target(pg_admin, guide_names_lock):
    """The guide's PostgreSQL: database ``support`` (with a table) and root user ``scaivault_admin``."""
    made_user = pg_admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'scaivault_admin'").fetchone() is None
    if made_user:
        pg_admin.execute("CREATE ROLE scaivault_admin WITH LOGIN SUPERUSER PASSWORD 'REDACTED'")
    made_db = pg_admin.execute("SELECT 1 FROM pg_database WHERE datname = 'support'").fetchone() is None
    if made_db:
        pg_admin.execute("CREATE DATABASE support")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/support", autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS tickets (id int PRIMARY KEY, subject text)")
        conn.execute("INSERT INTO tickets VALUES (1, 'printer on fire') ON CONFLICT DO NOTHING")
    try:
        yield
    finally:
        # Only after a failure: the test itself checks every user is dropped. Roles are
        # cluster-wide and other runs share this server, so only those tied to `support` go.
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/support", autocommit=True) as conn:
            for (name,) in conn.execute(
                "SELECT DISTINCT r.rolname FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid "
                "WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = 'support') "
                "AND r.rolname LIKE 'v\\_readonly\\_%'"
            ).fetchall():
                conn.execute(f'DROP OWNED BY "{name}"')
                conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        if made_db:
            pg_admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'support'")
            pg_admin.execute("DROP DATABASE IF EXISTS support")
        if made_user:
            pg_admin.execute("DROP ROLE IF EXISTS scaivault_admin")


@pytest.fixture
def curl(tmp_path):
    """Runs one guide block with the real curl; answers (status, JSON body or None)."""
    home = tmp_path / "curlhome"
    home.mkdir()
    (home / ".curlrc").write_text('silent\nshow-error\nwrite-out = "\\n__STATUS__%{http_code}"\n')

    def run(block: str, server, tokens: dict[str, str], lease_id: str | None = None) -> tuple[int, object]:
        command = block.replace(HOST, server.url)
        if lease_id:
            command = command.replace(EXAMPLE_LEASE, lease_id)
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "CURL_HOME": str(home),
            "CURL_CA_BUNDLE": str(server.ca),
            **tokens,
        }
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        body, _, status = done.stdout.rpartition("\n__STATUS__")
        return int(status), (json.loads(body) if body.strip() else None)

    return run


def guide_url(text: str, server) -> str:
    return text.replace(HOST, server.url).replace("@db.internal:", "@127.0.0.1:")


def test_guide_walkthrough_runs_verbatim(guide_target, curl, live_server, pg_role_exists, pg_admin, monkeypatch):
    server = live_server(tls=True)
    bash = [b.replace("@db.internal:", "@127.0.0.1:") for b in code_blocks("bash")]
    assert len(bash) == 12, "the guide's curl blocks changed; update this test's expectations"
    admin = {"ADMIN_TOKEN": server.admin_token}
    http = httpx.Client(
        base_url=server.url, verify=server.verify, headers={"Authorization": f"Bearer {server.admin_token}"}
    )

    # 1. Store the root credentials.
    status, body = curl(bash[0], server, admin)
    assert status == 200
    assert body["path"] == "infra/postgres/support/root" and body["version"] == 1 and "data" not in body

    # The narrow policy, then "Bind it to the system identity dynamic:support-db".
    status, body = curl(bash[1], server, admin)
    assert status == 201
    assert body["rules"] == [{"path_pattern": "infra/postgres/support/root", "permissions": ["read", "rotate"]}]
    status, body = curl(bash[2], server, admin)
    assert (status, body) == (201, {"policy": "dynamic-engine-pg-root", "identity": "dynamic:support-db"})

    # 2. Configure the engine: ScaiVault reads the root credentials and opens a test connection.
    status, body = curl(bash[3], server, admin)
    assert status == 201, body
    assert body["name"] == "support-db" and body["type"] == "database"
    assert (
        body["config"]["plugin"] == "postgresql"
        and body["config"]["root_credentials_path"] == "infra/postgres/support/root"
    )
    assert (body["default_ttl"], body["max_ttl"]) == ("1h", "24h")

    # 3. Define a role.
    status, body = curl(bash[4], server, admin)
    assert status == 201, body
    assert body["name"] == "readonly" and (body["default_ttl"], body["max_ttl"]) == ("1h", "8h")
    assert len(body["creation_statements"]) == 3 and len(body["revocation_statements"]) == 4

    # 4. Grant the application access, bind it, and give it a token.
    status, body = curl(bash[5], server, admin)
    assert status == 201
    status, body = curl(bash[6], server, admin)
    assert (status, body) == (201, {"policy": "reporting-service-dynamic", "identity": "sa:reporting-service"})
    issued_token = http.post("/v1/auth/tokens", json={"identity": "sa:reporting-service", "ttl": "1h"})
    assert issued_token.status_code == 201
    assert issued_token.json()["identity"] == "sa:reporting-service" and issued_token.json()["expires_at"]
    service = {"SERVICE_TOKEN": issued_token.json()["token"]}

    # 5. Generate credentials: the response has exactly the guide's shape.
    before = datetime.now(UTC)
    status, lease = curl(bash[7], server, service)
    assert status == 200, lease
    example = json.loads(next(b for b in code_blocks("json") if '"lease_id"' in b))
    assert set(lease) == set(example) and set(lease["data"]) == set(example["data"])
    assert lease["lease_id"].startswith("lease_db_")
    assert re.fullmatch(r"v_readonly_[a-z0-9_]+", lease["data"]["username"])
    assert (lease["data"]["host"], lease["data"]["port"], lease["data"]["database"]) == ("127.0.0.1", 5432, "support")
    assert lease["lease_duration"] == "2h" and lease["renewable"] is True
    assert (
        timedelta(hours=2) - timedelta(seconds=5) <= when(lease["expires_at"]) - before <= timedelta(hours=2, seconds=5)
    )
    username = lease["data"]["username"]
    with psycopg.connect(lease["data"]["connection_url"]) as conn:  # the application uses connection_url
        assert ("printer on fire",) in conn.execute("SELECT subject FROM tickets").fetchall()
    lookup = http.get(f"/v1/dynamic/leases/{lease['lease_id']}").json()
    assert lookup["metadata"] == {"purpose": "nightly report"} and lookup["identity"] == "sa:reporting-service"

    # 6. Renew: extends the lease by one hour from its current expiry; the credential doesn't change.
    status, renewed = curl(bash[8], server, service, lease_id=lease["lease_id"])
    assert status == 200, renewed
    assert when(renewed["expires_at"]) - when(lease["expires_at"]) == timedelta(hours=1)
    remaining = parse_duration(renewed["lease_duration"])  # what is left of the lease now
    assert timedelta(hours=3) - timedelta(seconds=30) <= timedelta(seconds=remaining) <= timedelta(hours=3)
    assert renewed["capped"] is False and "data" not in renewed
    valid_until = pg_admin.execute("SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", (username,)).fetchone()[0]
    assert valid_until == when(renewed["expires_at"])

    # 7. Revoke early: the user vanishes from PostgreSQL.
    status, body = curl(bash[9], server, service, lease_id=lease["lease_id"])
    assert (status, body) == (204, None)
    assert not pg_role_exists(username)
    assert http.get(f"/v1/dynamic/leases/{lease['lease_id']}").json()["state"] == "revoked"

    # The context-manager pattern, as written: the lease is revoked when the block ends.
    seen = []

    def run_query_with(url: str) -> None:
        with psycopg.connect(url) as conn:
            seen.append(conn.execute("SELECT current_user").fetchone()[0])
            conn.execute("SELECT * FROM tickets").fetchall()

    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca))
    pattern = guide_url(code_blocks("python")[1], server)
    exec(
        compile(pattern, "guide-context-manager", "exec"),
        {"TOKEN": service["SERVICE_TOKEN"], "run_query_with": run_query_with},
    )
    assert len(seen) == 1 and seen[0].startswith("v_readonly_") and not pg_role_exists(seen[0])

    # Emergency revoke-all: every live lease of the engine goes.
    extra = http.post(
        "/v1/dynamic/engines/support-db/creds/readonly",
        json={"ttl": "30m"},
        headers={"Authorization": f"Bearer {service['SERVICE_TOKEN']}"},
    ).json()
    assert pg_role_exists(extra["data"]["username"])
    status, body = curl(bash[10], server, admin)
    assert status == 200 and body == {"revoked": 1, "failed": [], "in_progress": 0}
    assert not pg_role_exists(extra["data"]["username"])

    # Then rotate the engine's root credential.
    status, body = curl(bash[11], server, admin)
    if hasattr(Vault, "rotate_secret"):
        assert status == 200, body
        assert body["version"] == 2 and body["reason"] == "incident response" and "data" not in body
        secret = http.get("/v1/secrets/infra/postgres/support/root").json()
        assert secret["version"] == 2 and secret["data"]["password"] != "REDACTED"
        again = http.post(
            "/v1/dynamic/engines/support-db/creds/readonly",
            json={"ttl": "5m"},
            headers={"Authorization": f"Bearer {service['SERVICE_TOKEN']}"},
        )
        assert again.status_code == 200, again.text
        assert http.delete(f"/v1/dynamic/leases/{again.json()['lease_id']}").status_code == 204
    else:  # until the core can rotate, the route answers the core's refusal
        assert status == 400 and body["error"]["code"] == "invalid_request"
    http.close()


def test_guide_python_engine_example_runs_as_written(guide_target, curl, live_server, monkeypatch):
    server = live_server(tls=True)
    bash = [b.replace("@db.internal:", "@127.0.0.1:") for b in code_blocks("bash")]
    admin = {"ADMIN_TOKEN": server.admin_token}
    assert curl(bash[0], server, admin)[0] == 200
    assert curl(bash[1], server, admin)[0] == 201
    assert curl(bash[2], server, admin)[0] == 201

    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca))
    namespace = {"ADMIN_TOKEN": server.admin_token}
    exec(compile("import httpx\n" + guide_url(code_blocks("python")[0], server), "guide-engine", "exec"), namespace)
    resp = namespace["resp"]
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "support-db" and resp.json()["config"]["plugin"] == "postgresql"
