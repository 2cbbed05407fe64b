"""SIGKILL the server at random points in a stream of issues, renews and revokes; after a restart,
the target and the records agree: every v_chaos_ role belongs to an active lease, and every
active lease's role exists. Bounded rounds in CI (SCAIVAULT_CHAOS_ROUNDS for longer runs)."""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import httpx
import pytest

from scaivault_core import Vault
from scaivault_core.testing.servers import LiveServer

ROUNDS = int(os.environ.get("SCAIVAULT_CHAOS_ROUNDS", "5"))
pytestmark = pytest.mark.serial  # kills server processes at random moments: run alone, not beside other tests


def active_subjects(client: httpx.Client) -> tuple[set[str], int]:
    """Subjects of active leases, and how many leases are still in flight (intent or revoking)."""
    subjects, in_flight, after = set(), 0, None
    while True:
        params = {"engine": "support-db", "limit": 1000, **({"after": after} if after else {})}
        page = client.get("/v1/dynamic/leases", params=params).raise_for_status().json()
        for lease in page["leases"]:
            if lease["role"] != "chaos":
                continue
            if lease["state"] == "active":
                subjects.add(lease["subject"])
            elif lease["state"] in ("intent", "revoking"):
                in_flight += 1
        after = page["next"]
        if not after:
            return subjects, in_flight


def test_random_sigkills_leave_target_and_records_consistent(tmp_path, scram, configure):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    server = LiveServer(tmp_path / "server", env={"SCAIVAULT_INTENT_TIMEOUT": "5"})
    token = server.init()
    vault = Vault(server.store)
    configure(vault, scram)
    readonly = vault.get_role("support-db", "readonly").to_dict()
    vault.create_role(
        "support-db",
        "chaos",
        creation_statements=readonly["creation_statements"],
        revocation_statements=readonly["revocation_statements"],
        max_ttl="8h",
    )
    vault.close()
    headers = {"Authorization": f"Bearer {token}"}
    known: list[str] = []
    server.start()
    try:
        for _ in range(ROUNDS):
            process = server.process
            killer = threading.Timer(rng.uniform(0.1, 1.5), process.send_signal, args=(signal.SIGKILL,))
            killer.start()
            with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
                while process.poll() is None:
                    try:
                        roll = rng.random()
                        if roll < 0.5 or not known:
                            body = {"ttl": rng.choice(["2s", "1h"])}
                            reply = client.post("/v1/dynamic/engines/support-db/creds/chaos", json=body)
                            if reply.status_code == 200:
                                known.append(reply.json()["lease_id"])
                        elif roll < 0.75:
                            client.post(f"/v1/dynamic/leases/{rng.choice(known)}/renew", json={"increment": "1h"})
                        else:
                            client.delete(f"/v1/dynamic/leases/{known.pop(rng.randrange(len(known)))}")
                    except httpx.TransportError:
                        break  # killed mid-request: exactly the point
            killer.join()
            server.kill()
            server.start()

        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:  # restart recovery: dead intents roll back, due leases go
                subjects, in_flight = active_subjects(client)
                roles = scram.roles("v_chaos_")
                if (roles == subjects and not in_flight) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert in_flight == 0, f"seed {seed}: leases still in flight"
            assert roles - subjects == set(), f"seed {seed}: roles in PostgreSQL without an active lease"
            assert subjects - roles == set(), f"seed {seed}: active leases whose role is gone"
            assert known, "the stream issued something"
            client.post("/v1/dynamic/leases/revoke-prefix", json={"prefix": "lease_", "engine": "support-db"})
            assert scram.roles("v_chaos_") == set()
    finally:
        server.stop()
