"""Targets for the custom engine's tests: a directory of users driven by real scripts, and a real webhook server.

Both live in the test's temporary directory or on a free loopback port and are gone afterwards.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import scaivault_custom
from scaivault_core import ManualClock, Settings, Vault, make_plugin_manager
from scaivault_core.leases import LeaseOptions
from scaivault_custom import SIGNATURE_HEADER, verify_signature

SOURCES = Path(__file__).parent / "scripts"
ROOT_PATH = "infra/custom/root"


def install_scripts(directory: Path) -> Path:
    """The test scripts as an operator installs them: executables in one directory, Python ones run by this
    interpreter (a ``#!`` line naming it), so a command's environment holds only what the engine gives it."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in SOURCES.iterdir():
        installed = directory / source.name
        if source.suffix == ".py":
            installed.write_text(f"#!{sys.executable}\n{source.read_text()}")
        else:
            shutil.copyfile(source, installed)
        installed.chmod(0o755)
    return directory


class UserDir:
    """The scripts' target: $USERS_DIR/users.json. ``cut()`` removes the directory from view (unreachable)."""

    def __init__(self, base: Path, scripts: Path, admin_token: str | None = None) -> None:
        self.command = [str(scripts / "userdir.py")]  # the script that acts on this directory
        self.path = base / "userdir"
        self.path.mkdir()
        self.admin_token = admin_token
        self._write({"admin_token": admin_token, "users": {}})

    def _write(self, state: dict) -> None:
        (self.path / "users.json").write_text(json.dumps(state))

    def state(self) -> dict:
        return json.loads((self.path / "users.json").read_text())

    def users(self) -> dict:
        return self.state()["users"]

    def login(self, name: str, password: str) -> bool:
        user = self.users().get(name)
        return user is not None and user["password"] == password

    def expiration(self, name: str) -> float | None:
        user = self.users().get(name)
        if user is None:
            return None
        return datetime.fromisoformat(user["expiration"].replace("Z", "+00:00")).timestamp()

    def cut(self) -> None:
        self.path.rename(self.path.with_name("userdir-away"))

    def restore(self) -> None:
        self.path.with_name("userdir-away").rename(self.path)

    def environment(self) -> dict:
        return {"USERS_DIR": str(self.path)}


class WebhookServer:
    """An operator's provisioning service: checks every signature, keeps users in memory.

    ``script`` queues canned answers per path (status, body, delay) for the failure tests; a body of
    None answers as usual, after the delay (a service that does its work late).
    """

    def __init__(self, key: str) -> None:
        self.key = key.encode()
        self.users: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.script: dict[str, list[tuple[int, str, float]]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        return self._server.server_address[:2]

    def url(self, path: str, address: tuple[str, int] | None = None) -> str:
        host, port = address or self.address
        return f"http://{host}:{port}/{path}"

    def start(self) -> WebhookServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int, dict | str]:
        if not verify_signature(self.key, headers.get(SIGNATURE_HEADER), body):
            return 401, {"error": "bad signature"}
        doc = json.loads(body)
        self.requests.append({"path": path, "headers": headers, "document": doc})
        if self.script.get(path):
            status, text, delay = self.script[path].pop(0)
            time.sleep(delay)
            if text is not None:
                return status, text.replace("PASSWORD", doc.get("password") or "")
        name = doc.get("name")
        if path == "/verify":
            return 200, {}
        if path == "/create":
            self.users[name] = {"password": doc["password"], "expiration": doc["expiration"]}
            return 200, {"username": name, "password": doc["password"], "handle": {"account": f"acct-{name}"}}
        if path == "/renew":
            if name not in self.users:
                return 404, {"error": "no such user"}
            self.users[name]["expiration"] = doc["expiration"]
            return 200, {}
        if path == "/revoke":
            self.users.pop(name, None)
            return 204, ""
        return 404, {"error": "no such path"}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = server.handle(self.path, dict(self.headers), body)
                payload = answer if isinstance(answer, str) else json.dumps(answer)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload.encode())))
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args):
                pass

        return Handler


@pytest.fixture(scope="session")
def scripts(tmp_path_factory):
    """The directory of installed test scripts (the operator allows commands from it)."""
    return install_scripts(tmp_path_factory.mktemp("scripts"))


@pytest.fixture
def userdir(tmp_path, scripts):
    return UserDir(tmp_path, scripts, admin_token="userdir-admin-token-7f3a9c")


@pytest.fixture
def webhook_server():
    server = WebhookServer("webhook-hmac-key-5d1e0b6a8c2f4e97").start()
    yield server
    server.stop()


@pytest.fixture
def clock():
    return ManualClock(start=float(int(time.time())))


@pytest.fixture
def commands(tmp_path):
    """A directory the operator allows commands in, for programs a test writes itself."""
    path = tmp_path / "commands"
    path.mkdir()
    return path


@pytest.fixture
def operator_settings(scripts, commands):
    """What the operator of these tests allows: the test scripts, and programs a test writes into ``commands``."""
    return Settings(command_dirs=(str(scripts), str(commands)))


@pytest.fixture
def vault(tmp_path, clock, operator_settings):
    pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_custom])
    vault = Vault(
        tmp_path / "vault.db",
        plugin_manager=pm,
        clock=clock,
        start_worker=False,
        lease_options=LeaseOptions(backoff_base=1.0, backoff_max=5.0, max_attempts=4),
        settings=operator_settings,
    )
    yield vault
    vault.close()


def configure(vault: Vault, *, root: dict | None = None, name: str = "scripts", **config) -> None:
    """Store ``root`` (if any) where the engine may read it, then create the custom engine."""
    if root is not None:
        vault.put_secret(ROOT_PATH, root)
        if "custom-root" not in {p.name for p in vault.list_policies()}:
            vault.create_policy("custom-root", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
        vault.bind_policy("custom-root", f"dynamic:{name}")
        config["root_credentials_path"] = ROOT_PATH
    vault.create_engine(name, "custom", config, default_ttl="1h", max_ttl="24h")


def process_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


# Tests run with --import-mode=importlib and cannot import this module: helpers are handed out as fixtures.


@pytest.fixture(name="script")
def _script(scripts):
    """``script(name, *args)``: the argument list that runs one of the installed test scripts."""
    return lambda name, *args: [str(scripts / name), *args]


@pytest.fixture(name="configure")
def _configure():
    return configure


@pytest.fixture(name="process_gone")
def _process_gone():
    return process_gone
