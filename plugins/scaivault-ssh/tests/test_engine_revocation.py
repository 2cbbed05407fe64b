"""Revocation and renewal through a real Vault: the KRL the engine keeps, across restarts and processes."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from scaivault_core import EngineError, EngineUnreachable, InvalidRequest, IssueRequest, LeaseState, ManualClock
from scaivault_ssh import RevocationList, Revoked, ca_public_key_line, generate_ca_key, generate_key_pair

ROLE = {
    "allowed_users": ["deploy", "ops"],
    "default_user": "deploy",
    "allowed_extensions": ["permit-pty", "permit-port-forwarding"],
    "default_extensions": ["permit-pty"],
}


def listed(engine) -> set[int]:
    return {int(r["serial_number"]) for r in engine.revoked_certificates()}


def krl_serials(path: Path) -> set[int]:
    """The serials OpenSSH itself reads from the KRL file."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is missing (apt-get install openssh-client)")
    out = subprocess.run(["ssh-keygen", "-Q", "-l", "-f", str(path)], capture_output=True, text=True, check=True)
    serials = set()
    for line in out.stdout.splitlines():
        if line.startswith("serial:"):  # "serial: 7" or a range, "serial: 5-9"
            low, _, high = line.split()[1].partition("-")
            serials.update(range(int(low), int(high or low) + 1))
    return serials


def sections(krl: bytes) -> bytes:
    """A KRL without its magic, format version, KRL version, generation time and flags."""
    return krl[8 + 4 + 8 + 8 + 8 :]


def serial(issued) -> int:
    return int(issued.data["serial_number"])


@pytest.fixture(scope="module")
def caller():
    return generate_key_pair("ed25519")


@pytest.fixture
def clock():
    return ManualClock(start=time.time())


@pytest.fixture
def setup(vaults, clock, tmp_path):
    vault = vaults.open(clock)
    engine = vaults.configure(vault, ca_key=generate_ca_key())
    vault.create_role("ssh", "deploy", **ROLE, default_ttl="1h", max_ttl="4h")
    return vault, engine, tmp_path / "revoked.krl"


# -- revocation ------------------------------------------------------------------------------------


def test_revoke_lists_the_serial_in_the_exported_krl_at_once(setup, caller):
    vault, engine, krl_path = setup
    kept = vault.issue("ssh", "deploy", public_key=caller.public_key)
    gone = vault.issue("ssh", "deploy", public_key=caller.public_key)
    vault.revoke(gone.lease_id)
    assert krl_serials(krl_path) == listed(engine) == {serial(gone)}
    # The same KRL, apart from the header's version and generation time (seconds since the epoch).
    assert {sections(engine.krl()), sections(engine.export_krl())} == {sections(krl_path.read_bytes())}
    assert vault.lookup(gone.lease_id).state == LeaseState.REVOKED
    assert serial(kept) not in krl_serials(krl_path)


def test_revoke_is_idempotent(setup, vaults, caller):
    vault, engine, krl_path = setup
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    handle = vaults.handle(vault, issued.lease_id)
    vault.revoke(issued.lease_id)
    vault.revoke(issued.lease_id)  # the core answers "already revoked"
    engine.revoke(handle)  # the engine itself: listing a listed serial again changes nothing
    assert engine.revoke_many([handle, handle]) == [None, None]
    assert krl_serials(krl_path) == {serial(issued)}


def test_revoke_prefix_revokes_many_in_one_export(setup, caller):
    vault, engine, krl_path = setup
    issued = [vault.issue("ssh", "deploy", public_key=caller.public_key) for _ in range(25)]
    result = vault.revoke_prefix("lease_ssh_", engine="ssh")
    assert result["revoked"] == 25 and not result["failed"]
    assert krl_serials(krl_path) == {serial(i) for i in issued}


def test_expired_certificates_leave_the_list(setup, caller, clock):
    vault, engine, krl_path = setup
    short = vault.issue("ssh", "deploy", ttl="10m", public_key=caller.public_key)
    long = vault.issue("ssh", "deploy", ttl="2h", public_key=caller.public_key)
    vault.revoke(short.lease_id)
    vault.revoke(long.lease_id)
    assert krl_serials(krl_path) == {serial(short), serial(long)}
    # Still listed for the backdate (60 s) past valid_before, for hosts whose clock runs behind.
    clock.advance(600 + 30)
    assert krl_serials(Path(_write(krl_path, engine.export_krl()))) == {serial(short), serial(long)}
    clock.advance(31)
    engine.export_krl()
    assert krl_serials(krl_path) == {serial(long)}
    state = json.loads(krl_path.with_name("revoked.krl.json").read_text())
    assert [list(s) for s in state["revoked"].values()] == [[str(serial(long))]]


def test_expiry_worker_revocation_is_listed_until_the_certificate_is_past_its_validity(setup, caller, clock):
    vault, engine, krl_path = setup
    issued = vault.issue("ssh", "deploy", ttl="5m", public_key=caller.public_key)
    clock.advance(300)
    assert vault.expire_due() == 1
    assert vault.lookup(issued.lease_id).state == LeaseState.REVOKED
    assert listed(engine) == {serial(issued)}  # expired at this instant, still within the skew margin
    clock.advance(61)
    engine.export_krl()
    assert krl_serials(krl_path) == set()


def test_revocations_survive_a_restart(vaults, caller, tmp_path):
    clock = ManualClock(start=time.time())
    vault = vaults.open(clock)
    vaults.configure(vault, ca_key=generate_ca_key())
    vault.create_role("ssh", "deploy", **ROLE)
    first = vault.issue("ssh", "deploy", public_key=caller.public_key)
    second = vault.issue("ssh", "deploy", public_key=caller.public_key)
    vault.revoke(first.lease_id)
    vault.close()

    reopened = vaults.open(clock)
    vault_engine = vaults.engine(reopened)
    assert listed(vault_engine) == {serial(first)}
    reopened.revoke(second.lease_id)
    assert krl_serials(tmp_path / "revoked.krl") == {serial(first), serial(second)}


def test_two_vaults_sharing_a_store_and_krl_path_lose_no_revocation(vaults, caller, tmp_path):
    clock = ManualClock(start=time.time())
    a = vaults.open(clock)
    vaults.configure(a, ca_key=generate_ca_key())
    a.create_role("ssh", "deploy", **ROLE)
    b = vaults.open(clock)
    leases = [a.issue("ssh", "deploy", public_key=caller.public_key) for _ in range(40)]
    errors = []

    def revoke(vault, items):
        try:
            for item in items:
                vault.revoke(item.lease_id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=revoke, args=(v, leases[i::2])) for i, v in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert krl_serials(tmp_path / "revoked.krl") == {serial(i) for i in leases}


_WORKER = """
import sys, time
from scaivault_ssh import RevocationList, Revoked
krl, ca, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
revocations = RevocationList(krl, margin=60)
for serial in range(start, start + 15):
    revocations.revoke([Revoked(ca, serial, int(time.time()) + 3600)], time.time())
"""


def test_several_processes_revoking_at_once_keep_every_serial(tmp_path):
    ca = ca_public_key_line(generate_ca_key())
    krl = tmp_path / "revoked.krl"
    workers = [subprocess.Popen([sys.executable, "-c", _WORKER, str(krl), ca, str(1 + 100 * n)]) for n in range(4)]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0, 0]
    expected = {1 + 100 * n + i for n in range(4) for i in range(15)}
    assert krl_serials(krl) == expected
    assert {r.serial for r in RevocationList(krl).listed(time.time())} == expected


def test_serials_of_several_cas_each_go_in_their_own_section(tmp_path):
    first, second = (ca_public_key_line(generate_ca_key()) for _ in range(2))
    revocations = RevocationList(tmp_path / "krl")
    now = time.time()
    revocations.revoke(
        [Revoked(first, 5, int(now) + 60), Revoked(second, 5, int(now) + 60), Revoked(second, 6, int(now) + 60)], now
    )
    out = subprocess.run(
        ["ssh-keygen", "-Q", "-l", "-f", str(tmp_path / "krl")], capture_output=True, text=True, check=True
    ).stdout
    assert out.count("# CA key") == 2 and "serial: 5\n" in out and "serial: 5-6\n" in out


def _version_and_date(krl: bytes) -> tuple[int, int]:
    """The KRL header's krl_version and generated_date (PROTOCOL.krl: after the magic and format version)."""
    return struct.unpack(">QQ", krl[12:28])


def test_the_same_list_exports_to_the_same_bytes(tmp_path):
    ca = ca_public_key_line(generate_ca_key())
    revocations = RevocationList(tmp_path / "krl", margin=60)
    now = time.time()
    first = revocations.revoke([Revoked(ca, 5, int(now) + 600)], now)
    assert _version_and_date(first) == (1, int(now))
    # Later reads and exports of the unchanged list, and revoking what is listed already: the same bytes.
    assert revocations.krl(now + 5) == revocations.export(now + 10) == first
    assert revocations.revoke([Revoked(ca, 5, int(now) + 600)], now + 20) == first
    assert (tmp_path / "krl").read_bytes() == first
    # A new serial is a new version, dated now.
    second = revocations.revoke([Revoked(ca, 6, int(now) + 900)], now + 30)
    assert _version_and_date(second) == (2, int(now + 30))
    # Serial 5 drops out 60 s (the margin) after it expires: a read at any later time shows the
    # same list, dated when it changed; the export that writes it down keeps that date.
    later = [revocations.krl(now + 700), revocations.krl(now + 800), revocations.export(now + 850)]
    assert later[0] == later[1] == later[2] and _version_and_date(later[0]) == (3, int(now) + 660)
    assert krl_serials(tmp_path / "krl") == {6}


def test_a_state_file_without_version_and_date_still_loads(tmp_path):
    ca = ca_public_key_line(generate_ca_key())
    until = int(time.time()) + 600
    (tmp_path / "krl.json").write_text(json.dumps({"format": 1, "revoked": {ca: {"7": until}}}))
    revocations = RevocationList(tmp_path / "krl")
    assert {r.serial for r in revocations.listed(time.time())} == {7}
    data = revocations.export(time.time())
    assert krl_serials(tmp_path / "krl") == {7} and _version_and_date(data)[0] == 1


def test_a_damaged_state_file_fails_revocation_loudly_and_keeps_the_lease_queued(setup, caller):
    vault, engine, krl_path = setup
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    vault.revoke(vault.issue("ssh", "deploy", public_key=caller.public_key).lease_id)
    before = krl_path.read_bytes()
    krl_path.with_name("revoked.krl.json").write_text("{not json")
    with pytest.raises(EngineError, match="revoked.krl.json is damaged") as excinfo:
        vault.revoke(issued.lease_id)
    assert "retried" in excinfo.value.message
    assert vault.lookup(issued.lease_id).state == LeaseState.REVOKING
    assert krl_path.read_bytes() == before  # nothing un-revoked


def test_revocation_that_cannot_reach_its_list_is_retried_until_it_can(setup, caller, clock):
    vault, engine, krl_path = setup
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    state = krl_path.with_name("revoked.krl.json")
    state.rename(state.with_name("away.json"))
    state.mkdir()  # the state file's name taken by a directory: it can be neither read nor replaced
    with pytest.raises(EngineUnreachable, match="revocation list cannot be reached") as excinfo:
        vault.revoke(issued.lease_id)
    assert "revoked.krl.json" in excinfo.value.message and "retried" in excinfo.value.message
    assert vault.lookup(issued.lease_id).state == LeaseState.REVOKING
    assert krl_serials(krl_path) == set()
    state.rmdir()
    state.with_name("away.json").rename(state)
    clock.advance(10)
    assert vault.expire_due() == 1  # the worker's retry
    assert vault.lookup(issued.lease_id).state == LeaseState.REVOKED
    assert krl_serials(krl_path) == {serial(issued)}


def test_an_undone_intent_revokes_the_serial_its_certificate_would_carry(setup, vaults, caller, clock):
    # What the core does when a process dies between plan and create: revoke the planned handle.
    # The serial is derived from the lease id, so a certificate signed just before the crash is covered.
    vault, engine, krl_path = setup
    role = vault._engines.role("ssh", "deploy")[1]
    request = IssueRequest(
        "lease_ssh_crashedmidissue0000",
        "deploy",
        role,
        "v_deploy_x",
        "unused",
        clock.time() + 600,
        600,
        {},
        engine.Request(public_key=caller.public_key),
        {},
    )
    planned = engine.plan(request)
    signed = engine.create(request)
    engine.revoke(planned)
    assert krl_serials(krl_path) == {int(signed.data["serial_number"])}


# -- renewal ---------------------------------------------------------------------------------------


def test_renewal_re_signs_with_a_later_valid_before(setup, vaults, caller, clock):
    vault, engine, krl_path = setup
    issued = vault.issue("ssh", "deploy", ttl="1h", public_key=caller.public_key)
    clock.advance(1800)
    renewed = vault.renew(issued.lease_id, "1h")
    new = serialization.load_ssh_public_identity(renewed.data["signed_key"].encode())
    old = serialization.load_ssh_public_identity(issued.data["signed_key"].encode())
    assert new.valid_before == int(renewed.lease.expires_at) == old.valid_before + 3600
    assert new.valid_after == int(clock.time()) - 60
    assert new.serial != old.serial and renewed.data["serial_number"] == str(new.serial)
    assert new.key_id == old.key_id == issued.lease_id.encode()
    assert new.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ) == old.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    assert renewed.to_dict()["data"]["valid_before"] == renewed.to_dict()["expires_at"]
    # The handle tracks both certificates, so revoking the lease revokes both.
    assert [c["serial"] for c in vaults.handle(vault, issued.lease_id)["certificates"]] == [old.serial, new.serial]
    assert listed(engine) == set()  # unchanged fields: the earlier certificate stays valid until it expires
    vault.revoke(issued.lease_id)
    assert krl_serials(krl_path) == {old.serial, new.serial}


def test_renewal_of_a_generated_key_lease_re_signs_the_same_key(setup, caller):
    vault = setup[0]
    issued = vault.issue("ssh", "deploy", generate_key=True)
    renewed = vault.renew(issued.lease_id, "30m")
    assert "private_key" not in renewed.data
    new = serialization.load_ssh_public_identity(renewed.data["signed_key"].encode())
    assert issued.data["public_key"].startswith(
        new.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    )


def test_renewal_follows_a_narrowed_role_and_revokes_the_earlier_certificate(setup, vaults, caller):
    vault, engine, krl_path = setup
    issued = vault.issue(
        "ssh", "deploy", public_key=caller.public_key, extensions=["permit-pty", "permit-port-forwarding"]
    )
    vault.update_role("ssh", "deploy", **{**ROLE, "allowed_extensions": ["permit-pty"]})
    # The request asked for port forwarding, which the role no longer allows: renewal is refused.
    with pytest.raises(InvalidRequest, match="extensions outside the role: permit-port-forwarding"):
        vault.renew(issued.lease_id, "30m")
    defaulted = vault.issue("ssh", "deploy", public_key=caller.public_key)  # asked for the defaults
    vault.update_role("ssh", "deploy", **{**ROLE, "allowed_extensions": ["permit-pty"], "default_extensions": []})
    renewed = vault.renew(defaulted.lease_id, "30m")
    assert renewed.data["extensions"] == []
    # The earlier certificate still grants a terminal the role no longer gives: it is revoked at once.
    assert krl_serials(krl_path) == {serial(defaulted)}
    vault.revoke(defaulted.lease_id)
    assert krl_serials(krl_path) == {serial(defaulted), int(renewed.data["serial_number"])}


def test_renewal_refuses_a_key_the_role_no_longer_accepts(setup):
    vault = setup[0]
    issued = vault.issue("ssh", "deploy", public_key=generate_key_pair("ecdsa", 256).public_key)
    vault.update_role("ssh", "deploy", **ROLE, allowed_key_types=["ed25519"])
    with pytest.raises(InvalidRequest, match="not allowed by this role"):
        vault.renew(issued.lease_id)
    assert vault.lookup(issued.lease_id).expires_at == issued.lease.expires_at


def test_renewal_after_the_role_was_deleted_re_signs_as_issued(setup, caller):
    vault = setup[0]
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key, valid_principals=["deploy", "ops"])
    vault.delete_role("ssh", "deploy")
    renewed = vault.renew(issued.lease_id, "10m")
    assert renewed.data["principals"] == ["deploy", "ops"] and renewed.data["extensions"] == ["permit-pty"]


def test_renewal_is_capped_at_max_ttl_and_the_certificate_with_it(setup, caller):
    vault = setup[0]
    issued = vault.issue("ssh", "deploy", ttl="3h", public_key=caller.public_key)
    renewed = vault.renew(issued.lease_id, "5h")
    assert renewed.capped
    cert = serialization.load_ssh_public_identity(renewed.data["signed_key"].encode())
    assert cert.valid_before == int(issued.lease.issued_at) + 4 * 3600 == int(renewed.lease.expires_at)


def _write(path: Path, data: bytes) -> Path:
    other = path.with_name("exported-copy.krl")
    other.write_bytes(data)
    return other
