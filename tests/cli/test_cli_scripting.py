"""What scripts and shells get from the real `scaivault` console script, embedded and remote: one value
with --field, Vault-style aliases, completion of engine, role and lease names, a quiet end when the
reader closes the pipe, --format on every command, and one-line errors for a missing token or an
unusable CA bundle."""

from __future__ import annotations

import json
import os
import subprocess

import click

from scaivault_core.cli import cli
from scaivault_core.testing.servers import scaivault_command

from .conftest import Runner


def real(scaivault: Runner) -> Runner:
    """The same CLI, as the console script in a subprocess (loading only the plugin these tests use)."""
    return Runner(scaivault.mode, {**scaivault.env, "SCAIVAULT_LOAD_PLUGINS": "scaivault-postgresql"}, console=True)


def with_engine(scaivault: Runner, pg_database: str) -> None:
    """Engine "pg" on the machine's PostgreSQL with role "ro" (a login role that can do nothing)."""
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
    )
    scaivault(
        "role",
        "create",
        "pg",
        "ro",
        "--set",
        'creation_statements=["CREATE ROLE \\"{{name}}\\" LOGIN"]',
        "--set",
        'revocation_statements=["DROP ROLE IF EXISTS \\"{{name}}\\""]',
    )


def complete(runner: Runner, words: str) -> list[str]:
    """What bash is offered for the last word of ``words`` (click's bash completion protocol)."""
    env = {
        **runner.env,
        "_SCAIVAULT_COMPLETE": "bash_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run(scaivault_command(), env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_field_aliases_and_completion(scaivault, pg_database, pg_role_exists):
    """In both modes: --field, an alias, and completion asking the store or the server."""
    with_engine(scaivault, pg_database)
    console = real(scaivault)
    lease_id = console("creds", "pg", "ro", "--ttl", "10m", "--field", "lease_id").stdout.strip()
    assert lease_id.startswith("lease_db_")
    assert console("lease", "lookup", lease_id, "--field", "state").stdout == "active\n"
    assert complete(console, "scaivault creds ") == ["pg"]
    assert complete(console, "scaivault role show pg ") == ["ro"]
    assert complete(console, f"scaivault lease revoke {lease_id[:-2]}") == [lease_id]
    scaivault("lease", "revoke", lease_id)
    assert complete(console, "scaivault lease revoke lease_") == []


def test_field_and_read_paths(embedded, pg_database, pg_role_exists):
    embedded("init")
    with_engine(embedded, pg_database)
    console = real(embedded)
    # Refused before anything is issued: a hidden value without --reveal, a field the answer lacks.
    refused = console("read", "dynamic/engines/pg/creds/ro", "--field", "data.password", expect=1)
    assert refused.stderr == "Error (invalid_request): data.password is a secret value: add --reveal to print it.\n"
    missing = console("creds", "pg", "ro", "--field", "nope", expect=1)
    assert missing.stderr.startswith("Error (invalid_request): The answer has no field 'nope' (fields here: lease_id,")
    assert embedded.json_out("lease", "list")["leases"] == []

    # `read PATH` of a credential path issues one, as `vault read` does; --reveal and --field pass through.
    username = console("read", "dynamic/engines/pg/creds/ro", "--reveal", "--field", "data.username").stdout.strip()
    assert pg_role_exists(username)
    leases = json.loads(console("lease", "list", "--state", "active", "--field", "leases").stdout)
    assert [lease["role"] for lease in leases] == ["ro"]
    lease_id = leases[0]["lease_id"]
    assert console("read", f"/v1/dynamic/leases/{lease_id}", "--field", "state").stdout == "active\n"
    assert console("lease", "renew", lease_id, "--increment", "5m", "--field", "capped").stdout == "false\n"
    assert json.loads(console("read", "dynamic/engines/pg/roles/ro", "--format", "json").stdout)["name"] == "ro"
    assert console("token", "lookup", "--field", "identity").stdout == "user:admin\n"
    assert complete(console, "scaivault lease list --engine pg --role ") == ["ro"]
    unknown = console("read", "database/creds/ro", expect=1)
    assert unknown.stderr.startswith("Error (invalid_request): `read database/creds/ro` stands for no command; PATH is")
    embedded("lease", "revoke", lease_id)
    assert not pg_role_exists(username)


def test_completion_without_a_vault_offers_nothing(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}, "SCAIVAULT_LOAD_PLUGINS": ""}
    nowhere = Runner("embedded", {**env, "SCAIVAULT_STORE": str(tmp_path / "none.db")})
    assert complete(nowhere, "scaivault engine show ") == []
    assert not (tmp_path / "none.db").exists()
    server_gone = Runner("remote", {**env, "SCAIVAULT_ADDR": "http://127.0.0.1:9", "SCAIVAULT_TOKEN": "svt.x"})
    assert complete(server_gone, "scaivault lease show ") == []


def test_a_closed_pipe_ends_quietly(tmp_path):
    """`scaivault audit --all | head -1`: the reader is gone before the command writes."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}, "SCAIVAULT_LOAD_PLUGINS": ""}
    env["SCAIVAULT_STORE"] = str(tmp_path / "vault.db")
    subprocess.run([*scaivault_command(), "init"], env=env, capture_output=True, check=True, timeout=120)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [*scaivault_command(), "audit", "--all"],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (141, "")


def test_remote_errors_for_scripts_are_one_line(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}, "SCAIVAULT_LOAD_PLUGINS": ""}
    console = Runner("remote", {**env, "SCAIVAULT_ADDR": "https://127.0.0.1:9"}, console=True)
    no_token = console("engine", "list", expect=1)
    assert no_token.stderr == (
        "Error (unauthenticated): No token for https://127.0.0.1:9: set SCAIVAULT_TOKEN (or pass --token).\n"
    )
    (tmp_path / "not-a-ca.pem").write_text("not a certificate\n")
    for bundle, reason in (
        (tmp_path / "missing.pem", "no such file or directory"),
        (tmp_path / "not-a-ca.pem", "it holds no PEM certificate"),
    ):
        bad = console.with_env(SCAIVAULT_TOKEN="svt.x", SCAIVAULT_CACERT=str(bundle))("engine", "list", expect=1)
        assert bad.stderr.splitlines() == [
            f"Error (invalid_config): Cannot use the CA bundle {bundle}: {reason}. Give the PEM file of the CA that "
            "signed the server's certificate (--ca-cert, SCAIVAULT_CACERT)."
        ]
    as_json = console.with_env(SCAIVAULT_TOKEN="svt.x", SCAIVAULT_CACERT=str(tmp_path / "missing.pem"))(
        "engine", "list", "--format", "json", expect=1
    )
    assert json.loads(as_json.stderr)["error"]["code"] == "invalid_config"


def _commands(command: click.Command, path: tuple[str, ...] = ()):
    if isinstance(command, click.Group):
        if command.invoke_without_command:
            yield path, command
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))
    else:
        yield path, command


def test_every_core_command_takes_format():
    core = [(path, cmd) for path, cmd in _commands(cli) if cmd.callback.__module__.startswith("scaivault_core.")]
    assert len(core) > 40
    missing = [" ".join(path) for path, cmd in core if not any("--format" in p.opts for p in cmd.params)]
    assert missing == []


def test_hand_made_commands_answer_json(embedded, tmp_path):
    console = Runner(embedded.mode, {**embedded.env, "SCAIVAULT_LOAD_PLUGINS": ""}, console=True)
    wrong = console("init", "--field", "token", expect=1)  # refused before the one-time token is made
    assert wrong.stderr == "Error (invalid_request): The answer has no field 'token' (fields here: admin_token).\n"
    token = json.loads(console("init", "--format", "json").stdout)["admin_token"]
    assert token.startswith("svt.")
    assert len(json.loads(console("key", "new", "--format", "json").stdout)["key"]) == 44
    assert console("key", "new", "--field", "key").stdout.strip().endswith("=")
    created = json.loads(console("plugins", "new", "acme", "--dest", str(tmp_path), "--format", "json").stdout)
    assert created["created"].startswith(str(tmp_path))
    assert "# HELP" in json.loads(console("metrics", "--format", "json").stdout)["text"]
    assert json.loads(console("audit", "verify", "--format", "json").stdout)["ok"] is True
