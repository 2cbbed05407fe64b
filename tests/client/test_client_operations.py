"""The client's operator calls against a live server: metrics (text), secret versions and rotation
periods, reconcile, forgetting an irrevocable lease."""

from __future__ import annotations

import asyncio
import secrets
import sys

import pytest

from scaivault_core import EngineError, InvalidRequest, NotFound, PermissionDenied
from scaivault_core.client import AsyncScaiVaultClient, ScaiVaultClient
from scaivault_core.templates import generate_username


@pytest.fixture
def admin(server):
    with ScaiVaultClient(server.url, server.admin_token) as client:
        yield client


def test_metrics_come_back_as_text(server, admin, client):
    lease = client.issue("pg", "readonly", ttl="1h")
    try:
        text = admin.metrics()
        assert isinstance(text, str) and "# TYPE scaivault_leases_active gauge" in text
        assert 'scaivault_leases_active{engine="pg",role="readonly"}' in text
        assert lease.data["password"] not in text
    finally:
        client.revoke(lease.lease_id)
    with pytest.raises(PermissionDenied) as denied:
        client.metrics()  # sa:svc may issue, not read sys/metrics
    assert denied.value.details["path"] == "sys/metrics"

    async def scrape():
        async with AsyncScaiVaultClient(server.url, server.admin_token) as async_admin:
            return await async_admin.metrics()

    assert "scaivault_lease_operations_total" in asyncio.run(scrape())


def test_secret_versions_and_rotation_period(admin):
    admin.put_secret("app/client-key", {"api_key": "first-value-k1"})
    admin.put_secret("app/client-key", {"api_key": "second-value-k2"})
    versions = admin.list_secret_versions("app/client-key")
    assert [v.version for v in versions] == [1, 2] and {v.data for v in versions} == {None}  # never the values
    assert "first-value-k1" not in str(admin.json.list_secret_versions("app/client-key"))
    with pytest.raises(NotFound):
        admin.list_secret_versions("app/none")
    with pytest.raises(InvalidRequest):  # no engine's root credential and no rotation handler: refused now
        admin.set_rotation_period("app/client-key", "30d")
    assert admin.set_rotation_period("app/client-key", None) == {
        "path": "app/client-key",
        "period": None,
        "grace_period": None,
    }
    with pytest.raises(InvalidRequest):
        admin.set_rotation_period("app/client-key", "monthly")


def test_reconcile(admin, pg_database, pg_admin, pg_role_exists):
    role = "rc" + secrets.token_hex(4)  # reconcile sees only users named v_<role>_..., i.e. this test's
    admin.put_secret("infra/pgrc/root", {"username": "postgres", "password": "unused-with-trust"})
    admin.create_policy("pgrc-root", [{"path_pattern": "infra/pgrc/root", "permissions": ["read"]}])
    admin.bind_policy("pgrc-root", "dynamic:pgrc")
    admin.create_engine(
        "pgrc",
        "database",
        {
            "plugin": "postgresql",
            "root_credentials_path": "infra/pgrc/root",
            "username_prefix": f"v_{role}_",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
        },
    )
    admin.create_role("pgrc", role, creation_statements=["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'"])
    orphan = generate_username(role, 63)
    pg_admin.execute(f'CREATE ROLE "{orphan}"')
    pg_admin.execute(f"COMMENT ON ROLE \"{orphan}\" IS 'scaivault engine=pgrc'")  # engine pgrc made it
    try:
        leased = admin.issue("pgrc", role)
        assert admin.reconcile("pgrc") == {
            "engine": "pgrc",
            "orphans": [orphan],
            "revoked": [],
            "failed": [],
            "skipped": [],
        }
        assert pg_role_exists(orphan)
        assert admin.reconcile("pgrc", revoke=True)["revoked"] == [orphan]
        assert not pg_role_exists(orphan) and pg_role_exists(leased.data["username"])
        admin.revoke(leased.lease_id)
    finally:
        pg_admin.execute(f'DROP ROLE IF EXISTS "{orphan}"')
        admin.revoke_prefix("lease_", engine="pgrc")
        admin.delete_engine("pgrc")


def test_forget_an_irrevocable_lease(server, admin):
    scripts = {
        "create.py": "import json, sys\nr = json.load(sys.stdin)\n"
        "print(json.dumps({'username': r['name'], 'password': r['password']}))\n",
        "revoke.py": "import sys\nsys.stdin.read()\nsys.exit(1)\n",
    }
    for name, text in scripts.items():  # installed where the server's operator allows commands
        (server.commands / name).write_text(f"#!{sys.executable}\n{text}")
        (server.commands / name).chmod(0o755)
    admin.create_engine("stuck", "custom", {})
    admin.create_role(
        "stuck", "user", create=[str(server.commands / "create.py")], revoke=[str(server.commands / "revoke.py")]
    )
    lease_id = admin.issue("stuck", "user").lease_id
    with pytest.raises(InvalidRequest):
        admin.forget_lease(lease_id)
    for _ in range(12):  # the default attempts; the server's worker may spend some of them too
        with pytest.raises(EngineError):
            admin.revoke(lease_id)
        if admin.lookup(lease_id).state == "irrevocable":
            break
    forgotten = admin.forget_lease(lease_id)
    assert forgotten.lease_id == lease_id and forgotten.state == "revoked"
    assert admin.lookup(lease_id).last_error == "forgotten by operator"
    admin.delete_engine("stuck")
