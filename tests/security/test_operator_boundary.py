"""Code and files belong to the operator: no API caller makes the server run a program or write a file
it names, whatever it holds (issue 16, items 1 and 3).

Each attack names a program that would leave a marker file (and print the vault key) if it ran, or
a file the server must not touch; the operator's settings (``SCAIVAULT_COMMAND_DIRS``,
``SCAIVAULT_FILE_DIRS``) are the only way to allow one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from .conftest import ROOT_PATH, grant

ENGINES = "dynamic/engines"


def shell(marker: Path) -> list[str]:
    """What an attacker runs: proof of execution (a marker file) and the vault key on stderr."""
    return ["/bin/sh", "-c", f"touch {marker}; id >&2; cat $SCAIVAULT_STORE >&2; exit 1"]


def refused(response, field: str, setting: str | None = None) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and error["details"].get("field") == field, error
    if setting:
        assert setting in error["message"], error["message"]
    assert "uid=" not in response.text
    return error


def install(directory: Path, name: str, text: str) -> Path:
    """An operator's program in ``directory``: an executable run by this test's interpreter."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / name
    program.write_text(f"#!{sys.executable}\n{text}")
    program.chmod(0o755)
    return program


VERIFY_OK = "import sys; sys.stdin.read()\n"
CREATE_OK = (
    "import json, sys\nr = json.load(sys.stdin)\n"
    "print(json.dumps({'username': r['name'], 'password': r['password']}))\n"
)


# -- item 1: engine configuration runs code as the server ------------------------------------------


@pytest.mark.parametrize("who", ["engine creator", "admin"])
def test_creating_an_engine_runs_no_program_unless_the_operator_allows_it(server, tmp_path, who):
    live = server()  # the default: the operator allows no command at all
    marker = tmp_path / "ran"
    caller = (
        live.admin
        if who == "admin"
        else grant(live, "sa:mallory", [{"path_pattern": f"{ENGINES}/evil", "permissions": ["create"]}])
    )
    answer = caller.post("/v1/dynamic/engines", {"name": "evil", "type": "custom", "config": {"verify": shell(marker)}})
    refused(answer, "config.verify", "SCAIVAULT_COMMAND_DIRS")
    assert not marker.exists()
    assert live.admin.get(f"/v1/{ENGINES}/evil").status_code == 404


def escapes(allowed: Path, outside: Path) -> dict[str, list[str]]:
    """Ways to name a program outside ``allowed`` that an attacker tries once /bin/sh is refused."""
    link = allowed / "innocent"
    if not link.exists():
        link.symlink_to("/bin/sh")
    (outside / "tool").write_text('#!/bin/sh\ntouch "$0.ran"\n')
    (outside / "tool").chmod(0o755)
    return {
        "absolute path outside": ["/bin/sh"],
        "symlink inside to outside": [str(link)],
        "dot-dot out of the allowed directory": [f"{allowed}/../{outside.name}/tool"],
        "relative path": ["bin/sh"],
        "bare name found only on PATH": ["sh"],
        "sibling directory sharing the prefix": [f"{allowed}-evil/tool"],
    }


@pytest.mark.parametrize(
    "escape",
    [
        "absolute path outside",
        "symlink inside to outside",
        "dot-dot out of the allowed directory",
        "relative path",
        "bare name found only on PATH",
        "sibling directory sharing the prefix",
    ],
)
def test_an_allowed_directory_cannot_be_escaped(server, tmp_path, escape):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    install(allowed, "verify", VERIFY_OK)
    outside.mkdir()
    evil = tmp_path / "allowed-evil"
    install(evil, "tool", "open(__file__ + '.ran', 'w')\n")
    live = server(SCAIVAULT_COMMAND_DIRS=str(allowed))
    argv = escapes(allowed, outside)[escape]
    answer = live.admin.post("/v1/dynamic/engines", {"name": "evil", "type": "custom", "config": {"verify": argv}})
    refused(answer, "config.verify", "SCAIVAULT_COMMAND_DIRS" if escape != "relative path" else None)
    assert not (outside / "tool.ran").exists() and not (evil / "tool.ran").exists()
    # What the operator did allow works, named by its path or by its bare name.
    for verify in ([str(allowed / "verify")], ["verify"]):
        live.admin.ok("POST", "/v1/dynamic/engines", {"name": "good", "type": "custom", "config": {"verify": verify}})
        live.admin.ok("DELETE", f"/v1/{ENGINES}/good")


def test_a_role_command_runs_only_where_the_operator_allows(server, tmp_path):
    allowed = tmp_path / "allowed"
    install(allowed, "create", CREATE_OK)
    install(allowed, "revoke", VERIFY_OK)
    live = server(SCAIVAULT_COMMAND_DIRS=str(allowed))
    live.admin.ok("POST", "/v1/dynamic/engines", {"name": "scripts", "type": "custom", "config": {}})
    mallory = grant(
        live,
        "sa:mallory",
        [{"path_pattern": f"{ENGINES}/scripts/roles/*", "permissions": ["create", "update", "read"]}],
    )
    marker = tmp_path / "ran"
    for field in ("create", "revoke", "renew"):
        role = {
            "name": f"evil-{field}",
            "create": [str(allowed / "create")],
            "revoke": [str(allowed / "revoke")],
            field: shell(marker),
        }
        refused(mallory.post(f"/v1/{ENGINES}/scripts/roles", role), field, "SCAIVAULT_COMMAND_DIRS")
    # A legitimate role, then an update that swaps its command for a shell.
    mallory.ok("POST", f"/v1/{ENGINES}/scripts/roles", {"name": "deploy", "create": ["create"], "revoke": ["revoke"]})
    refused(
        mallory.put(f"/v1/{ENGINES}/scripts/roles/deploy", {"create": shell(marker), "revoke": ["revoke"]}),
        "create",
        "SCAIVAULT_COMMAND_DIRS",
    )
    issued = mallory.ok("POST", f"/v1/{ENGINES}/scripts/creds/deploy", {})
    assert issued["data"]["username"].startswith("v_deploy_")
    mallory.ok("DELETE", f"/v1/dynamic/leases/{issued['lease_id']}")
    assert not marker.exists()


@pytest.mark.parametrize(
    "variable",
    [
        "PATH",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "BASH_ENV",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PERL5OPT",
        "NODE_OPTIONS",
        "GCONV_PATH",
        "ld_preload",
    ],
)
def test_the_environment_cannot_change_how_programs_load(server, tmp_path, variable):
    allowed = tmp_path / "allowed"
    install(allowed, "verify", VERIFY_OK)
    live = server(SCAIVAULT_COMMAND_DIRS=str(allowed))
    config = {"verify": ["verify"], "environment": {variable: str(tmp_path / "evil")}}
    error = refused(
        live.admin.post("/v1/dynamic/engines", {"name": "evil", "type": "custom", "config": config}),
        "config.environment",
    )
    assert variable in error["message"]


def test_the_working_directory_is_the_operators_too(server, tmp_path):
    allowed = tmp_path / "allowed"
    install(allowed, "verify", VERIFY_OK)
    live = server(SCAIVAULT_COMMAND_DIRS=str(allowed))
    for directory in ("/", str(tmp_path), f"{allowed}/.."):
        config = {"verify": ["verify"], "working_directory": directory}
        answer = live.admin.post("/v1/dynamic/engines", {"name": "evil", "type": "custom", "config": config})
        refused(answer, "config.working_directory", "SCAIVAULT_COMMAND_DIRS")


def test_update_cannot_turn_an_engine_into_one_that_runs_commands(server, pg_engine, tmp_path):
    commands = tmp_path / "commands"
    live = server(SCAIVAULT_COMMAND_DIRS=str(commands))  # even where commands are allowed at all
    pg_engine(live)
    mallory = grant(
        live,
        "sa:mallory",
        [
            {"path_pattern": f"{ENGINES}/pg", "permissions": ["read", "update"]},
            {"path_pattern": ROOT_PATH, "permissions": ["read"]},
        ],
    )
    marker = tmp_path / "ran"
    before = live.admin.ok("GET", f"/v1/{ENGINES}/pg")
    install(commands, "allowed", "open(" + repr(str(marker)) + ", 'w')\n")
    answer = mallory.put(
        f"/v1/{ENGINES}/pg",
        {"type": "custom", "config": {"root_credentials_path": ROOT_PATH, "verify": [str(commands / "allowed")]}},
    )
    refused(answer, "type")
    mysql = dict(before["config"], plugin="mysql")
    refused(mallory.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": mysql}), "config.plugin")
    assert not marker.exists()
    assert live.admin.ok("GET", f"/v1/{ENGINES}/pg")["config"] == before["config"]


def test_an_engine_type_is_one_of_the_guides(server):
    live = server()
    answer = live.admin.post("/v1/dynamic/engines", {"name": "mq", "type": "mqtt", "config": {"plugin": "mqtt"}})
    assert answer.status_code == 400 and answer.json()["error"]["details"]["field"] == "type", answer.text


# -- item 3: an ssh engine's configurer writes any file the server can -------------------------------


def ssh_root(live, name: str = "ssh", permissions=("read", "create", "update")) -> None:
    live.admin.ok("PUT", "/v1/secrets/infra/ssh/ca", {"data": {}})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": f"{name}-ca", "rules": [{"path_pattern": "infra/ssh/ca", "permissions": list(permissions)}]},
    )
    live.admin.ok("POST", f"/v1/policies/{name}-ca/bindings", {"identity": f"dynamic:{name}"})


def ssh_engine(name: str = "ssh", **config) -> dict:
    return {
        "name": name,
        "type": "ssh",
        "config": {"root_credentials_path": "infra/ssh/ca", "generate_ca": True, **config},
    }


def test_an_ssh_engine_cannot_write_the_vault_key_or_an_authorized_keys_file(server, tmp_path):
    outputs = tmp_path / "ssh-out"
    outputs.mkdir()
    live = server(SCAIVAULT_FILE_DIRS=str(outputs))
    ssh_root(live)
    key_file = live.store.with_suffix(".key")
    authorized = tmp_path / "home" / ".ssh" / "authorized_keys"
    authorized.parent.mkdir(parents=True)
    authorized.write_text("ssh-ed25519 AAAA-the-owners-key owner\n")
    (outputs / "key-link").symlink_to(key_file)
    (outputs / "keys-link").symlink_to(authorized)
    originals = {key_file: key_file.read_bytes(), authorized: authorized.read_bytes()}
    mallory = grant(
        live,
        "sa:mallory",
        [
            {"path_pattern": f"{ENGINES}/ssh", "permissions": ["create", "update"]},
            {"path_pattern": "infra/ssh/ca", "permissions": ["read"]},
        ],
    )
    attempts = [
        ("krl_path", str(key_file)),
        ("krl_path", str(outputs / "key-link")),  # a symlink inside to outside
        ("krl_path", f"{outputs}/../{key_file.relative_to(tmp_path)}"),  # .. out of the allowed directory
        ("krl_path", f"{outputs}//..//{key_file.relative_to(tmp_path)}"),  # and spelled otherwise
        ("krl_path", "revoked.krl"),  # relative: where would it land?
        ("trusted_ca_keys_path", str(authorized)),
        ("trusted_ca_keys_path", str(outputs / "keys-link")),
    ]
    for field, path in attempts:
        config = {"krl_path": str(outputs / "revoked.krl"), field: path}
        for caller in (mallory, live.admin):
            refused(caller.post("/v1/dynamic/engines", ssh_engine(**config)), f"config.{field}")
    assert {path: path.read_bytes() for path in originals} == originals
    # Where the operator allows it, the same engine works; an update cannot move its files out again.
    mallory.ok(
        "POST",
        "/v1/dynamic/engines",
        ssh_engine(krl_path=str(outputs / "revoked.krl"), trusted_ca_keys_path=str(outputs / "ca.pub")),
    )
    assert (outputs / "revoked.krl").read_bytes().startswith(b"SSHKRL")
    for field, path in attempts:
        config = {
            "root_credentials_path": "infra/ssh/ca",
            "generate_ca": True,
            "krl_path": str(outputs / "revoked.krl"),
            field: path,
        }
        refused(mallory.put(f"/v1/{ENGINES}/ssh", {"type": "ssh", "config": config}), f"config.{field}")
    assert {path: path.read_bytes() for path in originals} == originals


def test_with_no_file_directories_no_engine_names_a_file(server, tmp_path):
    live = server()
    ssh_root(live)
    refused(
        live.admin.post("/v1/dynamic/engines", ssh_engine(krl_path=str(tmp_path / "revoked.krl"))),
        "config.krl_path",
        "SCAIVAULT_FILE_DIRS",
    )
    assert not (tmp_path / "revoked.krl").exists()


@pytest.mark.parametrize(
    "engine",
    [
        {"type": "database", "config": {"plugin": "redis", "host": "127.0.0.1", "tls": True, "tls_ca_file": "{key}"}},
        {"type": "azure", "config": {"ca_bundle": "{key}"}},
        {"type": "gcp", "config": {"ca_bundle": "{key}"}},
    ],
    ids=["redis tls_ca_file", "azure ca_bundle", "gcp ca_bundle"],
)
def test_files_an_engine_reads_are_the_operators_too(server, tmp_path, engine):
    live = server(SCAIVAULT_FILE_DIRS=str(tmp_path / "allowed"))
    live.admin.ok("PUT", "/v1/secrets/infra/x/root", {"data": {"username": "u", "password": "p"}})
    live.admin.ok(
        "POST", "/v1/policies", {"name": "x-root", "rules": [{"path_pattern": "infra/x/root", "permissions": ["read"]}]}
    )
    live.admin.ok("POST", "/v1/policies/x-root/bindings", {"identity": "dynamic:reader"})
    field = next(k for k, v in engine["config"].items() if v == "{key}")
    config = {**engine["config"], field: str(live.store.with_suffix(".key")), "root_credentials_path": "infra/x/root"}
    refused(
        live.admin.post("/v1/dynamic/engines", {"name": "reader", "type": engine["type"], "config": config}),
        f"config.{field}",
        "SCAIVAULT_FILE_DIRS",
    )


def test_a_generated_ca_is_stored_only_with_a_grant_to_write_it(server, tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    live = server(SCAIVAULT_FILE_DIRS=str(outputs))
    ssh_root(live, permissions=("read",))  # the engine may read its root path, not write it
    answer = live.admin.post("/v1/dynamic/engines", ssh_engine(krl_path=str(outputs / "revoked.krl")))
    error = refused(answer, "config.root_credentials_path")
    assert error["details"]["missing_grant"] == {
        "identity": "dynamic:ssh",
        "path": "infra/ssh/ca",
        "permission": "update",
    }
    assert [v["version"] for v in live.admin.ok("GET", "/v1/secrets/infra/ssh/ca/versions")["versions"]] == [1]


def test_narrowed_settings_apply_at_restart_with_a_clear_message(server, tmp_path):
    outputs = tmp_path / "ssh-out"
    outputs.mkdir()
    live = server(SCAIVAULT_FILE_DIRS=str(outputs))
    ssh_root(live)
    live.admin.ok("POST", "/v1/dynamic/engines", ssh_engine(krl_path=str(outputs / "revoked.krl")))
    live.admin.ok(
        "POST", f"/v1/{ENGINES}/ssh/roles", {"name": "deploy", "allowed_users": ["deploy"], "default_user": "deploy"}
    )
    live.stop()
    del live.env["SCAIVAULT_FILE_DIRS"]  # the operator takes the permission back
    live.start()
    answer = live.admin.post(f"/v1/{ENGINES}/ssh/creds/deploy", {"generate_key": True})
    refused(answer, "config.krl_path", "SCAIVAULT_FILE_DIRS")
    # What is stored stays readable, so whoever fixes it sees what to fix.
    assert live.admin.ok("GET", f"/v1/{ENGINES}/ssh")["config"]["krl_path"] == str(outputs / "revoked.krl")
    assert live.admin.ok("GET", f"/v1/{ENGINES}/ssh/roles/deploy")["allowed_users"] == ["deploy"]
    live.stop()
    live.env["SCAIVAULT_FILE_DIRS"] = str(outputs)
    live.start()
    assert live.admin.ok("POST", f"/v1/{ENGINES}/ssh/creds/deploy", {"generate_key": True})["lease_id"]
    live.admin.ok("POST", "/v1/dynamic/leases/revoke-prefix", {"prefix": "lease_", "engine": "ssh"})
