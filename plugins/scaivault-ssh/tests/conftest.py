"""Fixtures: a real OpenSSH sshd on a loopback port, trusting the CAs and KRL each test chooses.

The server is started once per session; `TrustedUserCAKeys` and `RevokedKeys` point at files in a
private directory, and sshd re-reads both at every login, so each test rewrites them freely.
"""

from __future__ import annotations

import contextlib
import io
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import attrs
import paramiko
import pytest

import scaivault_ssh
from scaivault_core import ManualClock, Settings, Vault, make_plugin_manager
from scaivault_core.testing import free_port
from scaivault_ssh import SSHEngine, ca_private_key_text, generate_ca_key, write_krl

#: Debian's openssh-server puts sshd here; another location can be given for a local run.
SSHD = Path(os.environ.get("SCAIVAULT_TEST_SSHD", "/usr/sbin/sshd"))
RUN_DIR = Path("/run/sshd")
#: `deploy` is the principal the tests sign for; `deploy2` is a second real account it must not reach.
USERS = ("deploy", "deploy2")
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items):
    """Every test here is `serial` (scripts/test runs those alone, after the rest): the login accounts
    and /run/sshd belong to the machine, and under pytest-xdist a second worker's session, ending
    first, removed them under this one's sshd (logins refused, connections reset)."""
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.serial)


_PARAMIKO_KEYS = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


def _unavailable(reason: str) -> None:
    """Skip on a developer machine; in CI (CI=true) a missing prerequisite is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


def _sshd_version() -> tuple[int, int]:
    out = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True).stderr
    match = re.search(r"OpenSSH_(\d+)\.(\d+)", out)
    return (int(match[1]), int(match[2])) if match else (0, 0)


@contextlib.contextmanager
def _run_dir():
    """sshd refuses to start without its privilege-separation directory."""
    created = not RUN_DIR.exists()
    if created:
        RUN_DIR.mkdir(mode=0o755, parents=True)
    try:
        yield
    finally:
        if created:
            with contextlib.suppress(OSError):
                RUN_DIR.rmdir()


@contextlib.contextmanager
def _accounts(names):
    """Create the login accounts that are missing, and remove exactly those afterwards."""
    created = []
    try:
        for name in names:
            try:
                pwd.getpwnam(name)
                continue
            except KeyError:
                pass
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
            created.append(name)
            # useradd leaves the account locked ('!'); with UsePAM no, sshd refuses locked accounts.
            subprocess.run(["usermod", "-p", "*", name], check=True)
        yield
    finally:
        for name in created:
            _remove_account(name)


def _remove_account(name: str) -> None:
    # userdel refuses (exit 8) while a process of the user lives; sshd sessions end within moments.
    for _ in range(50):
        result = subprocess.run(["userdel", "-r", name], capture_output=True, text=True)
        if result.returncode != 8:
            break
        time.sleep(0.1)
    if result.returncode not in (0, 6):  # 6: already gone
        warnings.warn(f"could not remove test account {name}: {result.stderr.strip()}", stacklevel=1)


def _sshd_config(d: Path, port: int, version: tuple[int, int]) -> str:
    lines = [
        f"Port {port}",
        "ListenAddress 127.0.0.1",
        f"HostKey {d / 'host_ed25519'}",
        f"PidFile {d / 'sshd.pid'}",
        f"TrustedUserCAKeys {d / 'trusted_user_ca_keys'}",
        f"RevokedKeys {d / 'revoked_keys.krl'}",
        "AuthorizedKeysFile none",
        "AuthorizedPrincipalsFile none",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "PermitRootLogin no",
        # Both accounts are allowed so that refusing deploy2 is the certificate's doing, not this.
        f"AllowUsers {' '.join(USERS)}",
        "LogLevel VERBOSE",
        "PrintMotd no",
        "X11Forwarding no",
        "LoginGraceTime 30",
    ]
    if version >= (9, 8):
        # Newer sshd penalises repeated failed logins from one address; tests fail on purpose.
        lines.append("PerSourcePenalties no")
    return "\n".join(lines) + "\n"


def _wait_for_banner(port: int, proc: subprocess.Popen, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            if s.recv(64).startswith(b"SSH-2.0-"):
                return
        time.sleep(0.05)


@attrs.define
class SshServer:
    """A running sshd and helpers to point it at CAs and a KRL and to log in with paramiko."""

    port: int
    directory: Path
    host_key: paramiko.PKey
    process: subprocess.Popen
    host: str = "127.0.0.1"
    _log_mark: int = 0

    @property
    def trusted_ca_path(self) -> Path:
        return self.directory / "trusted_user_ca_keys"

    @property
    def krl_path(self) -> Path:
        return self.directory / "revoked_keys.krl"

    @property
    def log_path(self) -> Path:
        return self.directory / "sshd.log"

    def trust(self, *ca_lines: str) -> None:
        """Make sshd trust exactly these CA public key lines."""
        self.trusted_ca_path.write_text("".join(f"{line}\n" for line in ca_lines))

    def revoke(self, krl: bytes) -> None:
        """Install this KRL as sshd's RevokedKeys."""
        write_krl(self.krl_path, krl)

    def reset(self) -> None:
        """Trust no CA, revoke nothing, forget an engine's revocation state, start a fresh log window."""
        self.trust()
        # An empty RevokedKeys file revokes nothing; a missing one would refuse every key.
        self.krl_path.write_bytes(b"")
        for suffix in (".json", ".lock"):
            self.krl_path.with_name(self.krl_path.name + suffix).unlink(missing_ok=True)
        self._log_mark = self.log_path.stat().st_size

    def log(self) -> str:
        """What sshd logged since the last reset."""
        with self.log_path.open("rb") as f:
            f.seek(self._log_mark)
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, pattern: str, timeout: float = 5) -> str:
        """Wait until sshd has logged a line matching `pattern` since the last reset; return it."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.log())
            if match:
                return match.group(0)
            if time.monotonic() > deadline:
                raise AssertionError(f"sshd never logged {pattern!r}; it logged:\n{self.log()}")
            time.sleep(0.05)

    def client_key(self, private_key: str, certificate: str | None = None) -> paramiko.PKey:
        """A paramiko key from OpenSSH private key text, carrying `certificate` if given."""
        for cls in _PARAMIKO_KEYS:
            with contextlib.suppress(paramiko.SSHException, ValueError):
                key = cls.from_private_key(io.StringIO(private_key))
                break
        else:
            raise ValueError("paramiko cannot read this private key")
        if certificate is not None:
            key.load_certificate(certificate)
        return key

    def connect(self, user: str, key: paramiko.PKey, timeout: float = 10) -> paramiko.SSHClient:
        """Log in as `user` with `key` (and its certificate); raises paramiko's error if refused."""
        client = paramiko.SSHClient()
        client.get_host_keys().add(f"[{self.host}]:{self.port}", self.host_key.get_name(), self.host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                self.host,
                port=self.port,
                username=user,
                pkey=key,
                look_for_keys=False,
                allow_agent=False,
                timeout=timeout,
                banner_timeout=timeout,
                auth_timeout=timeout,
            )
        except BaseException:
            client.close()
            raise
        return client

    def run(self, client: paramiko.SSHClient, command: str, pty: bool = False, timeout: float = 10):
        """Run `command` over an open login; returns (exit status, stdout text)."""
        channel = client.get_transport().open_session(timeout=timeout)
        try:
            channel.settimeout(timeout)
            if pty:
                channel.get_pty()
            channel.exec_command(command)
            output = channel.makefile("rb").read().decode("utf-8", "replace")
            return channel.recv_exit_status(), output
        finally:
            channel.close()


@pytest.fixture(scope="session")
def sshd_server():
    """A real sshd on a free 127.0.0.1 port, stopped (and its accounts removed) after the session."""
    if not SSHD.exists():
        _unavailable(f"{SSHD} is missing: apt-get install -y openssh-server")
    if os.geteuid() != 0:
        _unavailable("the sshd tests run as root: they start sshd and create login accounts")
    if shutil.which("useradd") is None:
        _unavailable("useradd is missing")
    with contextlib.ExitStack() as stack:
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scaivault-sshd-")))
        # sshd reads these files as root; the directory itself stays private.
        directory.chmod(0o700)
        stack.enter_context(_run_dir())
        stack.enter_context(_accounts(USERS))

        host_key = generate_ca_key("ed25519")
        host_key_path = directory / "host_ed25519"
        host_key_path.touch(mode=0o600)
        host_key_path.write_text(ca_private_key_text(host_key))
        paramiko_host_key = paramiko.Ed25519Key.from_private_key(io.StringIO(ca_private_key_text(host_key)))

        port = free_port()
        config = directory / "sshd_config"
        config.write_text(_sshd_config(directory, port, _sshd_version()))
        (directory / "trusted_user_ca_keys").write_text("")
        (directory / "revoked_keys.krl").write_bytes(b"")
        log_path = directory / "sshd.log"
        log_path.touch()
        check = subprocess.run([str(SSHD), "-t", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            pytest.fail(f"sshd -t rejected the test config: {check.stderr.strip()}", pytrace=False)

        log = stack.enter_context(log_path.open("ab"))
        process = subprocess.Popen(
            [str(SSHD), "-D", "-e", "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        stack.callback(_stop, process)
        _wait_for_banner(port, process, time.monotonic() + 15)
        if process.poll() is not None:
            pytest.fail(f"sshd exited at start: {log_path.read_text()[-2000:]}", pytrace=False)
        yield SshServer(port=port, directory=directory, host_key=paramiko_host_key, process=process)


def _children(pid: int) -> list[int]:
    """Process ids whose parent is `pid` (sshd's per-connection processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            # The command name may hold spaces; the parent pid follows its closing parenthesis.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def _stop(process: subprocess.Popen) -> None:
    """Stop the listener, then any connection process it left (all started by this fixture)."""
    children = _children(process.pid)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


@pytest.fixture
def sshd(sshd_server: SshServer) -> SshServer:
    """The session's sshd, reset to trust no CA and revoke nothing."""
    sshd_server.reset()
    return sshd_server


# -- vaults with the ssh engine ---------------------------------------------------------------------

ROOT_PATH = "infra/ssh/ca"


class SSHVaults:
    """Opens vaults on one test's database file and sets up ssh engines in them (tests import no helpers)."""

    root_path = ROOT_PATH

    def __init__(self, directory: Path, file_dirs: list[Path], store_dir: Path) -> None:
        self.directory, self.store_dir = directory, store_dir  # the vault's own files stay out of the file dirs
        self.settings = Settings(file_dirs=tuple(str(d) for d in file_dirs))  # where the operator lets engines write
        self.opened: list[Vault] = []

    def open(self, clock=None, path: Path | None = None) -> Vault:
        """A vault with the ssh plugin registered directly (entry points are tested on their own)."""
        pm = make_plugin_manager(load_entrypoints=False, plugins=[scaivault_ssh])
        vault = Vault(
            path or self.store_dir / "vault.db",
            plugin_manager=pm,
            clock=clock or ManualClock(start=time.time()),
            start_worker=False,
            settings=self.settings,
        )
        self.opened.append(vault)
        return vault

    @staticmethod
    def engine(vault: Vault, name: str = "ssh") -> SSHEngine:
        """The live engine object (what the REST/CLI helpers call `ca_public_key()` and `krl()` on)."""
        return vault._engines.live(name).engine

    def configure(
        self,
        vault: Vault,
        krl_path: Path | None = None,
        *,
        engine: str = "ssh",
        ca_key=None,
        root_path: str = ROOT_PATH,
        store_secret: bool = True,
        default_ttl: str = "1h",
        max_ttl: str = "8h",
        **config,
    ) -> SSHEngine:
        """Store the CA key at `root_path` (an empty secret when `ca_key` is None, for `generate_ca`),
        let `dynamic:<engine>` read and rotate it, create the engine; returns the engine object."""
        if store_secret:
            vault.put_secret(root_path, {"private_key": ca_private_key_text(ca_key)} if ca_key is not None else {})
        # create and update too: a generated CA key is stored there by the engine's own identity.
        vault.create_policy(
            f"{engine}-root", [{"path_pattern": root_path, "permissions": ["read", "rotate", "create", "update"]}]
        )
        vault.bind_policy(f"{engine}-root", f"dynamic:{engine}")
        krl_path = krl_path or self.directory / "revoked.krl"
        vault.create_engine(
            engine,
            "ssh",
            {"root_credentials_path": root_path, "krl_path": str(krl_path), **config},
            default_ttl=default_ttl,
            max_ttl=max_ttl,
        )
        return self.engine(vault, engine)

    @staticmethod
    def handle(vault: Vault, lease_id: str) -> dict:
        """The lease handle exactly as stored (decrypted with the vault's key), to inspect what is kept."""
        _, sealed = vault.store.get_lease(lease_id)
        return vault.keyring.decrypt_json(sealed, f"lease:{lease_id}")

    def close(self) -> None:
        for vault in self.opened:
            with contextlib.suppress(Exception):
                vault.close()


@pytest.fixture
def vaults(tmp_path, tmp_path_factory, request):
    """An `SSHVaults` on this test's temporary directory; every vault it opened is closed afterwards.

    Its vaults may write files there, and in the sshd's directory when the test uses the sshd."""
    file_dirs = [tmp_path]
    if "sshd" in request.fixturenames:
        file_dirs.append(request.getfixturevalue("sshd_server").directory)
    helper = SSHVaults(tmp_path, file_dirs, tmp_path_factory.mktemp("store"))
    yield helper
    helper.close()
