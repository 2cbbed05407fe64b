"""Crash safety in the core: intents left by a dead process are undone when the next one starts."""

from __future__ import annotations

import socket

from scaivault_core import LeaseState
from scaivault_core.models import Lease
from scaivault_core.testing import MemoryUser


def test_intent_of_a_dead_process_is_rolled_back_at_next_start(make_vault, target, clock):
    first = make_vault()
    first.create_engine("mem", "database", {"plugin": "memory"})
    first.create_role("mem", "readonly")
    # What a process killed between "intent recorded" and "lease active" leaves behind: an intent
    # claimed by a pid that no longer exists, and possibly the user in the target.
    now = clock.time()
    dead = f"{socket.gethostname()}/999999999/deadbeef"
    intent = Lease(
        "lease_db_crashed",
        "mem",
        "readonly",
        "user:admin",
        LeaseState.INTENT,
        now,
        now + 3600,
        now + 3600,
        now + 120,
        subject="v_readonly_crashed",
        claimed_by=dead,
        claim_deadline=now + 120,
    )
    first.store.insert_lease(
        intent, first.keyring.encrypt_json({"username": "v_readonly_crashed"}, "lease:lease_db_crashed")
    )
    target.users["v_readonly_crashed"] = MemoryUser("", 0)
    first.close()

    second = make_vault()
    second.expire_due()
    assert "v_readonly_crashed" not in target.users
    assert second.lookup("lease_db_crashed").state == LeaseState.ROLLED_BACK


def test_claims_of_live_processes_are_left_alone(make_vault, target, clock):
    vault = make_vault()
    vault.create_engine("mem", "database", {"plugin": "memory"})
    vault.create_role("mem", "readonly")
    now = clock.time()
    alive = f"{socket.gethostname()}/1/cafe"  # pid 1 is always alive
    intent = Lease(
        "lease_db_inflight",
        "mem",
        "readonly",
        "user:admin",
        LeaseState.INTENT,
        now,
        now + 3600,
        now + 3600,
        now + 120,
        claimed_by=alive,
        claim_deadline=now + 120,
    )
    vault.store.insert_lease(intent, vault.keyring.encrypt_json({"username": "x"}, "lease:lease_db_inflight"))
    vault.close()
    again = make_vault()
    again.expire_due()
    assert again.lookup("lease_db_inflight").state == LeaseState.INTENT
    clock.advance(121)  # its issue never finished: the claim lapses and the intent is undone
    again.expire_due()
    assert again.lookup("lease_db_inflight").state == LeaseState.ROLLED_BACK
