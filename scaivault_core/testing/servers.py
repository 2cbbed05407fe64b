"""Helpers for testing against a real ``scaivault server`` process (ours, and plugin authors').

``LiveServer`` initialises a store, runs the server as a subprocess on a free loopback port,
waits until it answers, and can stop, SIGKILL and restart it; with ``tls=True`` it serves HTTPS
with a throwaway CA's certificate (``testing.tls``), so the same tests can run over HTTPS.
``ThreadedServer`` serves an ASGI app in a thread of the test's own process. Both take a ``front_end``
(``FRONT_ENDS``: uvicorn's ``asgi``, or ``threads``), so a test can run against each.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from .ports import free_port
from .tls import LoopbackTLS

FRONT_ENDS = ("asgi", "threads")  # the values of the ``front_end`` setting


def scaivault_command() -> list[str]:
    """How to run the ``scaivault`` CLI of this interpreter's environment."""
    script = Path(sys.executable).with_name("scaivault")
    return [str(script)] if script.exists() else [sys.executable, "-m", "scaivault_core.cli"]


class ThreadedServer:
    """An ASGI app (``create_app(vault)``) served in a thread of this process, on a free port: by uvicorn, or
    with ``front_end="threads"`` by the threaded front end (with the app's vault's settings)."""

    def __init__(self, app: Any, front_end: str = "asgi") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._front: Any = None
        if front_end == "threads":
            import socket

            from ..rest.threads import FrontEnd

            sock = socket.create_server(("127.0.0.1", self.port))
            self._front = FrontEnd(app, app.state.vault.settings, sock)
            self._thread = threading.Thread(target=self._front.serve_forever, name="scaivault-test-server", daemon=True)
            return
        import uvicorn

        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, name="scaivault-test-server", daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while self._front is None and not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._front is not None:
            self._front.stop()
        else:
            self._server.should_exit = True
        self._thread.join(timeout=30)


class LiveServer:
    """A ``scaivault server`` subprocess on its own store (a SQLite file in ``directory``)."""

    def __init__(
        self,
        directory: Path,
        *,
        tls: bool = False,
        env: dict[str, str] | None = None,
        server_args: tuple[str, ...] = (),
        front_end: str | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.server_args = server_args  # more flags for ``scaivault server`` (e.g. its limits)
        self.front_end = front_end  # ``--front-end``; None: the setting's (the default, or the environment's)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = self.directory / "vault.db"
        self.port = free_port()
        self.tls = LoopbackTLS.create(self.directory / "tls") if tls else None
        self.env = {**os.environ, "SCAIVAULT_STORE": str(self.store), **(env or {})}
        for name in ("SCAIVAULT_ADDR", "SCAIVAULT_TOKEN", "SCAIVAULT_KEY"):
            if not env or name not in env:
                self.env.pop(name, None)
        self.process: subprocess.Popen[bytes] | None = None
        self.log = self.directory / "server.log"
        self.admin_token: str | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path | None:
        """The CA file a client trusts to reach this server over HTTPS (None over HTTP)."""
        return self.tls.ca if self.tls else None

    @property
    def verify(self) -> Any:
        """What an httpx client needs to trust this server."""
        return self.tls.client_context() if self.tls else True

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the CLI embedded on this server's store."""
        result = subprocess.run(
            [*scaivault_command(), *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"scaivault {args[0]} failed ({result.returncode}): {result.stderr.strip()}")
        return result

    def init(self) -> str:
        """``scaivault init``; returns the first admin token."""
        self.admin_token = json.loads(self.cli("init", "--format", "json").stdout)["admin_token"]
        return self.admin_token

    def start(self, timeout: float = 30.0) -> LiveServer:
        if self.admin_token is None and not self.store.exists():
            self.init()
        # Quiet (warnings up) unless the environment asks for a level: a test about logs sets SCAIVAULT_LOG_LEVEL.
        quiet = [] if self.env.get("SCAIVAULT_LOG_LEVEL") else ["--log-level", "warning"]
        args = [*scaivault_command(), "server", "--listen", f"127.0.0.1:{self.port}", *quiet, *self.server_args]
        if self.front_end:
            args += ["--front-end", self.front_end]
        if self.tls:
            args += ["--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key)]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        atexit.register(self.stop)  # never outlive the process that started it, even if nobody calls stop()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scaivault server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/v1/health", verify=self.verify, timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"scaivault server did not answer within {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        """SIGTERM and wait for a clean shutdown (SIGKILL if it hangs)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
