"""Operator commands, embedded and remote: plugins (without a store), metrics, reconcile, lease forget,
secret versions and rotation periods."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

import pytest

from scaivault_core.templates import generate_username


def test_plugins_need_no_store(embedded, console):
    listed = embedded("plugins")
    assert listed.stdout.splitlines()[0].split() == ["NAME", "VERSION", "ENGINES", "ERROR"]
    assert "database/postgresql" in listed.stdout
    body = embedded.json_out("plugins")
    assert {"name": "scaivault-ssh", "version": "0.1.0", "engines": ["ssh/ssh"], "error": None} in body["plugins"]
    assert not Path(embedded.env["SCAIVAULT_STORE"]).parent.exists()  # nothing was created
    assert "scaivault-postgresql" in console("plugins").stdout  # the console script, before any init
    assert not Path(console.env["SCAIVAULT_STORE"]).parent.exists()


def test_metrics(scaivault):
    text = scaivault("metrics").stdout
    assert "# TYPE scaivault_leases_active gauge" in text and "scaivault_lease_operation_seconds" in text
    if scaivault.mode == "remote":
        nobody = scaivault.json_out("token", "create", "sa:nobody")["token"]
        denied = scaivault.with_env(SCAIVAULT_TOKEN=nobody)("metrics", expect=1)
        assert denied.stderr.startswith(
            "Error (permission_denied): sa:nobody has no policy granting 'read' on 'sys/metrics'"
        )
        scaivault("policy", "create", "prometheus", "--rule", "sys/metrics=read")
        scaivault("policy", "bind", "prometheus", "sa:prometheus")
        scraper = scaivault.json_out("token", "create", "sa:prometheus")["token"]
        assert "scaivault_leases_active" in scaivault.with_env(SCAIVAULT_TOKEN=scraper)("metrics").stdout


@pytest.fixture
def pg_engine(scaivault, pg_database, pg_admin):
    """Engine "pg" whose reconcile sees only this test's users: role "rc<hex>", username_prefix "v_rc<hex>_"."""
    role = "rc" + secrets.token_hex(4)
    scaivault("secrets", "put", "infra/pg/root", "username=postgres", "password=unused-with-trust")
    scaivault("policy", "create", "pg-root", "--rule", "infra/pg/root=read")
    scaivault("policy", "bind", "pg-root", "dynamic:pg")
    scaivault(
        "engine",
        "create",
        "pg",
        "--type",
        "database",
        "--set",
        "plugin=postgresql",
        "--set",
        f"connection_url=postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
        "--set",
        "root_credentials_path=infra/pg/root",
        "--set",
        f"username_prefix=v_{role}_",
    )
    scaivault(
        "role",
        "create",
        "pg",
        role,
        "--body",
        json.dumps(
            {
                "creation_statements": [
                    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"
                ]
            }
        ),
    )
    yield role
    scaivault("lease", "revoke-prefix", "lease_", "--engine", "pg")
    for (name,) in pg_admin.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"v\\_{role}\\_%",)
    ).fetchall():
        pg_admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_reconcile(scaivault, pg_engine, pg_admin, pg_role_exists):
    role = pg_engine
    leased = scaivault.json_out("lease", "show", scaivault.json_out("creds", "pg", role)["lease_id"])["subject"]
    orphans = sorted(generate_username(role, 63) for _ in range(2))
    for name in orphans:  # made by engine "pg" (its mark), but no lease accounts for them
        pg_admin.execute(f'CREATE ROLE "{name}"')
        pg_admin.execute(f"COMMENT ON ROLE \"{name}\" IS 'scaivault engine=pg'")
    odd = f"v_{role}_not'ours"  # marked as engine pg's, but not a name the vault makes: reported, left alone
    pg_admin.execute(f'CREATE ROLE "{odd}"')
    pg_admin.execute(f"COMMENT ON ROLE \"{odd}\" IS 'scaivault engine=pg'")

    table = scaivault("reconcile", "pg").stdout.splitlines()
    assert table[0].split() == ["SUBJECT", "STATUS"] and [line.split() for line in table[1:]] == [
        [o, "orphan"] for o in orphans
    ] + [[odd, "skipped", "(not_generated)"]]
    assert scaivault.json_out("reconcile", "pg") == {
        "engine": "pg",
        "orphans": orphans,
        "revoked": [],
        "failed": [],
        "skipped": [{"subject": odd, "reason": "not_generated"}],
    }
    assert all(pg_role_exists(o) for o in orphans)  # listing removes nothing

    removed = scaivault("reconcile", "pg", "--revoke").stdout.splitlines()
    assert [line.split() for line in removed[1:]] == [[o, "revoked"] for o in orphans] + [
        [odd, "skipped", "(not_generated)"]
    ]
    assert not any(pg_role_exists(o) for o in orphans) and pg_role_exists(leased)
    assert pg_role_exists(odd)
    pg_admin.execute(f'DROP ROLE "{odd}"')
    assert scaivault("reconcile", "pg").stdout.strip() == "(none)"
    assert scaivault("reconcile", "nope", expect=1).stderr.startswith("Error (engine_not_found):")


REFUSING_REVOKE = """\
import sys
sys.stdin.read()
sys.stderr.write("the target refuses to drop this user")
sys.exit(1)
"""
CREATE = """\
import json, sys
request = json.load(sys.stdin)
print(json.dumps({"username": request["name"], "password": request["password"]}))
"""


def test_lease_forget(scaivault, tmp_path):
    scripts = tmp_path / "commands"  # where the fixture's operator allows commands
    for name, text in (("create.py", CREATE), ("revoke.py", REFUSING_REVOKE)):
        (scripts / name).write_text(f"#!{sys.executable}\n{text}")
        (scripts / name).chmod(0o755)
    scaivault("engine", "create", "stuck", "--type", "custom", "--config", "{}")
    scaivault(
        "role",
        "create",
        "stuck",
        "user",
        "--body",
        json.dumps({"create": [str(scripts / "create.py")], "revoke": [str(scripts / "revoke.py")]}),
    )
    lease_id = scaivault.json_out("creds", "stuck", "user")["lease_id"]

    early = scaivault("lease", "forget", lease_id, expect=1)
    assert early.stderr.startswith("Error (invalid_request): Lease") and "only irrevocable leases" in early.stderr
    for _ in range(12):  # the default attempts (a remote server's worker may spend some of them too)
        failed = scaivault("lease", "revoke", lease_id, expect=1)
        assert failed.stderr.startswith("Error (engine_error):") and "refuses" in failed.stderr
        if scaivault.json_out("lease", "show", lease_id)["state"] == "irrevocable":
            break
    assert scaivault.json_out("lease", "show", lease_id)["state"] == "irrevocable"

    forgotten = scaivault("lease", "forget", lease_id).stdout
    assert f"lease_id        {lease_id}" in forgotten and "state           revoked" in forgotten
    shown = scaivault.json_out("lease", "show", lease_id)
    assert shown["state"] == "revoked" and shown["last_error"] == "forgotten by operator"
    assert scaivault("lease", "forget", "lease_custom_nope", expect=1).stderr.startswith("Error (lease_not_found):")


def test_secret_versions_and_rotation_period(scaivault):
    scaivault("secrets", "put", "app/key", "api_key=first-value-k1")
    scaivault("secrets", "put", "app/key", "api_key=second-value-k2")
    table = scaivault("secrets", "versions", "app/key").stdout.splitlines()
    assert table[0].split() == ["VERSION", "CREATED_AT", "CREATED_BY", "REASON", "RETIRED_AT"]
    assert [line.split()[0] for line in table[1:]] == ["1", "2"] and "first-value-k1" not in "\n".join(table)
    body = scaivault.json_out("secrets", "versions", "app/key")
    assert body["path"] == "app/key" and [v["created_by"] for v in body["versions"]] == ["user:admin"] * 2
    assert scaivault("secrets", "versions", "app/none", expect=1).stderr.startswith("Error (not_found):")

    # A schedule that could never run is refused now, not in a log line when it comes due.
    refused = scaivault("secrets", "rotation-period", "app/key", "30d", expect=1)
    assert refused.stderr.startswith("Error (invalid_request):") and "no rotation handler" in refused.stderr
    assert scaivault("secrets", "rotation-period", "app/key", "0").stdout.split() == [
        "path",
        "app/key",
        "period",
        "-",
        "grace_period",
        "-",
    ]
    bad = scaivault("secrets", "rotation-period", "app/key", "monthly", expect=1)
    assert bad.stderr.startswith("Error (invalid_request): period must be a duration")


@pytest.mark.parametrize("scaivault", ["embedded"], indirect=True)
def test_key_rotation(scaivault, tmp_path):
    scaivault("secrets", "put", "apps/report", "api_key=k-123")
    old = (tmp_path / "vault.key").read_text().strip()
    new = scaivault("key", "new").stdout.strip()
    assert new != old and len(new) == 44

    alone = scaivault("key", "rotate", expect=1)
    assert alone.stderr.startswith("Error (invalid_config): The keyring holds one key")

    rotated = scaivault.with_env(SCAIVAULT_KEY=f"{new},{old}").json_out("key", "rotate")
    assert rotated["secret_versions"] == 1
    reveal = ("secrets", "get", "apps/report", "--reveal", "--format", "json")
    assert json.loads(scaivault.with_env(SCAIVAULT_KEY=new)(*reveal).stdout)["data"] == {"api_key": "k-123"}
    refused = scaivault.with_env(SCAIVAULT_KEY=old)(*reveal, expect=1)
    assert "k-123" not in refused.stdout + refused.stderr


@pytest.mark.parametrize("scaivault", ["remote"], indirect=True)
def test_key_rotate_refuses_a_server(scaivault):
    refused = scaivault("key", "rotate", expect=1)
    assert refused.stderr.startswith("Error (invalid_request): `key rotate` works on the store itself")
