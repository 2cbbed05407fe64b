"""Long admin work as jobs, against a real `scaivault server` and real PostgreSQL users.

Each revocation runs `pg_sleep`, so revoking a couple of hundred leases takes seconds: long enough
to see a job running, to kill its server in the middle, and to outlast a short `--timeout`.
"""

from __future__ import annotations

import json
import os
import subprocess

import httpx
import pytest

from scaivault_core import JobNotFound
from scaivault_core.client import ScaiVaultClient
from scaivault_core.testing import wait_until
from scaivault_core.testing.servers import scaivault_command

SLOW = 0.03  # seconds of pg_sleep per revoked user


def slow_roles(admin: ScaiVaultClient, database: str) -> None:
    """Engine "pg" with roles "slow" and "other", whose revocations each sleep SLOW seconds in PostgreSQL."""
    admin.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
    admin.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
    admin.bind_policy("pg-root", "dynamic:pg")
    admin.create_engine(
        "pg",
        "database",
        {
            "plugin": "postgresql",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{database}",
            "root_credentials_path": "infra/pg/root",
        },
        default_ttl="1h",
        max_ttl="24h",
    )
    for role in ("slow", "other"):
        admin.create_role(
            "pg",
            role,
            creation_statements=[
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
            ],
            revocation_statements=[f"SELECT pg_sleep({SLOW})", 'DROP ROLE IF EXISTS "{{name}}"'],
        )


def issue(admin: ScaiVaultClient, role: str, count: int) -> list[str]:
    """``count`` leases of ``role``; their PostgreSQL user names."""
    return [admin.issue("pg", role).data["username"] for _ in range(count)]


def cli(server, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env.update(
        SCAIVAULT_ADDR=server.url,
        SCAIVAULT_TOKEN=token or server.admin_token,
        SCAIVAULT_HOME="/nonexistent-scaivault-home",
    )
    return subprocess.run([*scaivault_command(), *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def setup(live_server, pg_database, pg_role_exists):
    server = live_server()
    admin = ScaiVaultClient(server.url, server.admin_token)
    slow_roles(admin, pg_database)
    yield server, admin
    try:  # whatever a failed test left behind in the shared PostgreSQL
        admin.with_timeout(None).revoke_prefix("lease_", engine="pg")
    finally:
        admin.close()


def test_async_revoke_prefix_answers_202_and_the_job_revokes_every_user(setup, pg_role_exists):
    server, admin = setup
    users = issue(admin, "slow", 150)
    answer = httpx.post(
        f"{server.url}/v1/dynamic/leases/revoke-prefix",
        timeout=30,
        headers={"Authorization": f"Bearer {server.admin_token}"},
        json={"prefix": "lease_", "engine": "pg", "sync": False},
    )
    assert answer.status_code == 202
    job = answer.json()
    assert answer.headers["location"] == job["href"] == f"/v1/sys/jobs/{job['job_id']}"
    assert job["operation"] == "revoke_prefix" and job["created_by"] == "user:admin"
    assert job["request"] == {"prefix": "lease_", "engine": "pg", "role": None}

    result = admin.wait_job(job["job_id"], timeout=120)
    assert result == {"revoked": 150, "failed": [], "in_progress": 0}  # what the synchronous call answers
    finished = admin.get_job(job["job_id"])
    assert finished.state == "succeeded" and (finished.done, finished.total) == (150, 150)
    assert not any(pg_role_exists(user) for user in users)
    assert admin.list_leases(engine="pg", state="live") == []


def test_a_job_survives_its_server_being_killed(setup, pg_role_exists):
    server, admin = setup
    users = issue(admin, "slow", 200)
    job = admin.revoke_prefix("lease_", engine="pg", sync=False)
    assert wait_until(lambda: admin.get_job(job.job_id).done >= 100, timeout=120, interval=0.05)
    assert admin.get_job(job.job_id).state == "running"

    server.kill()  # mid-job: the second batch is being revoked
    server.start()  # the new process takes the job over from the dead one

    result = admin.wait_job(job.job_id, timeout=120)
    assert result["failed"] == [] and 100 <= result["revoked"] + result["in_progress"] <= 200
    assert wait_until(lambda: not any(pg_role_exists(user) for user in users), timeout=60, interval=0.2)
    # Leases the dead process had claimed were handed to the new one's expiry worker, which records them too.
    assert wait_until(lambda: admin.list_leases(engine="pg", state="live") == [], timeout=60, interval=0.2)
    progress = admin.get_job(job.job_id)
    assert progress.done == progress.total >= 100


def test_the_cli_waits_for_the_job_or_gives_up_after_its_timeout(setup, pg_role_exists):
    server, admin = setup
    issue(admin, "slow", 120)
    gave_up = cli(server, "lease", "revoke-prefix", "lease_", "--engine", "pg", "--timeout", "0.5")
    assert gave_up.returncode == 1
    assert gave_up.stderr.startswith("Error (job_still_running): Job job_")
    job_id = gave_up.stderr.split("Job ", 1)[1].split(" ", 1)[0]

    assert wait_until(
        lambda: json.loads(cli(server, "job", "show", job_id, "--format", "json").stdout)["state"] == "succeeded",
        timeout=120,
        interval=0.3,
    )
    shown = json.loads(cli(server, "job", "show", job_id, "--format", "json").stdout)
    assert shown["result"]["revoked"] == 120

    users = issue(admin, "slow", 20)
    waited = cli(server, "lease", "revoke-prefix", "lease_", "--engine", "pg")
    assert waited.returncode == 0, waited.stderr
    assert waited.stdout.splitlines()[0].split() == ["revoked", "20"]  # printed as the synchronous answer was
    assert waited.stderr == ""  # no progress meter: stderr is not a terminal
    assert not any(pg_role_exists(user) for user in users)

    queued = cli(server, "reconcile", "pg", "--no-wait", "--format", "json")
    assert queued.returncode == 0 and json.loads(queued.stdout)["operation"] == "reconcile"


def test_revoke_prefix_by_role_leaves_the_other_roles_leases(setup, pg_role_exists):
    server, admin = setup
    slow, other = issue(admin, "slow", 3), issue(admin, "other", 2)
    done = cli(server, "lease", "revoke-prefix", "lease_", "--engine", "pg", "--role", "slow", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"revoked": 3, "failed": [], "in_progress": 0}
    assert not any(pg_role_exists(user) for user in slow) and all(pg_role_exists(user) for user in other)
    assert {lease.role for lease in admin.list_leases(engine="pg", state="live")} == {"other"}
    # The synchronous call takes role too, and a role without its engine is refused.
    assert admin.revoke_prefix("lease_", engine="pg", role="other") == {"revoked": 2, "failed": [], "in_progress": 0}
    refused = cli(server, "lease", "revoke-prefix", "lease_", "--role", "other")
    assert refused.returncode == 1 and "Error (invalid_request)" in refused.stderr


def test_a_job_is_read_by_its_creator_or_a_holder_of_its_grant_and_is_404_to_anyone_else(setup):
    server, admin = setup
    admin.create_policy("pg-ops", [{"path_pattern": "dynamic/engines/pg", "permissions": ["revoke"]}])
    admin.bind_policy("pg-ops", "sa:ops")
    admin.bind_policy("pg-ops", "sa:oncall")
    tokens = {name: admin.create_token(f"sa:{name}", ttl="1h")["token"] for name in ("ops", "oncall", "stranger")}
    issue(admin, "slow", 2)
    with (
        ScaiVaultClient(server.url, tokens["ops"]) as ops,
        ScaiVaultClient(server.url, tokens["oncall"]) as oncall,
        ScaiVaultClient(server.url, tokens["stranger"]) as stranger,
    ):
        job = ops.reconcile("pg", sync=False)
        assert ops.wait_job(job.job_id, timeout=60)["engine"] == "pg"
        assert oncall.get_job(job.job_id).identity == "sa:ops"  # holds revoke on the engine
        assert admin.get_job(job.job_id).state == "succeeded"
        mine = admin.revoke_prefix("lease_", sync=False)  # every engine: only holders of revoke on all read it
        admin.wait_job(mine.job_id, timeout=60)
        for caller, job_id in ((stranger, job.job_id), (oncall, mine.job_id), (stranger, "job_nosuchjob")):
            with pytest.raises(JobNotFound) as hidden:
                caller.get_job(job_id)
            assert hidden.value.status == 404 and hidden.value.message == f"No job has the id {job_id!r}."
        with pytest.raises(Exception) as refused:  # starting one is checked as the synchronous call is
            stranger.revoke_prefix("lease_", engine="pg", sync=False)
        assert refused.value.code == "permission_denied"


def test_the_cli_shows_progress_on_a_terminal(setup):
    import pty

    server, admin = setup
    issue(admin, "slow", 60)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env.update(SCAIVAULT_ADDR=server.url, SCAIVAULT_TOKEN=server.admin_token)
    terminal, stderr = pty.openpty()
    try:
        done = subprocess.run(
            [*scaivault_command(), "lease", "revoke-prefix", "lease_", "--engine", "pg"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=300,
        )
        os.close(stderr)
        shown = b""
        while True:
            try:
                chunk = os.read(terminal, 4096)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(terminal)
    assert done.returncode == 0 and done.stdout.splitlines()[0].split() == ["revoked", "60"]
    meter = shown.decode()
    assert "revoke_prefix job_" in meter and "60/60 succeeded" in meter
