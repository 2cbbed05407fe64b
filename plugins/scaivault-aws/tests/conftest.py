"""Fixtures: moto's HTTP server as a real subprocess on a free loopback port, and vaults using it.

Two servers per test session, each reset before every test:

- `moto`: moto as it starts, without authentication (any key pair is accepted).
- `moto_enforcing`: IAM enforcement on. The first BOOTSTRAP_CALLS requests after each reset are
  unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT); they create an admin user with an inline
  allow-everything policy and its access key, which the tests use as the engine's root
  credentials. From then on moto checks signatures and evaluates IAM policies.

`make_vault` opens real `Vault`s on a store file in tmp_path with only this plugin loaded;
`add_engine` stores a moto account's root key pair and configures an `aws` engine on it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

import scaivault_aws
from scaivault_aws import AwsClients, AwsCredentials, AwsTarget, make_clients
from scaivault_core import ManualClock, Vault, make_plugin_manager
from scaivault_core.testing import free_port

HOST = "127.0.0.1"
REGION = "us-east-1"
# Unauthenticated requests granted after each reset of the enforcing server: CreateUser,
# PutUserPolicy, CreateAccessKey. An inline policy rather than the AWS-managed
# AdministratorAccess, which moto has only with MOTO_IAM_LOAD_MANAGED_POLICIES=true (slower start).
BOOTSTRAP_CALLS = 3
ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# Tests fail fast rather than wait on a dead endpoint: 1 s to connect, no retries.
FAST = {"connect_timeout": 1.0, "read_timeout": 15.0, "max_attempts": 1}


def _moto_server_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("moto_server")
    found = str(beside_python) if beside_python.exists() else shutil.which("moto_server")
    if not found:
        pytest.fail("moto_server not found: pip install 'moto[server]'")
    return [found]


class MotoServer:
    """A running `moto_server` subprocess and its control API (/moto-api/)."""

    def __init__(self, log_path: Path, env: dict[str, str]) -> None:
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, attempts: int = 3) -> None:
        """Start on a free port; retry on another port if that one got taken meanwhile."""
        for _ in range(attempts):
            port = free_port()
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [*_moto_server_command(), "-H", HOST, "-p", str(port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.env},
                )
            self.url = f"http://{HOST}:{port}"
            if self._wait_ready(timeout=30.0):
                return
            self.stop()
        pytest.fail(f"moto_server did not start; log: {self.log_path.read_text()[-2000:]}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return True
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        return False

    def _post(self, path: str, body: bytes = b"") -> bytes:
        # moto reads reset-auth's count from the raw body: a form content type would hide it.
        request = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.read()

    def reset(self) -> None:
        """Forget all state (users, roles, buckets, keys)."""
        self._post("/moto-api/reset")

    def reset_auth(self, unauthenticated_calls: int) -> None:
        """Let the next `unauthenticated_calls` requests through, then enforce IAM again."""
        self._post("/moto-api/reset-auth", str(unauthenticated_calls).encode())

    def stop(self) -> None:
        """Terminate the server and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class MotoAccount:
    """One test's view of a moto server: where it is, the root credentials, client helpers."""

    def __init__(self, server: MotoServer, root: AwsCredentials, enforcing: bool) -> None:
        self.server = server
        self.url = server.url
        self.root = root
        self.enforcing = enforcing
        self.target = AwsTarget(region=REGION, iam_endpoint=self.url, sts_endpoint=self.url, **FAST)
        self.clients: AwsClients = make_clients(self.target, root)

    def client(self, service: str, credentials: AwsCredentials | None = None) -> Any:
        """A plain boto3 client (s3, iam, sts...) signed with `credentials` (default: root)."""
        creds = credentials or self.root
        return boto3.session.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            region_name=REGION,
        ).client(
            service,
            endpoint_url=self.url,
            config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
        )

    def clients_for(self, credentials: AwsCredentials) -> AwsClients:
        """AwsClients of this server signed with other credentials."""
        return make_clients(self.target, credentials)

    @staticmethod
    def record_calls(client: Any, *, with_params: bool = False) -> list[Any]:
        """Record the API operations `client` sends from now on: names, or (name, params)."""
        calls: list[Any] = []
        prefix = client.meta.service_model.endpoint_prefix

        def record(model: Any, params: dict[str, Any], **_: Any) -> None:
            calls.append((model.name, dict(params)) if with_params else model.name)

        client.meta.events.register(f"provide-client-params.{prefix}", record)
        return calls


def _start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> MotoServer:
    server = MotoServer(tmp_path_factory.mktemp(name) / "moto.log", env)
    server.start()
    return server


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server without authentication, for the whole session."""
    server = _start(tmp_path_factory, "moto", {})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto_enforcing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """A moto server with IAM enforcement, for the whole session."""
    server = _start(tmp_path_factory, "moto-enforcing", {"INITIAL_NO_AUTH_ACTION_COUNT": str(BOOTSTRAP_CALLS)})
    yield server
    server.stop()


@pytest.fixture
def moto(moto_server: MotoServer) -> Iterator[MotoAccount]:
    """A freshly reset, non-enforcing moto; any key pair is accepted."""
    moto_server.reset()
    yield MotoAccount(moto_server, AwsCredentials("AKIAIOSFODNN7EXAMPLE", "not-checked"), False)
    moto_server.reset()


@pytest.fixture
def moto_enforcing(moto_enforcing_server: MotoServer) -> Iterator[MotoAccount]:
    """A freshly reset, enforcing moto whose root credentials are a bootstrapped admin's key."""
    server = moto_enforcing_server
    server.reset()
    server.reset_auth(BOOTSTRAP_CALLS)
    # Any key pair passes during the unauthenticated bootstrap calls.
    bootstrap = MotoAccount(server, AwsCredentials("AKIAIOSFODNN7EXAMPLE", "bootstrap"), True)
    iam = bootstrap.client("iam")
    iam.create_user(UserName="scaivault-admin")
    iam.put_user_policy(UserName="scaivault-admin", PolicyName="admin", PolicyDocument=json.dumps(ADMIN_POLICY))
    key = iam.create_access_key(UserName="scaivault-admin")["AccessKey"]
    root = AwsCredentials(key["AccessKeyId"], key["SecretAccessKey"])
    yield MotoAccount(server, root, True)
    server.reset()


@pytest.fixture
def spare_moto(tmp_path: Path) -> Iterator[MotoAccount]:
    """A moto server of this test's own, without enforcement; the test may stop it."""
    server = MotoServer(tmp_path / "spare-moto.log", {})
    server.start()
    yield MotoAccount(server, AwsCredentials("AKIAIOSFODNN7EXAMPLE", "not-checked"), False)
    server.stop()


@pytest.fixture
def unreachable_target() -> AwsTarget:
    """An AwsTarget whose IAM and STS endpoints point at a loopback port nobody listens on."""
    url = f"http://{HOST}:{free_port()}"
    return AwsTarget(region=REGION, iam_endpoint=url, sts_endpoint=url, **FAST)


# -- vaults ----------------------------------------------------------------------------------

ROOT_PATH = "infra/aws/test/admin"
ENGINE = "aws"


def aws_plugin_manager(*plugins: Any) -> Any:
    """A plugin manager with this plugin (or `plugins` instead) and no entry points."""
    return make_plugin_manager(load_entrypoints=False, plugins=list(plugins) or [scaivault_aws])


@pytest.fixture
def make_vault(tmp_path: Path) -> Iterator[Any]:
    """Open a Vault on tmp_path/vault.db (ManualClock, no worker unless asked); closed after."""
    opened: list[Vault] = []

    def open_vault(**options: Any) -> Vault:
        options.setdefault("plugin_manager", aws_plugin_manager())
        options.setdefault("clock", ManualClock())
        options.setdefault("start_worker", False)
        vault = Vault(tmp_path / "vault.db", **options)
        opened.append(vault)
        return vault

    yield open_vault
    for vault in opened:
        vault.close()


class Kit:
    """Helpers for engine tests (a fixture, since test modules cannot import one another)."""

    ENGINE = ENGINE
    ROOT_PATH = ROOT_PATH

    @staticmethod
    def config(account: MotoAccount | str, **overrides: Any) -> dict[str, Any]:
        """The guide's AWS engine config, pointed at a moto server (or any URL)."""
        url = account if isinstance(account, str) else account.url
        return {
            "region": REGION,
            "root_credentials_path": ROOT_PATH,
            "iam_endpoint": url,
            "sts_endpoint": url,
            **overrides,
        }

    @staticmethod
    def store_root(vault: Vault, credentials: AwsCredentials) -> None:
        """The root key pair at ROOT_PATH, readable by the engine's identity only."""
        vault.put_secret(
            ROOT_PATH, {"access_key_id": credentials.access_key_id, "secret_access_key": credentials.secret_access_key}
        )
        if not any(p.name == "aws-root" for p in vault.list_policies()):
            vault.create_policy("aws-root", [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}])
            vault.bind_policy("aws-root", f"dynamic:{ENGINE}")

    def add_engine(self, vault: Vault, account: MotoAccount, root: AwsCredentials | None = None, **config: Any) -> Any:
        """Store the root key pair and create engine `aws` (default_ttl 1h, max_ttl 48h)."""
        self.store_root(vault, root or account.root)
        return vault.create_engine(ENGINE, "aws", self.config(account, **config), default_ttl="1h", max_ttl="48h")

    @staticmethod
    def live_engine(vault: Vault) -> Any:
        """The AwsEngine object the vault uses for engine `aws`."""
        return vault._engines.live(ENGINE).engine

    @staticmethod
    def user_names(account: MotoAccount) -> list[str]:
        """Every IAM user in the account except the enforcing server's admin."""
        users = account.client("iam").list_users()["Users"]
        return sorted(u["UserName"] for u in users if u["UserName"] != "scaivault-admin")

    @staticmethod
    def credentials_of(data: dict[str, Any]) -> AwsCredentials:
        """A lease's data as AwsCredentials."""
        return AwsCredentials(
            data["access_key_id"],
            data["secret_access_key"],
            session_token=data.get("session_token"),
            principal_arn=data.get("arn"),
        )

    @staticmethod
    def error_code(call: Any, **kwargs: Any) -> str:
        """The AWS error code `call(**kwargs)` fails with."""
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            call(**kwargs)
        return caught.value.response["Error"]["Code"]


@pytest.fixture
def kit() -> Kit:
    """Engine test helpers."""
    return Kit()
