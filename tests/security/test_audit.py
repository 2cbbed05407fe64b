"""The audit log against a live server: who may read it, what it records (denials too), its filters and
pages, and ``scaivault audit verify`` catching an edit made to the store with sqlite3 behind the server's back."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import httpx
import pytest

from scaivault_core.testing.servers import scaivault_command

from .conftest import Api, grant

AUDITOR = [{"path_pattern": "sys/audit", "permissions": ["read"]}]


@pytest.fixture
def live(server):
    return server()


def entries(api, **query) -> list[dict]:
    body = api.ok("GET", "/v1/sys/audit?" + "&".join(f"{k}={v}" for k, v in query.items()))
    return body["entries"]


def test_reading_the_log_needs_read_on_sys_audit(live):
    nobody = grant(live, "sa:nobody", [])
    answer = nobody.get("/v1/sys/audit")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "permission_denied"
    elsewhere = grant(live, "sa:elsewhere", [{"path_pattern": "sys/**", "permissions": ["list", "update"]}])
    assert elsewhere.get("/v1/sys/audit").status_code == 403
    auditor = grant(live, "sa:auditor", AUDITOR)
    assert auditor.get("/v1/sys/audit").status_code == 200
    assert httpx.get(f"{live.url}/v1/sys/audit", verify=live.verify).status_code == 401


def test_denied_requests_are_in_the_log(live):
    mallory = grant(live, "sa:mallory", [])
    assert mallory.get("/v1/dynamic/engines/pg").status_code == 403
    assert mallory.put("/v1/secrets/apps/x", {"data": {"v": 1}}).status_code == 403
    with_bad_token = Api(live, "svt.not-a-token", "anonymous")
    assert with_bad_token.get("/v1/dynamic/leases").status_code == 401
    auditor = grant(live, "sa:auditor", AUDITOR)

    denied = entries(auditor, operation="access.denied", identity="sa:mallory")
    assert {(e["path"], e["outcome"], e["details"]["permission"]) for e in denied} >= {
        ("dynamic/engines/pg", "permission_denied", "read"),
        ("apps/x", "permission_denied", "update"),
    }
    anonymous = entries(auditor, operation="access.denied", outcome="unauthenticated")
    assert [(e["identity"], e["path"]) for e in anonymous] == [("anonymous", "sys/auth")]


def test_filters_pages_and_no_secret_values(live):
    admin = live.admin
    admin.ok("PUT", "/v1/secrets/apps/billing", {"data": {"password": "s3cret-value-never-logged"}})
    admin.ok("PUT", "/v1/secrets/apps/billing", {"data": {"password": "another-s3cret-value"}})
    admin.ok("PUT", "/v1/secrets/other/thing", {"data": {"v": 1}})
    auditor = grant(live, "sa:auditor", AUDITOR)

    everything = auditor.ok("GET", "/v1/sys/audit?limit=1000")
    assert everything["next"] is None
    text = json.dumps(everything)
    assert "s3cret-value-never-logged" not in text and "another-s3cret-value" not in text
    writes = entries(auditor, operation="secret.write", path_prefix="apps/")
    assert [(e["path"], e["details"]["version"]) for e in writes] == [("apps/billing", 1), ("apps/billing", 2)]
    assert all(e["details"]["hashes"]["data"].startswith("hmac-sha256:") for e in writes)
    assert {e["identity"] for e in entries(auditor, identity="user:admin")} == {"user:admin"}
    assert entries(auditor, since="1h") == everything["entries"]
    assert entries(auditor, until="2000-01-01T00:00:00Z") == []
    assert entries(auditor, lease_id="lease_db_none") == []

    pages, after = [], None
    while True:
        page = auditor.ok("GET", "/v1/sys/audit?limit=2" + (f"&after={after}" if after else ""))
        pages += page["entries"]
        if page["next"] is None:
            break
        assert len(page["entries"]) == 2
        after = page["next"]
    assert pages == everything["entries"]

    for query, field in (("limit=0", "limit"), ("limit=1001", "limit"), ("after=x", "after"), ("since=soon", "since")):
        answer = auditor.get(f"/v1/sys/audit?{query}")
        assert answer.status_code == 400, query
        assert answer.json()["error"]["details"]["field"] == field


def test_the_cli_lists_remotely_and_verifies_only_on_the_store(live):
    live.admin.ok("PUT", "/v1/secrets/apps/a", {"data": {"v": 1}})
    auditor = grant(live, "sa:auditor", AUDITOR)
    remote = {**live.env, "SCAIVAULT_ADDR": live.url, "SCAIVAULT_TOKEN": auditor.token}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*scaivault_command(), *args], env=remote, capture_output=True, text=True, timeout=120)

    listed = cli("audit", "--operation", "secret.write", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [e["path"] for e in json.loads(listed.stdout)["entries"]] == ["apps/a"]
    refused = cli("audit", "verify")
    assert refused.returncode == 1 and "Error (invalid_request)" in refused.stderr


def test_verify_catches_an_edit_made_to_the_store_directly(live):
    for i in range(4):
        live.admin.ok("PUT", f"/v1/secrets/apps/s{i}", {"data": {"v": i}})
    clean = live.cli("audit", "verify")
    assert clean.stdout.startswith("OK: ")

    with sqlite3.connect(live.store) as db:  # the server keeps running on the same file
        (victim,) = db.execute("SELECT id FROM audit WHERE operation = 'secret.write' AND path = 'apps/s1'").fetchone()
        db.execute("UPDATE audit SET identity = 'sa:someone-else' WHERE id = ?", (victim,))
    edited = live.cli("audit", "verify", check=False)
    assert edited.returncode == 1
    assert f"BROKEN at entry {victim} (edited)" in edited.stdout
    report = json.loads(live.cli("audit", "verify", "--format", "json", check=False).stdout)
    assert report["ok"] is False and report["broken"]["id"] == victim and report["broken"]["problem"] == "edited"

    with sqlite3.connect(live.store) as db:  # put it back, then delete an entry instead
        db.execute("UPDATE audit SET identity = 'user:admin' WHERE id = ?", (victim,))
    assert live.cli("audit", "verify", check=False).returncode == 0
    with sqlite3.connect(live.store) as db:
        db.execute("DELETE FROM audit WHERE id = ?", (victim,))
    deleted = live.cli("audit", "verify", check=False)
    assert deleted.returncode == 1 and "(deleted)" in deleted.stdout
    assert f"missing before entry {victim + 1}" in deleted.stdout
