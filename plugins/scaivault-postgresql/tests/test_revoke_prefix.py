"""revoke-prefix of more leases than one page (500): every lease revoked, every role gone from PostgreSQL."""

from __future__ import annotations

import psycopg

from scaivault_core import LeaseState

COUNT = 520  # more than one page of revoke-prefix


def test_revoke_prefix_of_a_large_batch_removes_every_role(vault_factory, trust_db, configure):
    vault = vault_factory(start_worker=False)
    configure(vault, trust_db, role=False)
    with psycopg.connect(trust_db.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{trust_db.database}_readers" NOLOGIN')
    try:
        # The docs' group-role pattern, without a password hash per user: the test is about revocation.
        vault.create_role(
            "support-db",
            "bulk",
            creation_statements=[
                f"CREATE ROLE \"{{{{name}}}}\" LOGIN VALID UNTIL '{{{{expiration}}}}' "
                f'IN ROLE "{trust_db.database}_readers"'
            ],
        )
        leases = [vault.issue("support-db", "bulk").lease_id for _ in range(COUNT)]
        assert len(trust_db.roles("v_bulk_")) == COUNT

        result = vault.revoke_prefix("lease_db_", engine="support-db")
        assert result == {"revoked": COUNT, "failed": [], "in_progress": 0}
        assert trust_db.roles("v_bulk_") == set()
        assert {vault.lookup(lease_id).state for lease_id in leases} == {LeaseState.REVOKED}
    finally:
        with psycopg.connect(trust_db.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP ROLE IF EXISTS "{trust_db.database}_readers"')
