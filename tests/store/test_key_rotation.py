"""Key rotation on both store backends: stored material moves to the new key while the vault serves.

After ``rotate_encryption_key`` with the keyring NEW,OLD, the old key alone can read nothing in the
store (no secret version, pending root rotation, lease handle or key check), and the new key alone
can read everything.
"""

from __future__ import annotations

import threading

import pytest

from scaivault_core import InvalidConfig, LeaseState
from scaivault_core.crypto import Keyring, decode_keys, encode_key, new_key

ROOT = "infra/mem/root"


def _sealed_blobs(store) -> list[tuple[str, bytes]]:
    """Every encrypted value in the store, with the context it was sealed for."""
    blobs = []
    for path in store.list_secret_paths(""):
        for version in store.list_secret_versions(path):
            sealed = store.get_secret_version(path, version.version)[1]
            if sealed is not None:
                blobs.append((f"secret:{path}", sealed))
    for pending in store.pending_rotations():
        blobs.append((f"rotation:{pending['path']}", pending["sealed_new"]))
    after = None
    while page := store.list_leases(after=after, limit=500):
        blobs += [(f"lease:{lease.lease_id}", store.get_lease(lease.lease_id)[1]) for lease in page]
        after = page[-1].lease_id
    return blobs


def _readable(keyring: Keyring, context: str, blob: bytes) -> bool:
    try:
        keyring.decrypt(blob, context)
        return True
    except Exception:  # unknown key id, or a key that fails authentication
        return False


def test_rotation_reencrypts_everything_online(make_vault, target):
    old, new = encode_key(new_key()), encode_key(new_key())
    first = make_vault(key=old)
    first.put_secret(ROOT, {"username": "admin", "password": "root-pw-1"})
    first.create_policy("mem-root", [{"path_pattern": ROOT, "permissions": ["read", "rotate"]}])
    first.bind_policy("mem-root", "dynamic:mem")
    first.create_engine(
        "mem", "database", {"plugin": "memory", "root_credentials_path": ROOT}, default_ttl="1h", max_ttl="24h"
    )
    first.create_role("mem", "readonly")
    first.put_secret("apps/a", {"v": 1})
    first.put_secret("apps/a", {"v": 2})
    active = first.issue("mem", "readonly")
    finished = first.issue("mem", "readonly")
    first.revoke(finished.lease_id)
    # A root rotation caught between "recorded" and "applied" (a crash would leave exactly this).
    first.store.begin_rotation(
        ROOT,
        "mem",
        first.keyring.encrypt_json({"username": "admin", "password": "root-pw-2"}, f"rotation:{ROOT}"),
        "user:admin",
        "test",
        0,
        first.clock.time(),
    )
    first.close()

    # Every process now runs with NEW,OLD; one of them rotates while another keeps issuing.
    rotating = make_vault(key=f"{new},{old}")
    serving = make_vault(key=f"{new},{old}")
    issued_meanwhile = []
    stop = threading.Event()

    def keep_issuing() -> None:
        while not stop.is_set():
            issued_meanwhile.append(serving.issue("mem", "readonly"))

    worker = threading.Thread(target=keep_issuing)
    worker.start()
    try:
        counts = rotating.rotate_encryption_key()
    finally:
        stop.set()
        worker.join()
    assert counts["secret_versions"] == 2 and counts["leases"] >= 2  # apps/a v1, v2; the root is already under NEW
    assert counts["rotations"] == 0  # opening NEW,OLD finished the interrupted rotation, sealing it under NEW
    audit = [e for _, e in rotating.audit_log(operation="key.rotate")]
    assert len(audit) == 1 and audit[0].details["key"] == Keyring(decode_keys(new)).current_id.hex()
    rotating.close()
    serving.close()

    new_only, old_only = Keyring(decode_keys(new)), Keyring(decode_keys(old))
    blobs = _sealed_blobs(make_vault(key=new).store)
    assert len(blobs) >= 5 + len(issued_meanwhile)
    assert all(_readable(new_only, context, blob) for context, blob in blobs)
    assert not any(_readable(old_only, context, blob) for context, blob in blobs)

    with pytest.raises(InvalidConfig) as err:
        make_vault(key=old)
    assert "does not match this store" in err.value.message

    after = make_vault(key=new)
    assert after.get_secret("apps/a", version=1).data == {"v": 1}
    # The audit chain, re-signed while the other process kept appending, verifies under NEW alone.
    report = after.verify_audit_log()
    assert report.ok and report.signed >= 10 + len(issued_meanwhile)
    assert after.get_secret(ROOT).data["password"] == "root-pw-2"
    for creds in [active, *issued_meanwhile]:
        assert after.revoke(creds.lease_id).state == LeaseState.REVOKED
        assert creds.data["username"] not in target.users


def test_pending_rotation_is_resealed_too(make_vault, target):
    old, new = encode_key(new_key()), encode_key(new_key())
    vault = make_vault(key=f"{new},{old}")
    sealed_under_old = Keyring(decode_keys(old)).encrypt_json({"password": "pending-pw"}, "rotation:apps/pending")
    vault.store.begin_rotation("apps/pending", None, sealed_under_old, "user:admin", None, 0, vault.clock.time())
    assert vault.rotate_encryption_key()["rotations"] == 1
    (pending,) = vault.store.pending_rotations()
    assert Keyring(decode_keys(new)).decrypt_json(pending["sealed_new"], "rotation:apps/pending") == {
        "password": "pending-pw"
    }
    assert not _readable(Keyring(decode_keys(old)), "rotation:apps/pending", pending["sealed_new"])
    vault.store.end_rotation("apps/pending")


def test_a_retired_version_stays_destroyed(make_vault, target):
    old, new = encode_key(new_key()), encode_key(new_key())
    vault = make_vault(key=old)
    vault.put_secret("apps/b", {"v": 1})
    vault.put_secret("apps/b", {"v": 2})
    vault.store.retire_secret_version("apps/b", 1, vault.clock.time())
    vault.close()
    rotating = make_vault(key=f"{new},{old}")
    rotating.rotate_encryption_key()
    assert rotating.store.get_secret_version("apps/b", 1)[1] is None
    assert rotating.get_secret("apps/b").data == {"v": 2}


def test_a_rotation_needs_the_old_key_in_the_keyring(make_vault, target):
    old = encode_key(new_key())
    make_vault(key=old).put_secret("apps/c", {"v": 1})
    with pytest.raises(InvalidConfig) as err:
        make_vault(key=encode_key(new_key()))  # NEW alone, before the rotation: refused at start, not at first read
    assert "NEW,OLD" in err.value.message
