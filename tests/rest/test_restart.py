"""A server killed with SIGKILL and restarted loses nothing, and its leases still expire in PostgreSQL.

Real clock, short TTLs: one lease falls due while the server is dead and is revoked soon after the
restart; another falls due after the restart and is revoked by the new process's worker.
"""

from __future__ import annotations

import time

from scaivault_core.client import ScaiVaultClient
from scaivault_core.testing import wait_until


def test_sigkill_and_restart(live_server, pg_engine, pg_role_exists):
    server = live_server()
    admin = ScaiVaultClient(server.url, server.admin_token)
    pg_engine(admin)
    admin.put_secret("app/config", {"colour": "blue"})
    admin.create_policy("svc", [{"path_pattern": "dynamic/engines/pg/roles/readonly", "permissions": ["read"]}])
    admin.bind_policy("svc", "sa:svc")
    service_token = admin.create_token("sa:svc", ttl="1h")["token"]
    service = ScaiVaultClient(server.url, service_token)

    due_while_down = admin.issue("pg", "readonly", ttl="3s")
    # Still active after the restart below, which may take up to 15 s on a loaded machine.
    due_after_restart = admin.issue("pg", "readonly", ttl="20s")
    kept = service.issue("pg", "readonly", ttl="1h")
    users = {
        name: lease.data["username"]
        for name, lease in (("down", due_while_down), ("after", due_after_restart), ("kept", kept))
    }
    assert all(pg_role_exists(u) for u in users.values())

    server.kill()
    time.sleep(max(0.0, due_while_down.expires_at - time.time()) + 1.5)
    assert pg_role_exists(users["down"]), "nobody was alive to revoke it"

    started = time.monotonic()
    server.start()
    assert wait_until(lambda: not pg_role_exists(users["down"]), timeout=15, interval=0.2)
    assert time.monotonic() - started < 15
    assert admin.lookup(due_while_down.lease_id).state == "revoked"
    assert pg_role_exists(users["after"]) and admin.lookup(due_after_restart.lease_id).state == "active"

    expires = due_after_restart.expires_at
    assert wait_until(lambda: not pg_role_exists(users["after"]), timeout=expires - time.time() + 15, interval=0.2)
    assert time.time() >= expires - 1  # not revoked early
    assert admin.lookup(due_after_restart.lease_id).state == "revoked"

    # Nothing else was lost: secrets, policies, bindings, tokens, engines, the live lease.
    assert admin.get_secret("app/config").data == {"colour": "blue"}
    assert service.lookup(kept.lease_id).state == "active" and pg_role_exists(users["kept"])
    assert admin.list_bindings("svc") == ["sa:svc"]
    assert [e.name for e in admin.list_engines()] == ["pg"]
    renewed = service.renew(kept.lease_id, increment="10m")
    assert renewed.expires_at - kept.expires_at == 600
    assert service.revoke(kept.lease_id) is None and not pg_role_exists(users["kept"])
    admin.close()
    service.close()
