"""Root credentials go only where their readers send them (issue 16, item 2).

Whoever decides where an engine sends its root credential must hold ``read`` on it; the credential
goes into a connection URL as a value, never through filters or expressions; no target error
brings it back to a caller or a log in any form; and each failed change, and each read of a root
credential by an engine, is audited.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import threading
from urllib.parse import quote

import psycopg
import pytest

from scaivault_core import Vault
from scaivault_core.testing import free_port

from .conftest import ROOT_PATH, grant

ENGINES = "dynamic/engines"


class Listener:
    """A port an attacker controls: it only counts who connects (and what they sent first)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", self.port))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.received.append(conn.recv(4096))
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


@pytest.fixture
def listener():
    opened = Listener()
    yield opened
    opened.close()


def pg_url(port: int, database: str, host: str = "127.0.0.1") -> str:
    return f"postgresql://{{{{username}}}}:{{{{password}}}}@{host}:{port}/{database}"


def pg_config(url: str) -> dict:
    return {"plugin": "postgresql", "root_credentials_path": ROOT_PATH, "connection_url": url}


def denied(response, path: str = ROOT_PATH) -> dict:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "permission_denied" and error["details"]["path"] == path, error
    assert error["details"]["permission"] == "read"
    return error


def invalid_url(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_config" and error["details"]["field"] == "config.connection_url", error
    return error


def audit(live, operation: str) -> list:
    """The server's audit events of one operation (read from its store, as the operator can)."""
    with Vault(live.store, start_worker=False) as vault:
        return [event for _, event in vault.audit_log(operation=operation, limit=1000)]


def bind_root(live, identity: str) -> None:
    """A binding of the root policy to an engine name nobody configured yet (e.g. left from an older engine)."""
    live.admin.ok("POST", "/v1/policies/pg-root/bindings", {"identity": identity})


# -- the reproduction, and what an updater tries next ------------------------------------------------

REPLACE = '{{password|replace("%","%25")}}'


def test_the_issue_reproduction_is_refused_before_any_connection(server, pg_engine, scram_cluster, target_db, listener):
    live = server()
    pg_engine(live)
    mallory = grant(live, "sa:mallory", [{"path_pattern": f"{ENGINES}/pg", "permissions": ["read", "update"]}])
    before = live.admin.ok("GET", f"/v1/{ENGINES}/pg")["config"]
    for port in (scram_cluster.port, listener.port):
        url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/x{REPLACE}"
        answer = mallory.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": pg_config(url)})
        denied(answer)
        assert scram_cluster.password not in answer.text
        # Even a caller who may read the root credential cannot use the URL as a template.
        invalid_url(live.admin.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": pg_config(url)}))
    assert listener.received == []
    assert live.admin.ok("GET", f"/v1/{ENGINES}/pg")["config"] == before
    assert scram_cluster.password not in live.log.read_text()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/x{{password[0:]}}",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/x{{password|upper}}",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/x{{ password ~ '' }}",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/x{{ password|urlencode }}",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/x{% if password %}{{username}}{% endif %}",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/x{#{{password}}#}",
        "postgresql://{{username}}:{{password}}{{password}}@127.0.0.1:PORT/DB",
        "postgresql://{{password}}:{{password}}@127.0.0.1:PORT/DB",
        "postgresql://{{username}}:{{password}}@{{password}}.invalid:PORT/DB",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/{{password}}",
        "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/DB?application_name={{password}}",
        "postgresql://{{username}}@127.0.0.1:PORT/DB?password={{password}}&options=-c%20x.y={{password}}",
        "postgresql://{{username}}:x@{{password}}@127.0.0.1:PORT/DB",
    ],
)
def test_placeholders_are_values_in_their_place_only(server, pg_engine, scram_cluster, target_db, url):
    live = server()
    pg_engine(live)
    url = url.replace("PORT", str(scram_cluster.port)).replace("DB", target_db)
    answer = live.admin.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": pg_config(url)})
    invalid_url(answer)
    assert scram_cluster.password not in answer.text and scram_cluster.password.upper() not in answer.text
    assert scram_cluster.password not in live.log.read_text()


@pytest.mark.parametrize(
    "plugin, url",
    [
        ("postgresql", "postgresql://{{username}}:{{password}}@127.0.0.1:PORT/postgres"),
        ("mysql", "mysql://{{username}}:{{password}}@127.0.0.1:PORT/mysql"),
        ("redis", "redis://{{username}}:{{password}}@127.0.0.1:PORT/0"),
        ("mongodb", "mongodb://{{username}}:{{password}}@127.0.0.1:PORT/admin?directConnection=true"),
    ],
)
def test_no_engine_sends_a_root_credential_to_a_host_its_configurer_picks(
    server, pg_engine, target_db, listener, plugin, url
):
    live = server()
    pg_engine(live)
    url = url.replace("PORT", str(listener.port))
    # Creating a new engine on that root secret, whose identity some policy already binds...
    bind_root(live, "dynamic:evil")
    creator = grant(live, "sa:creator", [{"path_pattern": f"{ENGINES}/evil", "permissions": ["create"]}])
    config = {"plugin": plugin, "root_credentials_path": ROOT_PATH, "connection_url": url, "connect_timeout": 2}
    denied(creator.post("/v1/dynamic/engines", {"name": "evil", "type": "database", "config": config}))
    # ...or re-pointing the existing one, or deleting it and creating it again under its name.
    updater = grant(
        live, "sa:updater", [{"path_pattern": f"{ENGINES}/pg", "permissions": ["read", "update", "delete", "create"]}]
    )
    if plugin == "postgresql":
        denied(updater.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": config}))
    updater.ok("DELETE", f"/v1/{ENGINES}/pg")
    denied(updater.post("/v1/dynamic/engines", {"name": "pg", "type": "database", "config": config}))
    assert listener.received == []


def test_changing_an_engine_needs_read_on_the_old_and_new_root_but_ttls_do_not(
    server, pg_engine, scram_cluster, target_db
):
    live = server()
    pg_engine(live)
    live.admin.ok("PUT", "/v1/secrets/mallory/root", {"data": {"username": "postgres", "password": "hers"}})
    mallory = grant(
        live,
        "sa:mallory",
        [
            {"path_pattern": f"{ENGINES}/pg", "permissions": ["read", "update"]},
            {"path_pattern": "mallory/root", "permissions": ["read"]},
        ],
    )
    current = live.admin.ok("GET", f"/v1/{ENGINES}/pg")
    moved = dict(current["config"], root_credentials_path="mallory/root")
    denied(mallory.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": moved}))  # not the old one
    for key, value in (("connect_timeout", 9), ("username_prefix", "w_")):  # any key at all
        changed = dict(current["config"], **{key: value})
        denied(mallory.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": changed}))
    updated = mallory.ok(
        "PUT",
        f"/v1/{ENGINES}/pg",
        {"type": "database", "config": current["config"], "default_ttl": "30m", "max_ttl": "12h", "max_leases": 50},
    )
    assert (updated["default_ttl"], updated["max_ttl"], updated["max_leases"]) == ("30m", "12h", 50)


def test_a_refusal_says_the_same_whether_or_not_the_secret_exists(server, pg_engine, target_db):
    live = server()
    pg_engine(live)
    creator = grant(live, "sa:creator", [{"path_pattern": f"{ENGINES}/*", "permissions": ["create"]}])
    messages = []
    for name, path in (("a", ROOT_PATH), ("b", "infra/nothing/here")):
        config = dict(pg_config("postgresql://{{username}}:{{password}}@127.0.0.1:1/x"), root_credentials_path=path)
        error = denied(creator.post("/v1/dynamic/engines", {"name": name, "type": "database", "config": config}), path)
        messages.append(error["message"].replace(path, "PATH"))
    assert messages[0] == messages[1]


# -- roles that route the root credential -------------------------------------------------------------


def test_a_role_that_passes_the_root_credential_on_needs_read_on_it(server, tmp_path, listener):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    echo = allowed / "echo"  # an operator's create command that (carelessly) echoes what it was given
    echo.write_text(
        f"#!{sys.executable}\nimport json, sys\nr = json.load(sys.stdin)\n"
        "if r['operation'] == 'create':\n"
        "    print(json.dumps({'username': r['name'], 'password': r['password'], 'got': r}))\n"
    )
    echo.chmod(0o755)
    live = server(SCAIVAULT_COMMAND_DIRS=str(allowed))
    hmac_key = secrets.token_hex(32)
    live.admin.ok("PUT", "/v1/secrets/infra/custom/root", {"data": {"hmac_key": hmac_key, "token": "root-token-x9"}})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": "custom-root", "rules": [{"path_pattern": "infra/custom/root", "permissions": ["read"]}]},
    )
    live.admin.ok("POST", "/v1/policies/custom-root/bindings", {"identity": "dynamic:scripts"})
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines",
        {"name": "scripts", "type": "custom", "config": {"root_credentials_path": "infra/custom/root"}},
    )
    live.admin.ok("POST", f"/v1/{ENGINES}/scripts/roles", {"name": "plain", "create": ["echo"], "revoke": ["echo"]})
    author = grant(
        live, "sa:author", [{"path_pattern": f"{ENGINES}/scripts/roles/*", "permissions": ["create", "update", "read"]}]
    )
    passing = {"create": ["echo"], "revoke": ["echo"], "pass_root_credentials": True}
    denied(author.post(f"/v1/{ENGINES}/scripts/roles", {"name": "leak", **passing}), "infra/custom/root")
    denied(author.put(f"/v1/{ENGINES}/scripts/roles/plain", passing), "infra/custom/root")
    hook = f"http://127.0.0.1:{listener.port}/hook"
    denied(
        author.post(f"/v1/{ENGINES}/scripts/roles", {"name": "hook", "create_url": hook, "revoke_url": hook}),
        "infra/custom/root",
    )
    assert author.post(f"/v1/{ENGINES}/scripts/creds/leak", {}).status_code == 404
    assert author.post(f"/v1/{ENGINES}/scripts/creds/hook", {}).status_code == 404
    assert listener.received == []
    issued = author.ok("POST", f"/v1/{ENGINES}/scripts/creds/plain", {})
    assert "root_credentials" not in issued["data"]["got"] and "root-token-x9" not in json.dumps(issued)
    # Whoever may read the root credential decides: the admin may create that role.
    live.admin.ok("POST", f"/v1/{ENGINES}/scripts/roles", {"name": "leak", **passing})
    author.ok("DELETE", f"/v1/dynamic/leases/{issued['lease_id']}")


# -- no target error brings the root credential back, in any form -------------------------------------


@pytest.mark.parametrize("form", ["url-encoded", "upper case", "json-escaped"])
def test_a_root_password_echoed_by_the_target_in_another_form_is_masked(
    server, pg_engine, scram_cluster, target_db, form
):
    live = server()
    pg_engine(live)
    # A root user whose password reads differently in each form, as any generated password may.
    password = f"Pw%\"{secrets.token_hex(6)}'/@ x"
    user = f"sec_root_{secrets.token_hex(3)}"
    with psycopg.connect(scram_cluster.admin_url(target_db), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{user}\" LOGIN CREATEROLE PASSWORD '{password.replace(chr(39), chr(39) * 2)}'")
    live.admin.ok("PUT", f"/v1/secrets/{ROOT_PATH}", {"data": {"username": user, "password": password}})
    written = {
        "url-encoded": quote(password, safe=""),
        "upper case": password.upper(),
        "json-escaped": json.dumps(password)[1:-1],
    }[form]
    # The database named after the password: PostgreSQL says 'database "<it>" does not exist'.
    url = pg_url(scram_cluster.port, quote(written, safe=""))
    answer = live.admin.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": pg_config(url)})
    assert answer.status_code == 400, answer.text
    message = answer.json()["error"]["message"]
    assert "does not exist" in message and "***" in message, message
    for shown in (password, written, quote(password, safe=""), password.upper(), json.dumps(password)[1:-1]):
        assert shown not in answer.text and shown not in live.log.read_text()


# -- audit ----------------------------------------------------------------------------------------------


def test_failed_changes_and_root_reads_are_audited(server, pg_engine, target_db):
    live = server()
    pg_engine(live)
    mallory = grant(
        live,
        "sa:mallory",
        [
            {"path_pattern": f"{ENGINES}/pg", "permissions": ["read", "update"]},
            {"path_pattern": f"{ENGINES}/pg/roles/*", "permissions": ["create"]},
        ],
    )
    config = pg_config(f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:1/x{REPLACE}")
    denied(mallory.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": config}))
    assert mallory.post(f"/v1/{ENGINES}/pg/roles", {"name": "bad", "creation_statements": []}).status_code == 400
    invalid_url(live.admin.put(f"/v1/{ENGINES}/pg", {"type": "database", "config": config}))
    updates = [(e.identity, e.path, e.outcome) for e in audit(live, "engine.update")]
    assert ("sa:mallory", f"{ENGINES}/pg", "permission_denied") in updates
    assert ("user:admin", f"{ENGINES}/pg", "invalid_config") in updates
    roles = [(e.identity, e.path, e.outcome) for e in audit(live, "role.create")]
    assert ("sa:mallory", f"{ENGINES}/pg/roles/bad", "invalid_config") in roles

    live.admin.ok("POST", f"/v1/{ENGINES}/pg/creds/readonly", {"ttl": "5m"})
    reads = [e for e in audit(live, "secret.read") if e.identity == "dynamic:pg"]
    assert reads and all(e.path == ROOT_PATH and e.details.get("version") == 1 for e in reads)
    assert all("password" not in json.dumps(e.details) for e in reads)
    live.admin.ok("POST", "/v1/dynamic/leases/revoke-prefix", {"prefix": "lease_", "engine": "pg"})


def test_a_generated_ca_write_and_its_reads_are_the_engines_own_in_the_audit(server, tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    live = server(SCAIVAULT_FILE_DIRS=str(outputs))
    live.admin.ok("PUT", "/v1/secrets/infra/ssh/ca", {"data": {}})
    live.admin.ok(
        "POST",
        "/v1/policies",
        {"name": "ssh-ca", "rules": [{"path_pattern": "infra/ssh/ca", "permissions": ["read", "update"]}]},
    )
    live.admin.ok("POST", "/v1/policies/ssh-ca/bindings", {"identity": "dynamic:ssh"})
    live.admin.ok(
        "POST",
        "/v1/dynamic/engines",
        {
            "name": "ssh",
            "type": "ssh",
            "config": {
                "root_credentials_path": "infra/ssh/ca",
                "generate_ca": True,
                "krl_path": str(outputs / "revoked.krl"),
            },
        },
    )
    writes = [(e.identity, e.path) for e in audit(live, "secret.write")]
    assert ("dynamic:ssh", "infra/ssh/ca") in writes
    reads = {(e.identity, e.path, e.details.get("version")) for e in audit(live, "secret.read")}
    assert ("dynamic:ssh", "infra/ssh/ca", 2) in reads
