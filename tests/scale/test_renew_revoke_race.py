"""Renew and revoke of the same lease at the same moment, from two server processes on one store.

Each pair gets one clear outcome: the revoke succeeds (204), the renew either finished first (200)
or is told the lease is going (409 conflict, or 400 lease_expired); never a 500. Afterwards the
lease stays revoked, its PostgreSQL role is gone, and a later renew cannot bring it back.
"""

from __future__ import annotations

import threading
import time

PAIRS = 40


def test_concurrent_renew_and_revoke_have_one_clear_outcome(cluster, target):
    shared = cluster()
    shared.start(2)
    shared.configure_engine()
    clients = [shared.http(0), shared.http(1)]
    leases = []
    for n in range(PAIRS):
        response = clients[n % 2].post(f"/v1/dynamic/engines/pg/creds/{target.role}", json={"ttl": "1h"})
        assert response.status_code == 200, response.text
        leases.append((response.json()["lease_id"], response.json()["data"]["username"]))

    outcomes: list[tuple[str, int, str, int]] = []
    for n, (lease_id, _) in enumerate(leases):
        renewer, revoker = clients[n % 2], clients[(n + 1) % 2]  # each process plays each part
        results: dict[str, tuple[int, str]] = {}
        barrier = threading.Barrier(2)

        def call(what: str, client, method: str, path: str, body=None, barrier=barrier, results=results) -> None:
            barrier.wait()
            response = client.request(method, path, json=body)
            code = response.json()["error"]["code"] if response.status_code >= 400 else ""
            results[what] = (response.status_code, code)

        threads = [
            threading.Thread(
                target=call,
                args=("renew", renewer, "POST", f"/v1/dynamic/leases/{lease_id}/renew", {"increment": "1h"}),
            ),
            threading.Thread(target=call, args=("revoke", revoker, "DELETE", f"/v1/dynamic/leases/{lease_id}")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes.append((lease_id, *results["renew"], results["revoke"][0]))

    assert all(revoke == 204 for *_, revoke in outcomes), outcomes
    assert all(
        (status, code) in {(200, ""), (409, "conflict"), (400, "lease_expired")} for _, status, code, _ in outcomes
    ), outcomes
    time.sleep(1.0)  # a renewal that lost the race must not land late
    for (lease_id, _), client in zip(leases, clients * PAIRS, strict=False):
        lease = client.get(f"/v1/dynamic/leases/{lease_id}").json()
        assert lease["state"] == "revoked", lease
        again = client.post(f"/v1/dynamic/leases/{lease_id}/renew", json={"increment": "1h"})
        assert again.status_code == 400 and again.json()["error"]["code"] == "lease_expired"
    assert target.lease_users_left() == []
    revokes = dict(
        target.query(
            "SELECT lease_id, count(*) FROM audit WHERE operation = 'lease.revoke' AND outcome = 'ok' GROUP BY lease_id"
        )
    )
    assert revokes == {lease_id: 1 for lease_id, _ in leases}
    for c in clients:
        c.close()
    won = sum(1 for _, status, _, _ in outcomes if status == 200)
    print(f"\n{PAIRS} races: renew first {won}, revoke first {PAIRS - won}")
