"""Running the server: its log lines, the request id that ties a request's lines and audit entries
together, and readiness (GET /v1/health/ready).

The logs and the ids are checked on a real ``scaivault server`` subprocess logging JSON. A stuck
expiry worker: on a real server whose PostgreSQL target stops answering (a blackholed proxy), and
on a vault in this process whose memory target does (``MemoryTarget.hang``).
"""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest

from scaivault_core import LeaseOptions
from scaivault_core.client import ScaiVaultClient
from scaivault_core.rest import create_app
from scaivault_core.testing import TCPProxy
from scaivault_core.testing.servers import FRONT_ENDS, LiveServer, ThreadedServer
from scaivault_core.testing.waiting import wait_until

BOUND = 60  # seconds any awaited condition gets: generous, never a sleep


@pytest.fixture(scope="module", params=FRONT_ENDS)
def front_end(request):
    """Every test here runs against each front end."""
    return request.param


@pytest.fixture(scope="module")
def traced(tmp_path_factory, front_end):
    """A JSON-logging server, a few requests made to it, and then (stopped) its log lines, parsed."""
    server = LiveServer(
        tmp_path_factory.mktemp("traced"),
        env={"SCAIVAULT_LOG_FORMAT": "json", "SCAIVAULT_LOG_LEVEL": "info"},
        front_end=front_end,
    ).start()
    token = server.admin_token
    admin = {"Authorization": f"Bearer {token}"}
    answers: dict[str, httpx.Response] = {}
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            # The token also in the query string, where a careless client might put it: it must not be logged.
            answers["write"] = http.put(
                f"/v1/secrets/app/db?token={token}",
                json={"data": {"password": "s3cr3t-v4lue"}},
                headers={**admin, "X-Request-ID": "trace-write-1"},
            )
            answers["audit"] = http.get("/v1/sys/audit", params={"operation": "secret.write"}, headers=admin)
            answers["health"] = http.get("/v1/health")
            answers["ready"] = http.get("/v1/health/ready")
            answers["bad_token"] = http.get("/v1/secrets/app/db", headers={"Authorization": "Bearer nope"})
            answers["missing"] = http.get("/v1/no/such/endpoint", headers=admin)
            answers["vault_denied"] = http.put(
                "/v1/sys/leases/lookup", json={"lease_id": "x"}, headers={"X-Vault-Token": "nope"}
            )
            answers["vault_missing"] = http.get("/v1/secret/data/x", headers={"X-Vault-Token": token})
            answers["vault_lookup"] = http.get(
                "/v1/auth/token/lookup-self", headers={"X-Vault-Token": token, "X-Request-ID": "vault-lookup-1"}
            )
            answers["too_long"] = http.get("/v1/health", headers={"X-Request-ID": "x" * 129})
            answers["bad_chars"] = http.get("/v1/health", headers={"X-Request-ID": "two words"})
        verify = server.cli("audit", "verify", check=False)
    finally:
        server.stop()
    text = server.log.read_text()
    yield answers, [json.loads(line) for line in text.splitlines()], text, token, verify


def test_the_log_is_json_lines_and_every_request_line_has_its_id(traced, front_end):
    answers, lines, text, token, _ = traced
    access = [line for line in lines if line["logger"] == "scaivault.access"]
    ids = [answer.headers["x-request-id"] for answer in answers.values()]
    assert sorted(ids) == sorted(line["request_id"] for line in access if line["request_id"] in ids)  # one line each
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert all(line["request_id"] for line in access)
    server = {"asgi": "uvicorn.error", "threads": "scaivault.server"}[front_end]  # who says it started and stopped
    assert {line["logger"] for line in lines} >= {"scaivault.access", "scaivault.audit", server}
    # Every line emitted while a request was handled carries an id; only the server's own start and stop do not.
    assert all("request_id" in line for line in lines if line["logger"] not in ("uvicorn.error", "scaivault.server"))
    assert token not in text and "s3cr3t-v4lue" not in text and "?token" not in text


def test_the_access_line_and_the_audit_line_of_one_request_share_its_id(traced):
    answers, lines, _, _, _ = traced
    assert answers["write"].status_code == 200 and answers["write"].headers["x-request-id"] == "trace-write-1"
    mine = [line for line in lines if line.get("request_id") == "trace-write-1"]
    access = next(line for line in mine if line["logger"] == "scaivault.access")
    assert {"method": "PUT", "path": "/v1/secrets/app/db", "status": 200}.items() <= access.items()
    assert access["duration_ms"] >= 0 and access["message"].startswith("PUT /v1/secrets/app/db 200 ")
    audit = next(line for line in mine if line["logger"] == "scaivault.audit")
    assert audit["audit"]["operation"] == "secret.write"


def test_the_audit_entry_carries_the_request_id_and_the_chain_still_verifies(traced):
    answers, _, _, _, verify = traced
    entry = next(e for e in answers["audit"].json()["entries"] if e["path"] == "app/db")
    assert entry["details"]["request_id"] == "trace-write-1"
    assert verify.returncode == 0, verify.stdout + verify.stderr  # entries with the id verify, init's without it too


def test_every_answer_carries_a_request_id(traced):
    answers, lines, _, _, _ = traced
    for name, answer in answers.items():
        assert answer.headers.get("x-request-id"), name
    assert [answers[n].status_code for n in ("bad_token", "missing", "vault_denied", "vault_missing")] == [
        401,
        404,
        403,
        404,
    ]
    # The Vault-compatible envelope's own request_id is the same id.
    assert (
        answers["vault_lookup"].headers["x-request-id"]
        == answers["vault_lookup"].json()["request_id"]
        == "vault-lookup-1"
    )
    # An id too long or with unsafe characters is replaced by a new one, which the log line carries.
    for name in ("too_long", "bad_chars"):
        rid = answers[name].headers["x-request-id"]
        assert uuid.UUID(rid) and any(line.get("request_id") == rid for line in lines)
    refused = [line for line in lines if line.get("request_id") == answers["bad_token"].headers["x-request-id"]]
    assert [line["status"] for line in refused if line["logger"] == "scaivault.access"] == [401]


def test_a_running_server_is_ready(traced):
    answers, _, _, _, _ = traced
    assert answers["ready"].status_code == 200
    assert answers["ready"].json() == {
        "status": "ready",
        "checks": {"store": "ok", "expiry_worker": "ok", "plugins": "ok"},
    }
    assert answers["health"].json()["status"] == "ok"


def test_a_stuck_expiry_worker_makes_the_server_not_ready(make_vault, target, clock, front_end):
    vault = make_vault(start_worker=True, lease_options=LeaseOptions(claim_timeout=1.0))
    vault.create_engine("mem", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="24h")
    vault.create_role("mem", "readonly", default_ttl="1h", max_ttl="8h")
    vault.issue("mem", "readonly", ttl="1h")
    held = target.hang["revoke"] = threading.Event()  # the target stops answering revocations
    try:
        with ThreadedServer(create_app(vault), front_end) as server:

            def readiness() -> httpx.Response:
                return httpx.get(f"{server.url}/v1/health/ready", timeout=30)

            assert readiness().status_code == 200
            clock.advance(2 * 3600)  # the lease is due: the worker claims it and hangs in the revocation
            assert wait_until(lambda: readiness().status_code == 503, timeout=BOUND)
            error = readiness().json()["error"]
            assert error["code"] == "unavailable" and error["details"]["failing"] == ["expiry_worker"]
            assert error["details"]["checks"] == {"store": "ok", "expiry_worker": "failing", "plugins": "ok"}
            held.set()  # the target answers again: the worker finishes its pass and is ready again
            assert wait_until(lambda: readiness().status_code == 200, timeout=BOUND)
    finally:
        held.set()


def test_a_store_that_does_not_answer_makes_the_server_not_ready(make_vault, front_end):
    vault = make_vault(start_worker=True)
    with ThreadedServer(create_app(vault), front_end) as server:
        assert httpx.get(f"{server.url}/v1/health/ready", timeout=30).status_code == 200
        assert httpx.get(f"{server.url}/v1/sys/health", timeout=30).status_code == 200  # Vault's health check
        vault.store.close()  # as good as unreachable: every question to it fails
        answer = httpx.get(f"{server.url}/v1/health/ready", timeout=30)
        assert answer.status_code == 503 and "store" in answer.json()["error"]["details"]["failing"]
        assert httpx.get(f"{server.url}/v1/health", timeout=30).status_code == 200  # still alive
        vault_health = httpx.get(f"{server.url}/v1/sys/health", timeout=30)  # out of a Vault load balancer's pool
        assert vault_health.status_code == 503 and vault_health.json()["initialized"] is True


BROKEN_PLUGIN = "raise ImportError('this plugin is broken on purpose')\n"


def test_a_plugin_that_failed_to_load_makes_the_server_not_ready(tmp_path, front_end):
    site = tmp_path / "site"
    info = site / "scaivault_broken-0.1.0.dist-info"
    info.mkdir(parents=True)
    (site / "scaivault_broken.py").write_text(BROKEN_PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scaivault-broken\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[scaivault]\nbroken = scaivault_broken\n")
    server = LiveServer(tmp_path / "server", env={"PYTHONPATH": str(site)}, front_end=front_end)
    with server:
        answer = httpx.get(f"{server.url}/v1/health/ready", timeout=30)
    assert answer.status_code == 503 and answer.json()["error"]["details"]["failing"] == ["plugins"]
    assert "broken on purpose" not in answer.text  # the reason is for the operator: scaivault plugins, the log


def test_a_server_whose_worker_hangs_on_a_target_is_not_ready_until_the_target_answers(
    tmp_path, pg_database, pg_role_exists, front_end
):
    with TCPProxy(("127.0.0.1", 5432)) as proxy:
        server = LiveServer(tmp_path / "server", env={"SCAIVAULT_CLAIM_TIMEOUT": "1s"}, front_end=front_end)
        with server, ScaiVaultClient(server.url, server.admin_token) as client:
            client.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
            client.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
            client.bind_policy("pg-root", "dynamic:pg")
            client.create_engine(
                "pg",
                "database",
                {
                    "plugin": "postgresql",
                    "root_credentials_path": "infra/pg/root",
                    "connect_timeout": 2,
                    "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{proxy.port}/{pg_database}",
                },
                default_ttl="1h",
                max_ttl="24h",
            )
            client.create_role(
                "pg",
                "readonly",
                creation_statements=[
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                ],
                revocation_statements=['DROP ROLE IF EXISTS "{{name}}"'],
                default_ttl="1h",
                max_ttl="8h",
            )
            lease = client.issue("pg", "readonly", ttl="2s")
            assert client.ready()["status"] == "ready"
            proxy.blackhole()  # the target stops answering: the worker hangs in the lease's revocation

            def failing() -> list[str]:
                answer = httpx.get(f"{server.url}/v1/health/ready", timeout=30)
                return answer.json()["error"]["details"]["failing"] if answer.status_code == 503 else []

            assert wait_until(lambda: failing() == ["expiry_worker"], timeout=BOUND)
            proxy.start()  # it answers again
            assert wait_until(lambda: not failing(), timeout=BOUND)
            client.revoke(lease.lease_id)  # now, rather than at the next retry
            assert client.lookup(lease.lease_id).state == "revoked"
            assert not pg_role_exists(lease.data["username"])
