"""The custom engine's command form, through real scripts: what a command receives, and every way it can fail."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig, LeaseState


@pytest.fixture
def engine(vault, userdir, configure, script):
    """The engine and a role running userdir.py, which sees the root credential (the role opts in)."""
    configure(vault, root={"admin_token": userdir.admin_token}, environment=userdir.environment(),
              verify=script("userdir.py"))
    vault.create_role("scripts", "deploy", create=script("userdir.py", "deployers"), revoke=script("userdir.py"),
                      renew=script("userdir.py"), pass_root_credentials=True, default_ttl="1h", max_ttl="3h")
    return "scripts"


def test_issue_and_revoke_through_real_scripts(vault, engine, userdir, clock):
    issued = vault.issue(engine, "deploy", ttl="30m", metadata={"ticket": "OPS-7"})
    name = issued.data["username"]
    assert issued.lease_id.startswith("lease_custom_")
    assert issued.data == {"username": name, "password": issued.data["password"], "groups": ["deployers"]}
    assert "handle" not in issued.data  # kept with the lease, not shown to the caller
    user = userdir.users()[name]
    assert user["password"] == issued.data["password"] and user["groups"] == ["deployers"]
    assert user["lease_id"] == issued.lease_id and user["metadata"] == {"ticket": "OPS-7"}
    assert user["ttl_seconds"] == 1800 and user["saw_root"]
    assert user["keys"] == sorted(["operation", "engine", "role", "lease_id", "name", "password", "expiration",
                                   "ttl_seconds", "metadata", "handle", "root_credentials"])
    assert userdir.expiration(name) == clock.time() + 1800

    vault.revoke(issued.lease_id)
    assert name not in userdir.users()
    (revoked,) = userdir.state()["revoked"]
    assert revoked["handle"] == {"user_id": user["id"]}  # what create returned under "handle"
    assert "password" not in revoked["keys"]  # revocation never sees the password


def test_renew_runs_the_renew_command_with_the_new_expiry(vault, engine, userdir):
    issued = vault.issue(engine, "deploy", ttl="1h")
    result = vault.renew(issued.lease_id, "1h")
    assert userdir.expiration(issued.data["username"]) == result.lease.expires_at
    assert userdir.users()[issued.data["username"]]["renew_handle"] == {"user_id": 1}


def test_renew_without_a_command_extends_the_lease_only(vault, userdir, configure, script):
    configure(vault, environment=userdir.environment())
    vault.create_role("scripts", "plain", create=script("userdir.py"), revoke=script("userdir.py"))
    issued = vault.issue("scripts", "plain", ttl="1h")
    before = userdir.users()[issued.data["username"]]["expiration"]
    result = vault.renew(issued.lease_id, "1h")
    assert result.lease.expires_at == issued.lease.expires_at + 3600
    assert userdir.users()[issued.data["username"]]["expiration"] == before


def test_root_credentials_only_reach_roles_that_opt_in(vault, userdir, configure, script):
    configure(vault, root={"admin_token": userdir.admin_token}, environment=userdir.environment())
    vault.create_role("scripts", "plain", create=script("userdir.py"), revoke=script("userdir.py"))
    issued = vault.issue("scripts", "plain")
    user = userdir.users()[issued.data["username"]]
    assert not user["saw_root"] and "root_credentials" not in user["keys"]


def test_a_command_gets_only_path_and_configured_variables(vault, configure, script, tmp_path):
    os.environ["SCAIVAULT_CUSTOM_LEAK_CHECK"] = "must-not-reach-commands"
    try:
        configure(vault, environment={"TARGET_REGION": "eu-west"}, working_directory=str(tmp_path))
        vault.create_role("scripts", "env", create=script("show_environment.py", "--flag", "two words"),
                          revoke=script("userdir.py"))
        data = vault.issue("scripts", "env").data
    finally:
        del os.environ["SCAIVAULT_CUSTOM_LEAK_CHECK"]
    assert set(data["environment"]) <= {"PATH", "TARGET_REGION", "LC_CTYPE"}  # Python may set LC_CTYPE itself
    assert data["environment"]["TARGET_REGION"] == "eu-west"
    assert data["environment"]["PATH"] == os.environ["PATH"]
    assert data["argv"] == ["--flag", "two words"] and data["cwd"] == str(tmp_path)


def test_commands_run_without_a_shell(vault, configure, script, tmp_path):
    sh = tmp_path / "create.sh"
    sh.write_text((Path(__file__).parent / "scripts" / "create.sh").read_text())
    sh.chmod(0o755)  # run directly: the kernel reads its #! line, no shell parses the arguments
    marker = tmp_path / "injected"
    configure(vault)
    vault.create_role("scripts", "sh", create=[str(sh), f"x; touch {marker}"], revoke=script("userdir.py"))
    data = vault.issue("scripts", "sh").data
    assert data["args"] == f"x; touch {marker}"  # one literal argument, never interpreted
    assert not marker.exists()


def test_non_zero_exit_is_an_engine_error_with_stderr_redacted(vault, userdir, configure, script):
    configure(vault, root={"admin_token": userdir.admin_token}, environment=userdir.environment())
    vault.create_role("scripts", "leaky", create=script("leaky_failure.py"), revoke=script("userdir.py"),
                      pass_root_credentials=True)
    with pytest.raises(EngineError) as caught:
        vault.issue("scripts", "leaky")
    message = caught.value.message
    assert "exited with status 3" in message and "rejected (given token ***)" in message
    assert "password *** rejected" in message
    assert userdir.admin_token not in str(caught.value.to_dict())
    (lease,) = vault.list_leases(engine="scripts")
    assert lease.state == LeaseState.ROLLED_BACK  # revoke ran for whatever the script may have made


def test_a_hanging_command_is_killed_with_its_children_at_the_timeout(vault, configure, script, tmp_path, process_gone):
    pids = tmp_path / "pids"
    configure(vault, timeout=30)
    vault.create_role("scripts", "hang", create=script("hang.py", str(pids)), revoke=script("userdir.py"), timeout=1.5)
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        vault.issue("scripts", "hang")
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 8
    assert "did not finish within 1.5s and was killed" in caught.value.message
    assert "started, now waiting forever" in caught.value.message
    script_pid, child_pid = map(int, pids.read_text().split())
    assert process_gone(script_pid) and process_gone(child_pid)


def test_invalid_json_is_an_engine_error_and_whatever_was_made_is_removed(vault, userdir, configure, script):
    configure(vault, environment=userdir.environment())
    vault.create_role("scripts", "garbage", create=script("userdir.py", "--garbage"), revoke=script("userdir.py"))
    with pytest.raises(EngineError) as caught:
        vault.issue("scripts", "garbage")
    assert "printed invalid JSON" in caught.value.message
    assert "with password" not in caught.value.message  # stdout is never quoted
    assert userdir.users() == {}  # the core revoked the user the script had made
    (lease,) = vault.list_leases(engine="scripts")
    assert lease.state == LeaseState.ROLLED_BACK


@pytest.mark.parametrize("output, expected", [
    ('["PASSWORD"]', "printed a JSON list"),
    ("", "printed nothing"),
    ("{'password': 'PASSWORD'}", "printed invalid JSON"),
    ('{"handle": "PASSWORD"}', "'handle' must be a JSON object"),
])
def test_malformed_output_is_an_engine_error(vault, configure, script, output, expected):
    configure(vault)
    vault.create_role("scripts", "out", create=script("print_output.py", output), revoke=script("userdir.py"))
    with pytest.raises(EngineError) as caught:
        vault.issue("scripts", "out")
    assert expected in caught.value.message


def test_exit_status_75_means_the_target_is_unreachable(vault, engine, userdir, clock):
    issued = vault.issue(engine, "deploy")
    userdir.cut()
    with pytest.raises(EngineUnreachable) as caught:
        vault.issue(engine, "deploy")
    assert "reports its target unreachable" in caught.value.message
    with pytest.raises(EngineUnreachable):
        vault.revoke(issued.lease_id)
    userdir.restore()
    clock.advance(60)
    vault.expire_due()
    assert vault.lookup(issued.lease_id).state == LeaseState.REVOKED
    assert userdir.users() == {}


def test_a_lease_stays_revocable_after_its_role_is_deleted(vault, engine, userdir):
    issued = vault.issue(engine, "deploy")
    vault.delete_role(engine, "deploy")
    vault.revoke(issued.lease_id)
    assert userdir.users() == {}


def test_verify_failure_is_invalid_config_with_the_token_redacted(vault, userdir, configure, script):
    with pytest.raises(InvalidConfig) as caught:
        configure(vault, root={"admin_token": "wrong-admin-token-123"}, environment=userdir.environment(),
                  verify=script("userdir.py"))
    assert "exited with status 1" in caught.value.message and "userdir refused the given token" in caught.value.message


@pytest.mark.parametrize("role, field", [
    ({"create": ["/no/such/script"], "revoke": ["/bin/true"]}, "create"),
    ({"create": ["no-such-program-anywhere"], "revoke": ["/bin/true"]}, "create"),
    ({"create": ["relative/script.py"], "revoke": ["/bin/true"]}, "create"),
    ({"create": [], "revoke": ["/bin/true"]}, "create"),
    ({"create": ["/bin/true"]}, "revoke"),
    ({"create": ["/bin/true"], "revoke": ["/bin/true"], "create_url": "http://127.0.0.1:9/c"}, "create_url"),
    ({"create": ["/bin/true"], "revoke": ["/bin/true"], "pass_root_credentials": True}, "pass_root_credentials"),
    ({"create": ["/bin/true"], "revoke": ["/bin/true"], "timeout": 0}, "timeout"),
])
def test_bad_roles_are_invalid_config_naming_the_field(vault, configure, role, field):
    configure(vault)
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role("scripts", "bad", **role)
    assert caught.value.details.get("field") == field, caught.value.message


@pytest.mark.parametrize("config, field", [
    ({"timeout": 0}, "config.timeout"),
    ({"timeout": 3600}, "config.timeout"),
    ({"working_directory": "/no/such/dir"}, "config.working_directory"),
    ({"verify": ["/no/such/verify"]}, "config.verify"),
    ({"verify_url": "http://example.com/verify"}, "config.verify_url"),
    ({"environment": {"A=B": "x"}}, "config.environment"),
])
def test_bad_engine_configs_are_invalid_config(vault, configure, config, field):
    with pytest.raises(InvalidConfig) as caught:
        configure(vault, **config)
    assert caught.value.details.get("field") == field, caught.value.message


def test_a_command_that_cannot_start_is_invalid_config(vault, configure, tmp_path):
    program = tmp_path / "vanishing"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    configure(vault)
    vault.create_role("scripts", "gone", create=[str(program)], revoke=["/bin/true"])
    program.unlink()
    with pytest.raises(InvalidConfig) as caught:
        vault.issue("scripts", "gone")
    assert "cannot be started" in caught.value.message


def test_a_command_killed_by_a_signal_is_an_engine_error(vault, configure):
    configure(vault)
    vault.create_role("scripts", "killed", create=["/bin/sh", "-c", "echo dying >&2; kill -9 $$"], revoke=["/bin/true"])
    with pytest.raises(EngineError) as caught:
        vault.issue("scripts", "killed")
    assert "was killed by SIGKILL; stderr: dying" in caught.value.message
