"""Three server processes on one PostgreSQL store: 1,000 short leases, one process SIGKILLed mid-run.

Leases are issued round-robin through the three servers (a client whose server dies retries on
the next one, as behind a load balancer). The victim is killed while it holds revocation claims,
so its claims must pass to the survivors once their deadline is over. At the end every role the
leases created is gone from PostgreSQL, the audit log shows exactly one successful ``lease.revoke``
per lease, and no lease is left live or claimed.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from scaivault_core.testing import wait_until

pytestmark = pytest.mark.serial  # three server processes and 12 clients: alone, not beside other tests

LEASES = 1000
TTL = "6s"
CLAIM_TIMEOUT = "5"  # seconds: how long the survivors wait before taking over the victim's claims
VICTIM = 2


def test_three_processes_revoke_every_lease_exactly_once_through_a_sigkill(cluster, target):
    started = time.monotonic()
    shared = cluster(SCAIVAULT_CLAIM_TIMEOUT=CLAIM_TIMEOUT, SCAIVAULT_INTENT_TIMEOUT=CLAIM_TIMEOUT)
    servers = shared.start(3)
    shared.configure_engine()
    victim_pid = servers[VICTIM].process.pid
    dead = threading.Event()
    local = threading.local()
    issued: dict[str, str] = {}  # lease id -> PostgreSQL user
    server_errors: list[str] = []
    lock = threading.Lock()

    def client(index: int) -> httpx.Client:
        clients = local.__dict__.setdefault("clients", {})
        if index not in clients:
            clients[index] = shared.http(index)
        return clients[index]

    def issue(n: int) -> None:
        for attempt in range(3):
            index = (n + attempt) % 3
            if index == VICTIM and dead.is_set():
                continue
            try:
                response = client(index).post(f"/v1/dynamic/engines/pg/creds/{target.role}", json={"ttl": TTL})
            except httpx.TransportError:
                continue  # the server died under this request: the next one takes it
            if response.status_code >= 500:
                with lock:
                    server_errors.append(f"{response.status_code} {response.text[:200]}")
                continue
            assert response.status_code == 200, response.text
            body = response.json()
            with lock:
                issued[body["lease_id"]] = body["data"]["username"]
            return
        raise AssertionError(f"lease {n} could not be issued by any server")

    claimed_by_victim: list[str] = []

    def kill_mid_revocation() -> None:
        # Once 40% are issued, wait for the victim to hold a batch of due leases it is revoking; kill it then.
        wait_until(lambda: len(issued) >= LEASES * 0.4, timeout=60, interval=0.05)
        pattern = f"%/{victim_pid}/%"
        holding = (
            "SELECT lease_id FROM leases WHERE claimed_by LIKE %s AND state IN ('active', 'revoking') "
            "AND due_at <= extract(epoch FROM clock_timestamp())"
        )

        def stopped_holding_claims() -> bool:
            # Freeze the victim, then look: polling a running one missed windows of a few ms.
            os.kill(victim_pid, signal.SIGSTOP)
            if target.query(holding, (pattern,)):
                return True  # left stopped; SIGKILL ends it there
            os.kill(victim_pid, signal.SIGCONT)
            return False

        wait_until(stopped_holding_claims, timeout=30, interval=0.02)
        servers[VICTIM].kill()
        dead.set()
        claimed_by_victim.extend(
            r[0] for r in target.query("SELECT lease_id FROM leases WHERE claimed_by LIKE %s", (pattern,))
        )

    killer = threading.Thread(target=kill_mid_revocation)
    killer.start()
    with ThreadPoolExecutor(max_workers=12) as pool:
        for future in [pool.submit(issue, n) for n in range(LEASES)]:
            future.result()
    killer.join()
    issuing_done = time.monotonic()

    unfinished = "SELECT count(*) FROM leases WHERE state IN ('intent', 'active', 'revoking') OR claimed_by IS NOT NULL"
    assert wait_until(lambda: target.query(unfinished)[0][0] == 0, timeout=60, interval=0.5), target.query(
        "SELECT state, claimed_by IS NOT NULL, count(*) FROM leases GROUP BY 1, 2"
    )

    assert server_errors == []
    assert len(issued) == LEASES
    assert dead.is_set() and claimed_by_victim, "the victim was killed while holding revocation claims"
    revokes = dict(
        target.query(
            "SELECT lease_id, count(*) FROM audit WHERE operation = 'lease.revoke' AND outcome = 'ok' GROUP BY lease_id"
        )
    )
    states = dict(target.query("SELECT lease_id, state FROM leases"))
    assert {lease_id: revokes.get(lease_id) for lease_id in issued} == {lease_id: 1 for lease_id in issued}
    # Leases the clients never heard of (a response lost with the victim) were revoked or rolled back, once.
    assert all(
        states[lease_id] == "revoked"
        and revokes[lease_id] == 1
        or states[lease_id] == "rolled_back"
        and lease_id not in revokes
        for lease_id in states
    ), {lease_id: (states[lease_id], revokes.get(lease_id)) for lease_id in states if revokes.get(lease_id, 0) > 1}
    assert all(states[lease_id] in ("revoked", "rolled_back") for lease_id in claimed_by_victim)
    assert target.lease_users_left() == []
    assert not set(issued.values()) & set(target.lease_users_left())
    print(
        f"\n{LEASES} leases through 3 processes (one killed holding {len(claimed_by_victim)} claims): "
        f"issued in {issuing_done - started:.1f}s, all revoked {time.monotonic() - issuing_done:.1f}s later"
    )
