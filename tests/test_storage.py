"""What lands on disk: encrypted secrets, no issued passwords, owner-only files, keyed hashes in audit."""

from __future__ import annotations

import json
import stat

import pytest

from scaivault_core import InvalidRequest


def _all_bytes(tmp_path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("vault.db"))


@pytest.mark.sqlite_only
def test_store_holds_no_password_or_root_secret_in_clear(vault, tmp_path):
    vault.put_secret("infra/mem/root", {"username": "admin", "password": "RootPassw0rd-unique"})
    creds = [vault.issue("mem", "readonly") for _ in range(3)]
    vault.store.close()
    raw = _all_bytes(tmp_path)
    assert raw, "the store file exists"
    assert b"RootPassw0rd-unique" not in raw
    for c in creds:
        assert c.data["password"].encode() not in raw
        assert c.data["username"].encode() in raw  # names are not secret; they are how leases are found


@pytest.mark.sqlite_only
def test_store_and_key_files_are_owner_only(vault, tmp_path):
    for name in ("vault.db", "vault.key"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.sqlite_only
def test_key_lives_apart_from_the_data(vault, tmp_path):
    key = (tmp_path / "vault.key").read_text().strip().encode()
    assert key not in _all_bytes(tmp_path)


def test_secrets_are_versioned(vault):
    vault.put_secret("apps/x", {"v": 1})
    vault.put_secret("apps/x", {"v": 2})
    assert vault.get_secret("apps/x").data == {"v": 2}
    assert vault.get_secret("apps/x", version=1).data == {"v": 1}
    assert [v.version for v in vault.list_secret_versions("apps/x")] == [1, 2]


@pytest.mark.parametrize(
    "path", ["../etc/passwd", "a/../b", "/abs", "a//b", "dynamic/engines/x", "sys/x", ".hidden", "a/ b"]
)
def test_secret_paths_cannot_escape_their_namespace(vault, path):
    with pytest.raises(InvalidRequest):
        vault.put_secret(path, {"x": 1})


def test_audit_records_hashes_never_values(vault):
    vault.put_secret("apps/x", {"password": "AuditMe-Secret-99"})
    creds = vault.issue("mem", "readonly")
    vault.revoke(creds.lease_id)
    events = [e for _, e in vault.audit_log(limit=1000)]
    ops = [e.operation for e in events]
    assert {"secret.write", "lease.issue", "lease.revoke"} <= set(ops)
    text = json.dumps([e.to_dict() for e in events])
    assert "AuditMe-Secret-99" not in text and creds.data["password"] not in text
    issue = next(e for e in events if e.operation == "lease.issue")
    assert issue.details["hashes"]["data"].startswith("hmac-sha256:")
    assert issue.lease_id == creds.lease_id


def test_reprs_carry_no_secrets(vault):
    creds = vault.issue("mem", "readonly")
    secret = vault.put_secret("apps/y", {"password": "ReprSecret-42"})
    for obj in (creds, creds.lease, secret, vault.get_secret("apps/y"), vault):
        assert creds.data["password"] not in repr(obj) and "ReprSecret-42" not in repr(obj)


def test_vault_reopens_with_its_key(make_vault, tmp_path, target):
    first = make_vault()
    first.put_secret("apps/z", {"a": "b"})
    first.close()
    again = make_vault()
    assert again.get_secret("apps/z").data == {"a": "b"}
