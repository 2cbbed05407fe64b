"""The custom engine's command form, through real scripts: what a command receives, and every way it can fail."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import scaivault_custom
from scaivault_core import (
    EngineError,
    EngineUnreachable,
    InvalidConfig,
    LeaseState,
    Settings,
    Vault,
    make_plugin_manager,
)


@pytest.fixture
def engine(vault, userdir, configure, script):
    """The engine and a role running userdir.py, which sees the root credential (the role opts in)."""
    configure(
        vault, root={"admin_token": userdir.admin_token}, environment=userdir.environment(), verify=script("userdir.py")
    )
    vault.create_role(
        "scripts",
        "deploy",
        create=script("userdir.py", "deployers"),
        revoke=script("userdir.py"),
        renew=script("userdir.py"),
        pass_root_credentials=True,
        default_ttl="1h",
        max_ttl="3h",
    )
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
    assert user["keys"] == sorted(
        [
            "operation",
            "engine",
            "role",
            "lease_id",
            "name",
            "password",
            "expiration",
            "ttl_seconds",
            "metadata",
            "handle",
            "root_credentials",
        ]
    )
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


def test_a_command_gets_only_path_and_configured_variables(vault, configure, script, commands):
    os.environ["SCAIVAULT_CUSTOM_LEAK_CHECK"] = "must-not-reach-commands"
    try:
        configure(vault, environment={"TARGET_REGION": "eu-west"}, working_directory=str(commands))
        vault.create_role(
            "scripts", "env", create=script("show_environment.py", "--flag", "two words"), revoke=script("userdir.py")
        )
        data = vault.issue("scripts", "env").data
    finally:
        del os.environ["SCAIVAULT_CUSTOM_LEAK_CHECK"]
    assert set(data["environment"]) <= {"PATH", "TARGET_REGION", "LC_CTYPE"}  # Python may set LC_CTYPE itself
    assert data["environment"]["TARGET_REGION"] == "eu-west"
    assert data["environment"]["PATH"] == os.environ["PATH"]
    assert data["argv"] == ["--flag", "two words"] and data["cwd"] == str(commands)


def test_commands_run_without_a_shell(vault, configure, script, tmp_path, commands):
    sh = commands / "create.sh"
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
    vault.create_role(
        "scripts", "leaky", create=script("leaky_failure.py"), revoke=script("userdir.py"), pass_root_credentials=True
    )
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


@pytest.mark.parametrize(
    "output, expected",
    [
        ('["PASSWORD"]', "printed a JSON list"),
        ("", "printed nothing"),
        ("{'password': 'PASSWORD'}", "printed invalid JSON"),
        ('{"handle": "PASSWORD"}', "'handle' must be a JSON object"),
    ],
)
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
        configure(
            vault,
            root={"admin_token": "wrong-admin-token-123"},
            environment=userdir.environment(),
            verify=script("userdir.py"),
        )
    assert "exited with status 1" in caught.value.message and "userdir refused the given token" in caught.value.message


NOOP = "noop.sh"  # a program in the allowed scripts directory, by bare name: looked up only there


@pytest.mark.parametrize(
    "role, field",
    [
        ({"create": ["/no/such/script"], "revoke": [NOOP]}, "create"),
        ({"create": ["no-such-program-anywhere"], "revoke": [NOOP]}, "create"),
        ({"create": ["relative/script.py"], "revoke": [NOOP]}, "create"),
        ({"create": ["/bin/true"], "revoke": [NOOP]}, "create"),  # exists, but the operator does not allow /bin
        ({"create": [], "revoke": [NOOP]}, "create"),
        ({"create": [NOOP]}, "revoke"),
        ({"create": [NOOP], "revoke": [NOOP], "create_url": "http://127.0.0.1:9/c"}, "create_url"),
        ({"create": [NOOP], "revoke": [NOOP], "pass_root_credentials": True}, "pass_root_credentials"),
        ({"create": [NOOP], "revoke": [NOOP], "timeout": 0}, "timeout"),
    ],
)
def test_bad_roles_are_invalid_config_naming_the_field(vault, configure, role, field):
    configure(vault)
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role("scripts", "bad", **role)
    assert caught.value.details.get("field") == field, caught.value.message


def test_a_bare_program_name_runs_the_allowed_program_at_its_resolved_path(vault, configure, script):
    configure(vault)
    role = vault.create_role("scripts", "bare", create=["create.sh", "one"], revoke=[NOOP])
    assert role.params["create"] == ["create.sh", "one"]  # stored as written, resolved at each load
    assert vault._engines.role("scripts", "bare")[1].create == script("create.sh", "one")
    assert vault.issue("scripts", "bare").data["args"] == "one"


@pytest.mark.parametrize(
    "config, field",
    [
        ({"timeout": 0}, "config.timeout"),
        ({"timeout": 3600}, "config.timeout"),
        ({"working_directory": "/no/such/dir"}, "config.working_directory"),
        ({"verify": ["/no/such/verify"]}, "config.verify"),
        ({"verify_url": "http://example.com/verify"}, "config.verify_url"),
        ({"environment": {"A=B": "x"}}, "config.environment"),
        ({"environment": {"LD_PRELOAD": "/tmp/x.so"}}, "config.environment"),
        ({"environment": {"PATH": "/tmp"}}, "config.environment"),
    ],
)
def test_bad_engine_configs_are_invalid_config(vault, configure, config, field):
    with pytest.raises(InvalidConfig) as caught:
        configure(vault, **config)
    assert caught.value.details.get("field") == field, caught.value.message


def test_a_command_that_cannot_start_is_invalid_config(vault, configure, commands):
    program = commands / "orphaned"
    program.write_text("#!/no/such/interpreter\n")  # allowed and executable, but the kernel cannot start it
    program.chmod(0o755)
    configure(vault)
    vault.create_role("scripts", "gone", create=[str(program)], revoke=[NOOP])
    with pytest.raises(InvalidConfig) as caught:
        vault.issue("scripts", "gone")
    assert "cannot be started" in caught.value.message


def test_a_command_killed_by_a_signal_is_an_engine_error(vault, configure, commands):
    dying = commands / "dying.sh"
    dying.write_text("#!/bin/sh\necho dying >&2; kill -9 $$\n")
    dying.chmod(0o755)
    configure(vault)
    vault.create_role("scripts", "killed", create=[str(dying)], revoke=[NOOP])
    with pytest.raises(EngineError) as caught:
        vault.issue("scripts", "killed")
    assert "was killed by SIGKILL; stderr: dying" in caught.value.message


def test_a_command_kept_in_a_lease_runs_only_while_the_operator_allows_it(
    vault, userdir, configure, script, tmp_path, clock, operator_settings
):
    configure(vault, environment=userdir.environment())
    vault.create_role("scripts", "plain", create=script("userdir.py"), revoke=script("userdir.py"))
    issued = vault.issue("scripts", "plain")
    vault.close()
    # The operator narrows the allowed directories and restarts: the revoke command sealed in the lease at
    # issue time is checked again before it runs, and refused.
    pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_custom])
    narrowed = Settings(command_dirs=(str(tmp_path / "commands"),))
    with Vault(tmp_path / "vault.db", plugin_manager=pm, clock=clock, start_worker=False, settings=narrowed) as again:
        with pytest.raises(InvalidConfig) as caught:
            again.revoke(issued.lease_id)
        assert "SCAIVAULT_COMMAND_DIRS" in caught.value.message
        assert issued.data["username"] in userdir.users()
    with Vault(
        tmp_path / "vault.db", plugin_manager=pm, clock=clock, start_worker=False, settings=operator_settings
    ) as restored:
        restored.revoke(issued.lease_id)
    assert userdir.users() == {}
