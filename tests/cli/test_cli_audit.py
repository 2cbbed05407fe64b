"""`scaivault audit` in both modes (filters, pages, json), and `audit verify`, which runs on the store only."""

from __future__ import annotations

import sqlite3


def test_audit_lists_with_filters_and_pages(scaivault):
    for i in range(3):
        scaivault("secrets", "put", f"apps/s{i}", "v=1")
    scaivault("secrets", "put", "other/x", "v=1")
    everything = scaivault.json_out("audit", "--limit", "1000")["entries"]
    writes = scaivault.json_out("audit", "--operation", "secret.write", "--path-prefix", "apps/")
    assert [e["path"] for e in writes["entries"]] == ["apps/s0", "apps/s1", "apps/s2"]
    assert writes["next"] is None
    assert scaivault.json_out("audit", "--since", "1h", "--limit", "1000")["entries"] == everything
    assert scaivault.json_out("audit", "--until", "2000-01-01T00:00:00Z")["entries"] == []

    first = scaivault.json_out("audit", "--limit", "2")
    assert len(first["entries"]) == 2 and first["next"] == first["entries"][-1]["id"]
    second = scaivault.json_out("audit", "--limit", "2", "--after", str(first["next"]))
    assert first["entries"] + second["entries"] == everything[:4]
    assert scaivault.json_out("audit", "--limit", "2", "--all") == {"entries": everything, "next": None}

    table = scaivault("audit", "--operation", "secret.write", "--limit", "2").stdout
    assert table.splitlines()[0].split() == ["ID", "TIME", "IDENTITY", "OPERATION", "PATH", "OUTCOME", "LEASE_ID"]
    assert "(more: --after" in table
    bad = scaivault("audit", "--since", "soon", expect=1)
    assert bad.stderr.startswith("Error (invalid_request): since must be an ISO 8601 time")


def test_audit_verify_runs_on_the_store(scaivault):
    if scaivault.mode == "remote":
        refused = scaivault("audit", "verify", expect=1)
        assert refused.stderr.startswith("Error (invalid_request): `audit verify` checks the store itself")
        return
    scaivault("secrets", "put", "apps/a", "v=1")
    scaivault("secrets", "put", "apps/b", "v=1")
    ok = scaivault("audit", "verify")
    assert ok.stdout.startswith("OK: 3 signed entries verified up to the chain head (position 3, MAC ")
    assert scaivault.json_out("audit", "verify")["ok"] is True
    assert scaivault("audit", "--limit", "5", "verify", expect=1).stderr.startswith(
        "Error (invalid_request): --limit is for listing"
    )

    with sqlite3.connect(scaivault.env["SCAIVAULT_STORE"]) as db:
        db.execute("UPDATE audit SET details = '{}' WHERE path = 'apps/a'")
    broken = scaivault("audit", "verify", expect=1)
    assert broken.stdout.startswith("BROKEN at entry 2 (edited): Entry 2 does not match its MAC")
    report = scaivault("audit", "verify", "--format", "json", expect=1)
    assert '"problem": "edited"' in report.stdout
