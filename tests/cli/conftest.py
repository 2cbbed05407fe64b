"""CLI tests: the real `scaivault` console script, embedded on a local store or against a live server."""

from __future__ import annotations

import json
import os
import subprocess

import attrs
import pytest
from click.testing import CliRunner

from scaivault_core import make_plugin_manager
from scaivault_core.cli import cli
from scaivault_core.testing.servers import LiveServer, scaivault_command


class Runner:
    """Runs `scaivault ARGS` in-process (click's runner) with this mode's environment and the installed plugins.

    ``console=True`` runs the real console script in a subprocess instead (slower: it imports
    every plugin each time), to prove the entry point behaves the same.
    """

    def __init__(self, mode: str, env: dict[str, str], pm=None, console: bool = False) -> None:
        self.mode, self.env, self.pm, self.console = mode, env, pm, console

    def __call__(self, *args: str, expect: int = 0, input: str | None = None) -> Result:
        if self.console:
            done = subprocess.run(
                [*scaivault_command(), *args], env=self.env, capture_output=True, text=True, input=input, timeout=120
            )
            result = Result(done.returncode, done.stdout, done.stderr)
        else:
            env = {**{k: None for k in os.environ if k.startswith("SCAIVAULT_")}, **self.env}
            ran = CliRunner().invoke(cli, list(args), env=env, input=input, obj=self.pm)
            result = Result(ran.exit_code, ran.stdout, ran.stderr)
            if ran.exception is not None and not isinstance(ran.exception, SystemExit):
                raise ran.exception
        assert result.returncode == expect, (
            f"scaivault {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
        return result

    def with_env(self, **changes: str | None) -> Runner:
        """The same runner with some environment variables changed (None removes one)."""
        env = {**self.env, **{k: v for k, v in changes.items() if v is not None}}
        for name in [k for k, v in changes.items() if v is None]:
            env.pop(name, None)
        return Runner(self.mode, env, self.pm, self.console)

    def json_out(self, *args: str) -> dict:
        return json.loads(self(*args, "--format", "json").stdout)


@attrs.frozen
class Result:
    returncode: int
    stdout: str
    stderr: str


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env["SCAIVAULT_HOME"] = "/nonexistent-scaivault-home"  # never fall back to ~/.scaivault
    return env


@pytest.fixture(scope="session")
def plugin_manager():
    """The installed plugins, loaded once (what the console script loads on every run)."""
    return make_plugin_manager()


@pytest.fixture(params=["embedded", "remote"])
def scaivault(request, tmp_path, plugin_manager):
    """The CLI in one of its two modes, on a fresh vault; ``.admin_token`` is its first admin token.

    Its operator allows commands from ``tmp_path / "commands"`` (custom engines' scripts)."""
    commands = tmp_path / "commands"
    commands.mkdir()
    operator = {"SCAIVAULT_COMMAND_DIRS": str(commands)}
    if request.param == "embedded":
        runner = Runner(
            "embedded", {**_base_env(), "SCAIVAULT_STORE": str(tmp_path / "vault.db"), **operator}, plugin_manager
        )
        runner.admin_token = runner.json_out("init")["admin_token"]
        yield runner
        return
    server = LiveServer(tmp_path / "server", env=operator).start()
    runner = Runner(
        "remote", {**_base_env(), "SCAIVAULT_ADDR": server.url, "SCAIVAULT_TOKEN": server.admin_token}, plugin_manager
    )
    runner.admin_token = server.admin_token
    runner.server = server
    yield runner
    server.stop()


@pytest.fixture
def embedded(tmp_path, plugin_manager):
    """The CLI with a store path that does not exist yet."""
    return Runner("embedded", {**_base_env(), "SCAIVAULT_STORE": str(tmp_path / "new" / "vault.db")}, plugin_manager)


@pytest.fixture
def console(tmp_path):
    """The real console script, embedded on a store path that does not exist yet."""
    return Runner("embedded", {**_base_env(), "SCAIVAULT_STORE": str(tmp_path / "console" / "vault.db")}, console=True)
