"""The plugin's REST endpoints and `scaivault ssh` commands (both CLI modes): the CA keys hosts trust and
the KRL, with their permission checks and errors, in the OpenAPI document, and end to end: a host
that fetches both through the CLI lets a leased certificate in until its lease is revoked."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import paramiko
import pytest
from click.testing import CliRunner

with warnings.catch_warnings():  # starlette nudges towards httpx2; httpx is what the core ships with
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import scaivault_ssh
from scaivault_core import Engine, Issued, ManualClock, Settings, Vault, hookimpl, make_plugin_manager
from scaivault_core.cli import add_plugin_commands, cli
from scaivault_core.rest import create_app
from scaivault_core.testing.servers import ThreadedServer, scaivault_command
from scaivault_ssh import generate_ca_key, generate_key_pair

CA = "/v1/dynamic/engines/ssh/ssh/ca"
KRL = "/v1/dynamic/engines/ssh/ssh/krl"


class OtherEngine(Engine):
    """An engine of another type, to ask the ssh endpoints about."""

    type = "database"
    plugin = "other"
    needs_root_credentials = False

    def verify(self):
        pass

    def create(self, request):
        return Issued(data={"username": request.username})

    def revoke(self, handle):
        pass


class OtherPlugin:
    @hookimpl
    def register_engines(self, register):
        register(OtherEngine)


@pytest.fixture
def store_dir(tmp_path_factory):
    """Where the vault's own files go: apart from tmp_path, the directory the operator lets engines write."""
    return tmp_path_factory.mktemp("store")


@pytest.fixture
def vault(tmp_path, store_dir):
    """A vault with the ssh plugin (and another engine type), engine `ssh` (a stored CA key) and role `deploy`."""
    pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_ssh, OtherPlugin()])
    vault = Vault(
        store_dir / "vault.db",
        plugin_manager=pm,
        clock=ManualClock(start=time.time()),
        start_worker=False,
        settings=Settings(file_dirs=(str(tmp_path),)),
    )
    vault.put_secret("infra/ssh/ca", {"private_key": scaivault_ssh.ca_private_key_text(generate_ca_key("ed25519"))})
    vault.create_policy("ssh-root", [{"path_pattern": "infra/ssh/ca", "permissions": ["read", "rotate"]}])
    vault.bind_policy("ssh-root", "dynamic:ssh")
    vault.create_engine(
        "ssh",
        "ssh",
        {"root_credentials_path": "infra/ssh/ca", "krl_path": str(tmp_path / "vault.krl")},
        default_ttl="1h",
        max_ttl="8h",
    )
    vault.create_role("ssh", "deploy", allowed_users=["deploy"], default_user="deploy")
    vault.create_engine("db", "database", {"plugin": "other"})
    yield vault
    vault.close()


@pytest.fixture
def client(vault):
    with TestClient(create_app(vault), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {vault.create_admin_token()}"
        yield client


def headers_for(vault, identity: str, rules: list[dict] | None = None) -> dict:
    if rules:
        vault.create_policy(identity.split(":")[1], rules)
        vault.bind_policy(identity.split(":")[1], identity)
    return {"Authorization": f"Bearer {vault.create_token(identity)['token']}"}


# -- REST ----------------------------------------------------------------------------------------------


def test_ca_endpoint_serves_the_trusted_ca_keys_lines(client, vault):
    engine = vault.engine("ssh")
    response = client.get(CA)
    assert response.status_code == 200 and response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == engine.trusted_ca_keys() == f"{engine.ca_public_key()}\n"
    assert response.text.startswith("ssh-ed25519 ") and "PRIVATE" not in response.text

    vault.rotate_secret("infra/ssh/ca", grace_period="1h")  # during the grace period hosts trust both CAs
    rotated = client.get(CA).text.splitlines()
    assert (
        len(rotated) == 2 and rotated[0] == response.text.strip() and rotated[1] == vault.engine("ssh").ca_public_key()
    )


def test_krl_endpoint_serves_the_current_krl(client, vault, tmp_path):
    caller = generate_key_pair("ed25519")
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    empty = client.get(KRL)
    assert empty.status_code == 200 and empty.headers["content-type"] == "application/octet-stream"
    assert empty.content.startswith(b"SSHKRL\n\0")
    vault.revoke(issued.lease_id)
    listed = client.get(KRL).content
    assert listed != empty.content and listed == vault.engine("ssh").krl()
    (tmp_path / "cert.pub").write_text(issued.data["signed_key"])
    (tmp_path / "fetched.krl").write_bytes(listed)
    check = subprocess.run(
        ["ssh-keygen", "-Q", "-f", str(tmp_path / "fetched.krl"), str(tmp_path / "cert.pub")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "REVOKED" in check.stdout  # ssh-keygen reads it and finds the certificate


def test_errors_and_permissions(client, vault):
    assert client.get(CA, headers={"Authorization": ""}).status_code == 401
    nobody = headers_for(vault, "sa:nobody")
    denied = client.get(KRL, headers=nobody)
    assert denied.status_code == 403 and denied.json()["error"]["details"]["path"] == "dynamic/engines/ssh"
    host = headers_for(vault, "sa:host", [{"path_pattern": "dynamic/engines/ssh", "permissions": ["read"]}])
    assert client.get(CA, headers=host).status_code == 200 and client.get(KRL, headers=host).status_code == 200
    missing = client.get("/v1/dynamic/engines/nope/ssh/ca")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "engine_not_found"
    other = client.get("/v1/dynamic/engines/db/ssh/krl")
    assert other.status_code == 400 and other.json()["error"]["message"] == "Engine 'db' is not an ssh engine."
    assert client.post(CA).status_code == 405


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/v1/openapi.json").json()["paths"]
    ca = paths["/v1/dynamic/engines/{engine}/ssh/ca"]["get"]
    krl = paths["/v1/dynamic/engines/{engine}/ssh/krl"]["get"]
    assert ca["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert krl["responses"]["200"]["content"] == {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
    }
    assert ca["security"] == krl["security"] == [{"bearer": []}]
    assert {"401", "403", "404"} <= set(ca["responses"])


def test_the_endpoints_conform_to_the_openapi_document(tmp_path, store_dir):
    """schemathesis over the ssh endpoints, with the engine named as the document's example (support-db)."""
    pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_ssh])
    with Vault(
        store_dir / "vault.db", plugin_manager=pm, start_worker=False, settings=Settings(file_dirs=(str(tmp_path),))
    ) as vault:
        vault.create_policy("ssh-root", [{"path_pattern": "infra/ssh/ca", "permissions": ["read", "create"]}])
        vault.bind_policy("ssh-root", "dynamic:support-db")
        vault.create_engine(
            "support-db",
            "ssh",
            {"root_credentials_path": "infra/ssh/ca", "generate_ca": True, "krl_path": str(tmp_path / "vault.krl")},
        )
        token = vault.create_admin_token()
        with ThreadedServer(create_app(vault)) as server:
            result = subprocess.run(
                [
                    str(Path(sys.executable).with_name("st")),
                    "run",
                    f"{server.url}/v1/openapi.json",
                    "--include-path-regex",
                    "/ssh/",
                    "-H",
                    f"Authorization: Bearer {token}",
                    "--checks",
                    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
                    "unsupported_method,ignored_auth,negative_data_rejection",
                    "--workers",
                    "1",
                    "--max-examples",
                    "30",
                    "--seed",
                    "1",
                ],
                capture_output=True,
                text=True,
                timeout=600,
                cwd=tmp_path,
            )
    assert result.returncode == 0, result.stdout[-10000:] + result.stderr[-3000:]
    assert "Tested: 2" in result.stdout  # both ssh operations, every phase that applies


# -- CLI, embedded and remote ---------------------------------------------------------------------------


@pytest.fixture
def ssh_commands(vault):
    """The global `scaivault` group with the plugin's commands, removed again afterwards."""
    add_plugin_commands(vault.pm)
    yield
    cli.commands.pop("ssh", None)


@pytest.fixture(params=["embedded", "remote"])
def run(request, vault, tmp_path, store_dir, ssh_commands):
    """`scaivault ARGS` in-process, embedded on the vault's store or against it served over HTTP."""
    with contextlib.ExitStack() as stack:
        env = {
            "SCAIVAULT_STORE": str(store_dir / "vault.db"),
            "SCAIVAULT_ADDR": None,
            "SCAIVAULT_TOKEN": None,
            "SCAIVAULT_FORMAT": None,
            "SCAIVAULT_FILE_DIRS": str(tmp_path),
        }  # the operator allows the KRL there
        if request.param == "remote":
            server = stack.enter_context(ThreadedServer(create_app(vault)))
            env.update(SCAIVAULT_ADDR=server.url, SCAIVAULT_TOKEN=vault.create_admin_token())

        def invoke(*args: str, expect: int = 0):
            result = CliRunner().invoke(cli, list(args), env=env, obj=vault.pm)
            assert result.exit_code == expect, (result.output, result.exception)
            return result

        invoke.mode = request.param
        yield invoke


def test_ssh_ca_command(run, vault, tmp_path):
    assert run("ssh", "ca", "ssh").stdout == vault.engine("ssh").trusted_ca_keys()
    target = tmp_path / "trusted_user_ca_keys"
    assert run("ssh", "ca", "ssh", "--output", str(target)).stdout == ""
    assert target.read_text() == vault.engine("ssh").trusted_ca_keys()
    assert run("ssh", "ca", "nope", expect=1).stderr.startswith("Error (engine_not_found):")
    assert run("ssh", "ca", "db", expect=1).stderr == "Error (invalid_request): Engine 'db' is not an ssh engine.\n"


def test_ssh_krl_command(run, vault, tmp_path):
    issued = vault.issue("ssh", "deploy", public_key=generate_key_pair("ed25519").public_key)
    vault.revoke(issued.lease_id)
    target = tmp_path / "host" / "revoked_keys.krl"
    target.parent.mkdir()
    run("ssh", "krl", "ssh", "--output", str(target))
    assert target.read_bytes() == vault.engine("ssh").krl() and target.stat().st_mode & 0o777 == 0o644
    assert run("ssh", "krl", "ssh", "--output", "-").stdout_bytes == target.read_bytes()
    assert "Missing option '--output'" in run("ssh", "krl", "ssh", expect=2).stderr
    assert run("--format", "json", "ssh", "krl", "nope", "--output", "-", expect=1).stderr.startswith(
        '{"error": {"code": "engine_not_found"'
    )


@pytest.mark.parametrize("mode", ["embedded", "remote"])
def test_the_commands_take_format_json_as_every_command_does(mode, vault, tmp_path, store_dir):
    """`scaivault ssh ca|krl --format json` in a real process: the text as `{"text"}`, the KRL as
    `{"krl_base64"}`, `--field` one value raw, a file written answers nothing, an error is the error JSON."""
    env = {k: v for k, v in os.environ.items() if k not in ("SCAIVAULT_ADDR", "SCAIVAULT_TOKEN", "SCAIVAULT_FORMAT")}
    env.update(SCAIVAULT_STORE=str(store_dir / "vault.db"), SCAIVAULT_FILE_DIRS=str(tmp_path))
    with contextlib.ExitStack() as stack:
        if mode == "remote":
            server = stack.enter_context(ThreadedServer(create_app(vault)))
            env.update(SCAIVAULT_ADDR=server.url, SCAIVAULT_TOKEN=vault.create_admin_token())

        def scaivault(*args: str, expect: int = 0) -> subprocess.CompletedProcess[bytes]:
            done = subprocess.run([*scaivault_command(), *args], env=env, capture_output=True, timeout=120)
            assert done.returncode == expect, done.stderr
            return done

        keys = vault.engine("ssh").trusted_ca_keys()
        assert json.loads(scaivault("ssh", "ca", "ssh", "--format", "json").stdout) == {"text": keys}
        assert scaivault("ssh", "ca", "ssh", "--field", "text").stdout.decode().rstrip("\n") == keys.rstrip("\n")
        krl = json.loads(scaivault("ssh", "krl", "ssh", "--output", "-", "--format", "json").stdout)
        assert base64.b64decode(krl["krl_base64"]) == vault.engine("ssh").krl()
        target = tmp_path / "trusted_user_ca_keys"
        assert scaivault("ssh", "ca", "ssh", "--output", str(target), "--format", "json").stdout == b""
        assert target.read_text() == keys
        refused = scaivault("ssh", "ca", "nope", "--format", "json", expect=1)
        assert json.loads(refused.stderr)["error"]["code"] == "engine_not_found" and refused.stdout == b""


def test_a_host_that_fetches_ca_and_krl_through_the_cli(sshd, run, vault):
    """What the commands are for: sshd trusts the CA and reads the KRL they wrote, at each login."""
    caller = generate_key_pair("ed25519")
    run("ssh", "ca", "ssh", "--output", str(sshd.trusted_ca_path))
    run("ssh", "krl", "ssh", "--output", str(sshd.krl_path))
    issued = vault.issue("ssh", "deploy", public_key=caller.public_key)
    key = sshd.client_key(caller.private_key, issued.data["signed_key"])
    with sshd.connect("deploy", key) as ssh:
        assert sshd.run(ssh, "id -un") == (0, "deploy\n")

    vault.revoke(issued.lease_id)
    with sshd.connect("deploy", key):  # the host's copy of the KRL is not current yet
        pass
    run("ssh", "krl", "ssh", "--output", str(sshd.krl_path))
    with pytest.raises(paramiko.AuthenticationException):
        sshd.connect("deploy", key)
    sshd.wait_for_log(r"Authentication key ED25519-CERT \S+ revoked by file")
