"""Reconcile against PostgreSQL: a v_ role with no lease is found, and removed only when asked."""

from __future__ import annotations

import psycopg


def test_reconcile_finds_and_removes_a_role_no_lease_accounts_for(vault_factory, scram, configure):
    vault = vault_factory()
    configure(vault, scram)
    live = vault.issue("support-db", "readonly")
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute('CREATE ROLE "v_readonly_leftover" LOGIN')
        conn.execute('GRANT SELECT ON reports TO "v_readonly_leftover"')
    report = vault.reconcile("support-db")
    assert "v_readonly_leftover" in report["orphans"] and live.data["username"] not in report["orphans"]
    assert "v_readonly_leftover" in scram.roles()
    vault.reconcile("support-db", revoke=True)
    assert "v_readonly_leftover" not in scram.roles()
    assert live.data["username"] in scram.roles()
    vault.revoke(live.lease_id)
