"""User-supplied fields never reach PostgreSQL as code: names are validated, metadata is never rendered,
and the only values substituted into statements are the ones the core generates."""

from __future__ import annotations

import psycopg
import pytest

from scaivault_core import InvalidRequest, ScaiVaultError

ATTACKS = [
    'x"; DROP TABLE reports; --',
    "x'; DROP TABLE reports; --",
    "{{ name }}'; DROP TABLE reports; --",
    "{% for x in range(3) %}DROP TABLE reports;{% endfor %}",
    "readonly\x00",
]


def reports_intact(target) -> bool:
    with psycopg.connect(target.admin_url(), autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM reports").fetchone() == (1,)


@pytest.mark.parametrize("attack", ATTACKS)
def test_hostile_values_never_run_as_sql(vault_factory, scram, configure, attack):
    vault = vault_factory()
    configure(vault, scram)
    with pytest.raises(InvalidRequest):
        vault.create_role("support-db", attack, creation_statements=['CREATE ROLE "{{name}}"'])
    with pytest.raises(ScaiVaultError):
        vault.issue("support-db", attack)
    creds = vault.issue("support-db", "readonly", metadata={"purpose": attack, attack: attack})
    assert creds.data["username"].startswith("v_readonly_")
    vault.put_secret("apps/x", {"value": attack})
    vault.revoke(creds.lease_id)
    assert reports_intact(scram)
    assert creds.data["username"] not in scram.roles()
