"""Rotating the engine's root credential against a PostgreSQL that checks passwords."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from scaivault_core import PermissionDenied
from scaivault_core.testing import rotate_and_die
from scaivault_postgresql import PostgreSQLEngine

ROOT_PATH = "infra/postgres/support/root"


@pytest.fixture
def rotator_role(scram):
    """A superuser of our own to rotate, so the cluster's own admin password never changes under other tests."""
    name, password = f"sv_root_{uuid.uuid4().hex[:8]}", "Initial-r00t-pw"
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN SUPERUSER PASSWORD '{password}'")
    yield name, password
    with psycopg.connect(scram.admin_url(), autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {name}")


def logs_in(scram, user: str, password: str) -> bool:
    try:
        psycopg.connect(host="127.0.0.1", port=scram.port, dbname="support", user=user, password=password).close()
        return True
    except psycopg.OperationalError:
        return False


def setup(vault, scram, configure, rotator_role):
    configure(vault, scram)
    user, password = rotator_role
    vault.put_secret(ROOT_PATH, {"username": user, "password": password})
    vault.update_engine(
        "support-db",
        "database",
        {"plugin": "postgresql", "connection_url": scram.connection_url(), "root_credentials_path": ROOT_PATH},
        "1h",
        "24h",
    )


def test_rotation_changes_the_password_in_the_target_and_keeps_issuing(vault_factory, scram, configure, rotator_role):
    vault = vault_factory()
    setup(vault, scram, configure, rotator_role)
    user, old_password = rotator_role
    before = vault.issue("support-db", "readonly")

    version = vault.rotate_secret(ROOT_PATH, reason="incident response", grace_period="0")
    assert version.reason == "incident response" and version.created_by == "user:admin"
    new_password = vault.get_secret(ROOT_PATH).data["password"]
    assert new_password != old_password
    assert not logs_in(scram, user, old_password)
    assert logs_in(scram, user, new_password)

    after = vault.issue("support-db", "readonly")  # the engine reconnects with the new password
    vault.renew(before.lease_id)  # leases issued before the rotation stay renewable and revocable
    vault.revoke(before.lease_id)
    vault.revoke(after.lease_id)
    assert before.data["username"] not in scram.roles() and after.data["username"] not in scram.roles()

    # Grace "0": the old version is destroyed at once, its history kept.
    history = vault.list_secret_versions(ROOT_PATH)
    assert history[-2].retired_at is not None and history[-1].reason == "incident response"
    audit = json.dumps([e.to_dict() for _, e in vault.audit_log(limit=1000)])
    assert new_password not in audit and old_password not in audit


def test_rotation_needs_the_rotate_grant(vault_factory, scram, configure, rotator_role):
    vault = vault_factory()
    setup(vault, scram, configure, rotator_role)
    vault.create_policy("reader", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
    vault.bind_policy("reader", "sa:reader")
    with pytest.raises(PermissionDenied):
        vault.as_identity("sa:reader").rotate_secret(ROOT_PATH)
    assert logs_in(scram, *rotator_role)


@pytest.mark.parametrize("when", ["before-target", "after-target"])
def test_a_crash_mid_rotation_leaves_a_working_vault(vault_factory, scram, configure, rotator_role, tmp_path, when):
    vault = vault_factory()
    setup(vault, scram, configure, rotator_role)
    vault.close()
    rotate_and_die(tmp_path / "vault.db", PostgreSQLEngine, ROOT_PATH, when)
    user, old_password = rotator_role
    assert logs_in(scram, user, old_password) == (when == "before-target")

    restarted = vault_factory()
    current = restarted.get_secret(ROOT_PATH).data["password"]
    assert logs_in(scram, user, current)
    creds = restarted.issue("support-db", "readonly")
    restarted.revoke(creds.lease_id)
