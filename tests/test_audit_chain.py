"""The audit chain on both store backends: appends verify, and every kind of tampering with the stored
log is named by ``verify_audit_log`` (which entry, and whether it was edited, deleted or moved)."""

from __future__ import annotations

import threading

import pytest

from scaivault_core import PermissionDenied, Unauthenticated, audit_chain
from scaivault_core.audit_chain import AuditChain, verify
from scaivault_core.crypto import Keyring, decode_keys, encode_key, new_key
from scaivault_core.models import AuditEvent
from scaivault_core.store.sqlite import SQLiteStore

CONTENT = ("time", "identity", "operation", "path", "outcome", "lease_id", "details", "seq", "mac", "key_id")


def write(vault, statement: str, params: tuple = ()) -> None:
    """Change the store behind the vault's back, as someone with access to the database would."""
    store = vault.store
    store._exec(statement if isinstance(store, SQLiteStore) else statement.replace("?", "%s"), params)


def read(vault, statement: str, params: tuple = ()) -> list[tuple]:
    store = vault.store
    if isinstance(store, SQLiteStore):
        return store._exec(statement, params).rows
    return store._all(statement.replace("?", "%s"), params)


def ids(vault) -> list[int]:
    return [r[0] for r in read(vault, "SELECT id FROM audit ORDER BY id")]


@pytest.fixture
def logged(vault):
    """A vault with seven chained entries.

    Engine and role created, three secrets written, a lease issued and revoked.
    """
    for i in range(3):
        vault.put_secret(f"apps/s{i}", {"v": i})
    vault.revoke(vault.issue("mem", "readonly").lease_id)
    assert len(ids(vault)) == 7
    return vault


def test_an_untouched_chain_verifies(logged):
    report = logged.verify_audit_log()
    assert report.ok and report.broken is None
    assert report.signed == report.entries == 7 and report.unsigned_prefix == 0
    assert report.head.seq == 7
    positions = read(logged, "SELECT seq, key_id FROM audit ORDER BY id")
    assert [seq for seq, _ in positions] == list(range(1, 8))
    assert {key for _, key in positions} == {logged.keyring.current_id.hex()}


@pytest.mark.parametrize(
    "column, value",
    [
        ("details", '{"version": 9}'),
        ("identity", "user:someone-else"),
        ("outcome", "permission_denied"),
        ("time", 1.0),
        ("path", "apps/other"),
        ("mac", "0" * 32),
        ("key_id", None),
        ("seq", 5),
    ],
)
def test_an_edited_entry_is_named(logged, column, value):
    target = ids(logged)[3]
    write(logged, f"UPDATE audit SET {column} = ? WHERE id = ?", (value, target))
    report = logged.verify_audit_log()
    assert not report.ok
    assert (report.broken.id, report.broken.problem) == (target, "edited")
    assert report.signed == 3


def test_a_deleted_entry_is_named_by_the_one_after_it(logged):
    entries = ids(logged)
    write(logged, "DELETE FROM audit WHERE id = ?", (entries[3],))
    report = logged.verify_audit_log()
    assert (report.broken.id, report.broken.problem) == (entries[4], "deleted")
    assert "position 4 is missing" in report.broken.message


def test_deleting_the_newest_entries_is_caught_by_the_head(logged):
    entries = ids(logged)
    write(logged, "DELETE FROM audit WHERE id >= ?", (entries[5],))
    report = logged.verify_audit_log()
    assert (report.broken.id, report.broken.problem) == (None, "deleted")
    assert f"newest 2 entries are missing (after entry {entries[4]})" in report.broken.message


def test_setting_the_head_back_after_deleting_the_newest_is_caught(logged):
    """An attacker can read the new last entry's position and MAC, but cannot sign a head for them."""
    entries = ids(logged)
    write(logged, "DELETE FROM audit WHERE id = ?", (entries[-1],))
    seq, mac = read(logged, "SELECT seq, mac FROM audit WHERE id = ?", (entries[-2],))[0]
    write(logged, "UPDATE audit_head SET seq = ?, mac = ?", (seq, mac))
    report = logged.verify_audit_log()
    assert (report.broken.id, report.broken.problem) == (None, "head")


def test_removing_the_head_is_caught(logged):
    write(logged, "DELETE FROM audit_head")
    assert logged.verify_audit_log().broken.problem == "head"


def test_reordered_entries_are_named(logged):
    first, second = ids(logged)[2:4]
    columns = ", ".join(CONTENT)
    a = read(logged, f"SELECT {columns} FROM audit WHERE id = ?", (first,))[0]
    b = read(logged, f"SELECT {columns} FROM audit WHERE id = ?", (second,))[0]
    sets = ", ".join(f"{c} = ?" for c in CONTENT)
    write(logged, f"UPDATE audit SET {sets} WHERE id = ?", (*b, first))
    write(logged, f"UPDATE audit SET {sets} WHERE id = ?", (*a, second))
    report = logged.verify_audit_log()
    assert (report.broken.id, report.broken.problem) == (first, "moved")
    assert f"(entry {second})" in report.broken.message


def test_an_entry_forged_under_another_key_is_refused(logged):
    forger = AuditChain(Keyring([new_key()]))
    event = AuditEvent(logged.clock.time(), "user:admin", "policy.delete", "sys/policies/x", "ok")
    logged.store.append_audit(event, forger)  # a well-formed entry, signed with a key that is not the vault's
    forged = ids(logged)[-1]
    report = logged.verify_audit_log()
    assert (report.broken.id, report.broken.problem) == (forged, "unknown_key")
    write(logged, "UPDATE audit SET key_id = ? WHERE id = ?", (logged.keyring.current_id.hex(), forged))
    assert (logged.verify_audit_log().broken.id, logged.verify_audit_log().broken.problem) == (forged, "edited")


def test_an_entry_added_without_a_mac_is_refused(logged):
    write(
        logged,
        "INSERT INTO audit (time, identity, operation, path, outcome, details) VALUES (?, ?, ?, ?, ?, ?)",
        (logged.clock.time(), "user:admin", "secret.read", "apps/s1", "ok", "{}"),
    )
    report = logged.verify_audit_log()
    assert (report.broken.id, report.broken.problem) == (ids(logged)[-1], "unsigned")


def test_appending_after_a_break_keeps_it_visible(logged):
    target = ids(logged)[2]
    write(logged, "UPDATE audit SET details = ? WHERE id = ?", ("{}", target))
    logged.put_secret("apps/later", {"v": 1})
    assert (logged.verify_audit_log().broken.id, logged.verify_audit_log().broken.problem) == (target, "edited")


def test_entries_written_before_the_upgrade_are_an_unverified_prefix(make_vault, monkeypatch):
    from scaivault_core.store import pg_migrations, sqlite_migrations

    for module in (sqlite_migrations, pg_migrations):
        names = [fn.__name__ for fn in module.MIGRATIONS]
        monkeypatch.setattr(module, "MIGRATIONS", module.MIGRATIONS[: names.index("m005_audit_chain")])
    before = make_vault()  # a store as the previous release left it
    for operation in ("secret.write", "policy.create"):
        write(
            before,
            "INSERT INTO audit (time, identity, operation, path, outcome, details) VALUES (?, ?, ?, ?, ?, ?)",
            (before.clock.time(), "user:admin", operation, "apps/old", "ok", "{}"),
        )
    before.close()
    monkeypatch.undo()

    upgraded = make_vault()
    upgraded.put_secret("apps/new", {"v": 1})
    report = upgraded.verify_audit_log()
    assert report.ok and (report.unsigned_prefix, report.signed, report.entries) == (2, 1, 3)
    # The prefix ends where the chain begins: an unsigned entry after it is tampering, not history.
    write(upgraded, "UPDATE audit SET seq = NULL, mac = NULL WHERE seq = 1")
    upgraded.put_secret("apps/newer", {"v": 1})
    assert upgraded.verify_audit_log().broken.problem == "deleted"


def test_appends_from_several_processes_stay_one_chain(make_vault, target):
    vaults = [make_vault() for _ in range(3)]  # three connections, as three processes sharing the store would have
    errors = []

    def append(vault, n):
        try:
            for i in range(40):
                vault._audit.record("user:admin", "secret.read", f"apps/{n}/{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(v, n)) for n, v in enumerate(vaults)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = vaults[0].verify_audit_log()
    assert report.ok and report.signed == 120 == report.head.seq


def test_processes_taking_turns_and_rolled_back_appends_keep_one_chain(make_vault, target):
    first, second = make_vault(), make_vault()
    for i in range(4):  # each append finds the head moved by the other process since its own last one
        first.put_secret(f"apps/a{i}", {"v": i})
        second.put_secret(f"apps/b{i}", {"v": i})
    with pytest.raises(RuntimeError), first.store.transaction():
        first._audit.record("user:admin", "secret.read", "apps/a0")
        raise RuntimeError("the operation failed after its audit entry was written")
    first.put_secret("apps/a-last", {"v": 1})
    report = second.verify_audit_log()
    assert report.ok and report.signed == 9 == report.head.seq


def test_denials_are_recorded(vault):
    """The Authorizer reports every refusal to Auditor.denied: a failed check and a failed authentication."""
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:mallory").audit_log()
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:mallory").get_secret("apps/missing")
    with pytest.raises(Unauthenticated):
        vault.authenticate("svt.not-a-token")
    entries = [e for _, e in vault.audit_log(operation="access.denied")]
    assert [(e.identity, e.path, e.outcome, e.details) for e in entries] == [
        ("sa:mallory", "sys/audit", "permission_denied", {"permission": "read"}),
        ("sa:mallory", "apps/missing", "permission_denied", {"permission": "read"}),
        ("anonymous", "sys/auth", "unauthenticated", {"permission": "authenticate"}),
    ]
    assert vault.verify_audit_log().ok


def test_reading_the_log_needs_read_on_sys_audit(vault):
    stranger = vault.as_identity("sa:stranger")
    with pytest.raises(PermissionDenied):
        stranger.audit_log()
    with pytest.raises(PermissionDenied):
        stranger.verify_audit_log()
    vault.create_policy("auditor", [{"path_pattern": "sys/audit", "permissions": ["read"]}])
    vault.bind_policy("auditor", "sa:stranger")
    assert stranger.audit_log(operation="policy.bind")[0][1].details == {"bound": "sa:stranger"}
    assert stranger.verify_audit_log().ok


def test_filters_and_pages(vault, clock):
    start = clock.time()  # engine.create, role.create
    clock.advance(100)
    vault.put_secret("apps/a", {"v": 1})
    clock.advance(100)
    lease = vault.issue("mem", "readonly")
    vault.revoke(lease.lease_id)
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:nobody").get_secret("apps/a")

    def ops(**filters):
        return [e.operation for _, e in vault.audit_log(**filters)]

    assert ops(operation="lease.issue") == ["lease.issue"]
    assert ops(lease_id=lease.lease_id) == ["lease.issue", "lease.revoke"]
    assert ops(identity="sa:nobody") == ops(outcome="permission_denied") == ["access.denied"]
    assert ops(path_prefix="apps/") == ["secret.write", "access.denied"]
    assert ops(path_prefix="dynamic/engines/mem/roles/") == ["role.create", "lease.issue", "lease.revoke"]
    assert (
        ops(since=start + 50)
        == ops(since="150")
        == ops(since="2m30s")
        == ["secret.write", "lease.issue", "lease.revoke", "access.denied"]
    )
    assert ops(until=start + 100) == ["engine.create", "role.create"]  # until is exclusive
    assert ops(since=start + 100, until=start + 200) == ["secret.write"]
    from scaivault_core.clock import iso

    assert (
        ops(since=iso(start + 200))
        == ops(since=iso(start + 200).replace("Z", "+00:00"))
        == ["lease.issue", "lease.revoke", "access.denied"]
    )
    everything = vault.audit_log(limit=1000)
    first = vault.audit_log(limit=2)
    second = vault.audit_log(limit=2, after=first[-1][0])
    assert first + second == everything[:4]


def test_bad_times_are_clear_errors(vault):
    from scaivault_core import InvalidRequest

    for bad in ("yesterday", "2026-13-45", "-5m"):
        with pytest.raises(InvalidRequest) as err:
            vault.audit_log(since=bad)
        assert err.value.details == {"field": "since"} and "ISO 8601" in err.value.message


# -- key rotation --------------------------------------------------------------------------------------


def test_rotation_resigns_the_chain_under_the_new_key(make_vault, target):
    old, new = encode_key(new_key()), encode_key(new_key())
    first = make_vault(key=old)
    for i in range(5):
        first.put_secret(f"apps/s{i}", {"v": i})
    first.close()
    rotating = make_vault(key=f"{new},{old}")
    counts = rotating.rotate_encryption_key()
    assert counts["audit_entries"] == 5  # the key.rotate entry itself is signed under NEW already
    rotating.close()

    store = make_vault(key=new).store
    report = verify(store, Keyring(decode_keys(new)))
    assert report.ok and report.signed == 6
    assert verify(store, Keyring(decode_keys(old))).broken.problem == "unknown_key"  # OLD alone checks nothing


def test_an_interrupted_rotation_resumes_and_the_chain_holds_meanwhile(make_vault, target, monkeypatch):
    old, new = encode_key(new_key()), encode_key(new_key())
    first = make_vault(key=old)
    for i in range(7):
        first.put_secret(f"apps/s{i}", {"v": i})
    first.close()
    monkeypatch.setattr(audit_chain, "BATCH", 3)
    rotating = make_vault(key=f"{new},{old}")
    original = rotating.store.resign_audit
    calls = []

    def crash_on_second_batch(links, head):
        calls.append(len(links))
        if len(calls) == 2:
            raise RuntimeError("the process died")
        original(links, head)

    monkeypatch.setattr(rotating.store, "resign_audit", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        rotating.rotate_encryption_key()
    monkeypatch.setattr(rotating.store, "resign_audit", original)
    head = rotating.store.audit_head()
    assert head.resign_seq == 3  # the first batch is re-signed; the bridge links it to the rest
    assert rotating.verify_audit_log().ok
    rotating.put_secret("apps/meanwhile", {"v": 1})  # appends go on during a rotation
    assert rotating.verify_audit_log().ok

    rotating.rotate_encryption_key()
    assert rotating.store.audit_head().resign_seq == 0
    rotating.close()
    assert make_vault(key=new).verify_audit_log().ok


def test_rotation_does_not_sign_over_a_break(make_vault, target):
    old, new = encode_key(new_key()), encode_key(new_key())
    first = make_vault(key=old)
    for i in range(5):
        first.put_secret(f"apps/s{i}", {"v": i})
    edited = ids(first)[2]
    write(first, "UPDATE audit SET details = ? WHERE id = ?", ('{"version": 7}', edited))
    first.close()
    rotating = make_vault(key=f"{new},{old}")
    assert rotating.rotate_encryption_key()["audit_entries"] == 2  # the two entries before the edited one
    report = rotating.verify_audit_log()
    assert (report.broken.id, report.broken.problem, report.signed) == (edited, "edited", 2)
