"""The walkthrough through the CLI, embedded and remote, against the real PostgreSQL; failures and output."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from scaivault_core import hookimpl, make_plugin_manager
from scaivault_core.cli import HIDDEN, add_plugin_commands, cli
from scaivault_core.testing import readonly_role

ROLE = readonly_role()


def configure(scaivault, pg_database, tmp_path):
    """Root secret, its policy and binding, engine "pg", role "readonly": the guide's steps 1-3."""
    root_password = "root-pw-" + tmp_path.name[-6:]
    out = scaivault("secrets", "put", "infra/pg/root", "username=postgres", f"password={root_password}")
    assert root_password not in out.stdout
    scaivault("policy", "create", "pg-root", "--rule", "infra/pg/root=read,rotate")
    scaivault("policy", "bind", "pg-root", "dynamic:pg")
    engine = scaivault.json_out(
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
        "--default-ttl",
        "1h",
        "--max-ttl",
        "24h",
    )
    assert engine["config"]["plugin"] == "postgresql"
    (tmp_path / "readonly.json").write_text(json.dumps(ROLE))
    role = scaivault.json_out(
        "role", "create", "pg", "readonly", "--body", f"@{tmp_path / 'readonly.json'}", "--max-ttl", "8h"
    )
    assert role["max_ttl"] == "8h" and role["creation_statements"] == ROLE["creation_statements"]
    return root_password


def test_walkthrough(scaivault, pg_database, pg_role_exists, tmp_path):
    root_password = configure(scaivault, pg_database, tmp_path)

    hidden = scaivault("secrets", "get", "infra/pg/root")
    assert root_password not in hidden.stdout and HIDDEN in hidden.stdout
    shown = scaivault.json_out("secrets", "get", "infra/pg/root", "--reveal")
    assert shown["data"] == {"username": "postgres", "password": root_password}

    listing = scaivault("engine", "list")
    assert listing.stdout.splitlines()[0].split() == ["NAME", "TYPE", "DEFAULT_TTL", "MAX_TTL", "MAX_LEASES"]
    assert listing.stdout.splitlines()[1].split() == ["pg", "database", "1h", "24h", "-"]
    assert scaivault.json_out("engine", "show", "pg")["config"]["root_credentials_path"] == "infra/pg/root"
    assert [r["name"] for r in scaivault.json_out("role", "list", "pg")["roles"]] == ["readonly"]

    creds = scaivault.json_out("creds", "pg", "readonly", "--ttl", "2h", "--metadata", '{"purpose": "nightly report"}')
    assert creds["lease_duration"] == "2h" and set(creds["data"].values()) == {HIDDEN}
    lease_id = creds["lease_id"]
    revealed = scaivault.json_out("creds", "pg", "readonly", "--reveal")
    with psycopg.connect(revealed["data"]["connection_url"]) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == revealed["data"]["username"]

    shown = scaivault.json_out("lease", "show", lease_id)
    assert shown["state"] == "active" and shown["metadata"] == {"purpose": "nightly report"}
    username = shown["subject"]
    assert pg_role_exists(username)
    table = scaivault("lease", "list", "--engine", "pg").stdout
    assert lease_id in table and table.splitlines()[0].startswith("LEASE_ID")
    assert {lease["lease_id"] for lease in scaivault.json_out("lease", "list", "--all", "--limit", "1")["leases"]} == {
        lease_id,
        revealed["lease_id"],
    }
    renewed = scaivault.json_out("lease", "renew", lease_id, "--increment", "1h")
    assert renewed["capped"] is False

    assert scaivault("lease", "revoke", lease_id).stdout.strip() == f"Revoked {lease_id}."
    assert not pg_role_exists(username)
    result = scaivault.json_out("lease", "revoke-prefix", "lease_", "--engine", "pg")
    assert result == {"revoked": 1, "failed": [], "in_progress": 0}
    assert not pg_role_exists(revealed["data"]["username"])

    token = scaivault.json_out("token", "create", "sa:reporting", "--ttl", "1h")
    assert token["token"].startswith("svt.") and token["identity"] == "sa:reporting"
    tokens = scaivault("token", "list").stdout
    assert token["accessor"] in tokens and token["token"] not in tokens
    scaivault("token", "revoke", token["accessor"])

    plugins = scaivault.json_out("plugins")["plugins"]
    assert any(p["name"] == "scaivault-postgresql" and "database/postgresql" in p["engines"] for p in plugins)


def test_failures_name_the_error_code(scaivault, pg_database, tmp_path):
    missing = scaivault("creds", "nope", "readonly", expect=1)
    assert missing.stdout == "" and missing.stderr.startswith("Error (engine_not_found): No engine named 'nope'")
    as_json = scaivault("creds", "nope", "readonly", "--format", "json", expect=1)
    assert json.loads(as_json.stderr)["error"]["code"] == "engine_not_found"
    configure(scaivault, pg_database, tmp_path)
    too_long = scaivault("creds", "pg", "readonly", "--ttl", "9h", expect=1)
    assert too_long.stderr.startswith("Error (ttl_exceeds_max):")
    duplicate = scaivault("policy", "create", "pg-root", "--rule", "x=read", expect=1)
    assert duplicate.stderr.startswith("Error (conflict):")
    bad_rule = scaivault("policy", "create", "p2", "--rule", "read", expect=1)
    assert bad_rule.stderr.startswith("Error (invalid_request):")
    bad_json = scaivault("role", "create", "pg", "r2", "--body", "{not json", expect=1)
    assert bad_json.stderr.startswith("Error (invalid_request): body is not valid JSON")
    usage = scaivault("creds", expect=2)
    assert "Missing argument" in usage.stderr


def test_secret_from_stdin_is_never_echoed(scaivault):
    out = scaivault("secrets", "put", "app/key", "--data", "-", input='{"api_key": "k-123456789"}')
    assert "k-123456789" not in out.stdout + out.stderr
    assert scaivault.json_out("secrets", "get", "app/key", "--reveal")["data"] == {"api_key": "k-123456789"}


def test_init_shows_the_first_admin_token_once(embedded):
    not_yet = embedded("engine", "list", expect=1)
    assert not_yet.stderr.startswith("Error (invalid_config): No vault at") and "scaivault init" in not_yet.stderr
    first = embedded("init")
    token = first.stdout.split("keep it safe): ")[1].strip()
    assert token.startswith("svt.")
    again = embedded("init", "--format", "json", expect=1)
    assert json.loads(again.stderr)["error"]["code"] == "conflict"
    assert Path(embedded.env["SCAIVAULT_STORE"]).with_suffix(".key").exists()  # the key lives beside the store


def test_the_console_script(console):
    token = console.json_out("init")["admin_token"]
    assert token.startswith("svt.")
    failed = console("lease", "show", "lease_db_nope", expect=1)
    assert failed.stdout == "" and failed.stderr.startswith("Error (lease_not_found):")
    assert "scaivault-postgresql" in console("plugins").stdout
    assert console("--version").stdout.startswith("scaivault, version ")


def test_remote_mode_errors(scaivault):
    if scaivault.mode != "remote":
        pytest.skip("remote mode only")
    no_token = scaivault.with_env(SCAIVAULT_TOKEN=None)("engine", "list", expect=1)
    assert no_token.stderr.startswith("Error (unauthenticated):")
    assert scaivault.with_env(SCAIVAULT_TOKEN="svt.nope")("engine", "list", expect=1).stderr.startswith(
        "Error (unauthenticated):"
    )
    nobody = scaivault.json_out("token", "create", "sa:nobody")["token"]
    denied = scaivault.with_env(SCAIVAULT_TOKEN=nobody)("engine", "list", expect=1)
    assert denied.stderr.startswith("Error (permission_denied): sa:nobody has no policy granting 'list'")
    from scaivault_core.testing.servers import free_port

    down = scaivault.with_env(SCAIVAULT_ADDR=f"http://127.0.0.1:{free_port()}")("engine", "list", expect=1)
    assert down.stderr.startswith("Error (server_unreachable): Cannot reach the ScaiVault server at http://127.0.0.1:")


class CommandPlugin:
    @hookimpl
    def register_commands(self, cli):
        import click

        @cli.command("hello")
        def hello():
            """A plugin's command."""
            click.echo("hello from a plugin")


def test_plugins_add_commands():
    add_plugin_commands(make_plugin_manager(load_entrypoints=False, plugins=[CommandPlugin()]))
    try:
        result = CliRunner().invoke(cli, ["hello"])
        assert result.exit_code == 0 and result.output == "hello from a plugin\n"
    finally:
        cli.commands.pop("hello", None)


def test_plugins_new(tmp_path):
    result = CliRunner().invoke(cli, ["plugins", "new", "acme", "--dest", str(tmp_path)])
    try:
        import scaivault_core.plugin_scaffold  # noqa: F401
    except ImportError:
        assert result.exit_code == 1 and "no plugin template" in result.output
    else:
        assert result.exit_code == 0, result.output
        assert any(tmp_path.iterdir())
