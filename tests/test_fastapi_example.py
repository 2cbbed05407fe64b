"""examples/fastapi_app.py, served for real by uvicorn in a subprocess: an asyncio application using the
embedded vault (AsyncVault) issues, uses and revokes real PostgreSQL users."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from scaivault_core import Vault
from scaivault_core.testing import readonly_role
from scaivault_core.testing.ports import free_port

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def set_up(store: str, pg_database: str) -> None:
    """The guide's engine and role on a private database, and the reporting service's grant."""
    with Vault(store, start_worker=False) as vault:
        vault.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
        vault.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
        vault.bind_policy("pg-root", "dynamic:support-db")
        vault.create_engine(
            "support-db",
            "database",
            {
                "plugin": "postgresql",
                "root_credentials_path": "infra/pg/root",
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
            },
        )
        vault.create_role(
            "support-db",
            "readonly",
            **readonly_role(),
        )
        vault.create_policy(
            "reports", [{"path_pattern": "dynamic/engines/support-db/roles/readonly", "permissions": ["read"]}]
        )
        vault.bind_policy("reports", "sa:reporting-service")


@pytest.fixture
def service(tmp_path, pg_database):
    store = str(tmp_path / "vault.db")
    set_up(store, pg_database)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env["SCAIVAULT_STORE"] = store
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "fastapi_app:app",
            "--app-dir",
            str(EXAMPLES),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/docs", timeout=5)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the example did not start: {process.stdout.read()}") from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        with Vault(store, start_worker=False) as vault:  # whatever a failed test left live
            vault.revoke_prefix("lease_")


def test_each_request_gets_its_own_user_revoked_after(service, pg_role_exists):
    with httpx.Client(base_url=service, timeout=60) as http:
        first, second = http.get("/report").json(), http.get("/report").json()
        assert first["reports"] == second["reports"] == 1
        assert first["user"].startswith("v_readonly_") and first["user"] != second["user"]
        assert not pg_role_exists(first["user"]) and not pg_role_exists(second["user"])
        assert http.get(f"/leases/{first['lease_id']}").json()["state"] == "revoked"

        issued = http.post("/leases", params={"ttl": "10m"})
        assert issued.status_code == 201 and "password" not in issued.text
        lease = issued.json()
        assert pg_role_exists(lease["username"])
        assert http.get(f"/leases/{lease['lease_id']}").json()["state"] == "active"
        assert http.delete(f"/leases/{lease['lease_id']}").status_code == 204
        assert not pg_role_exists(lease["username"])
        assert http.get("/leases/lease_db_nosuch").status_code == 404
        refused = http.post("/leases", params={"ttl": "99999h"})
        assert refused.status_code == 400 and refused.json()["detail"]["code"] == "ttl_exceeds_max"
