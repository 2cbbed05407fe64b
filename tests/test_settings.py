"""The operator's settings: one declaration, read from a TOML file, the environment and flags (each winning over
the one before), documented by a page generated from the code. Through the real ``scaivault`` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from scaivault_core import Settings
from scaivault_core.crypto import encode_key, new_key
from scaivault_core.settings import markdown
from scaivault_core.testing.ports import free_port
from scaivault_core.testing.servers import scaivault_command
from scaivault_core.testing.waiting import wait_until

DOCS = Path(__file__).resolve().parents[1] / "docs"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    return subprocess.run(
        [*scaivault_command(), *args],
        env={**clean, "SCAIVAULT_HOME": "/nonexistent", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def write_config(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_configuration_page_is_generated_from_the_settings_class():
    assert (DOCS / "configuration.md").read_text() == markdown(), (
        "docs/configuration.md is stale: run scripts/configuration-page"
    )
    for variable in (
        "SCAIVAULT_STORE",
        "SCAIVAULT_KEY",
        "SCAIVAULT_LISTEN",
        "SCAIVAULT_TLS_CERT",
        "SCAIVAULT_CLAIM_TIMEOUT",
    ):
        assert f"`{variable}`" in markdown()


def test_a_flag_wins_over_the_environment_which_wins_over_the_config_file(tmp_path):
    config = write_config(tmp_path / "scaivault.toml", f'store = "{tmp_path / "from-file.db"}"\n')
    assert run("--config", str(config), "init").returncode == 0
    assert (
        run("init", env={"SCAIVAULT_CONFIG": str(config), "SCAIVAULT_STORE": str(tmp_path / "from-env.db")}).returncode
        == 0
    )
    assert (
        run(
            "--config",
            str(config),
            "--store",
            str(tmp_path / "from-flag.db"),
            "init",
            env={"SCAIVAULT_STORE": str(tmp_path / "elsewhere.db")},
        ).returncode
        == 0
    )
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["from-env.db", "from-file.db", "from-flag.db"]


def test_an_unknown_key_or_a_bad_value_in_the_file_is_named(tmp_path):
    typo = write_config(tmp_path / "typo.toml", 'listne = "0.0.0.0:8200"\n')
    done = run("--config", str(typo), "plugins")
    assert done.returncode == 1
    assert "Error (invalid_config): " in done.stderr and "unknown setting 'listne'" in done.stderr

    bad = write_config(tmp_path / "bad.toml", 'header_timeout = "soon"\n')
    done = run("--config", str(bad), "server")
    assert done.returncode == 1 and "header_timeout (in " in done.stderr and "must be a duration" in done.stderr

    broken = write_config(tmp_path / "broken.toml", "store = \n")
    done = run("--config", str(broken), "plugins")
    assert done.returncode == 1 and "is not valid TOML" in done.stderr


def test_a_key_in_the_file_only_when_no_one_else_can_read_it(tmp_path):
    key = encode_key(new_key())
    store = tmp_path / "vault.db"
    shared = write_config(tmp_path / "shared.toml", f'store = "{store}"\nkey = "{key}"\n', mode=0o644)
    done = run("--config", str(shared), "init")
    assert done.returncode == 1 and "holds the secret 'key' but others may read it" in done.stderr
    assert key not in done.stderr and not store.exists()

    private = write_config(tmp_path / "private.toml", f'store = "{store}"\nkey = "{key}"\n')
    assert run("--config", str(private), "init").returncode == 0
    assert not store.with_suffix(".key").exists()  # the store is sealed under the file's key, not a new key file
    assert run("--config", str(private), "secrets", "put", "app/db", "password=s3cret").returncode == 0
    without = run("--store", str(store), "secrets", "get", "app/db")
    assert without.returncode == 1 and "invalid_config" in without.stderr


def test_secrets_stay_out_of_the_repr():
    settings = Settings(key="a-vault-key", token="a-bearer-token")
    assert "a-vault-key" not in repr(settings) and "a-bearer-token" not in repr(settings)


def test_every_server_flag_has_a_variable_and_a_config_key(tmp_path):
    """The server listens where the file says, unless the environment says otherwise."""
    store = tmp_path / "vault.db"
    assert run("--store", str(store), "init").returncode == 0
    file_port, env_port = free_port(), free_port()
    config = write_config(
        tmp_path / "server.toml",
        f'store = "{store}"\nlisten = "127.0.0.1:{file_port}"\nlog_level = "warning"\nmax_connections = 64\n',
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    server = subprocess.Popen(
        [*scaivault_command(), "server"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={
            **clean,
            "SCAIVAULT_CONFIG": str(config),
            "SCAIVAULT_LISTEN": f"127.0.0.1:{env_port}",
            "SCAIVAULT_LOG_LEVEL": "warning",
        },
    )
    try:

        def answers(port: int) -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(lambda: answers(env_port) or server.poll() is not None, timeout=60)
        assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
        assert not answers(file_port)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("SCAIVAULT_CLAIM_TIMEOUT", "0", "SCAIVAULT_CLAIM_TIMEOUT must be at least 1"),
        ("SCAIVAULT_FORMAT", "yaml", "SCAIVAULT_FORMAT is one of table, json"),
        ("SCAIVAULT_MAX_CONNECTIONS", "many", "SCAIVAULT_MAX_CONNECTIONS must be a whole number"),
    ],
)
def test_a_bad_variable_is_named(tmp_path, variable, value, message):
    done = run("--store", str(tmp_path / "vault.db"), "init", env={variable: value})
    assert done.returncode == 1 and message in done.stderr and "invalid_config" in done.stderr


@pytest.mark.parametrize("page", ["configuration.md", "deploy.md"])
def test_the_config_files_the_docs_show_are_accepted(tmp_path, page):
    blocks = re.findall(r"```toml\n(.*?)\n```", (DOCS / page).read_text(), re.S)
    assert blocks
    for number, block in enumerate(blocks):
        config = write_config(tmp_path / f"{number}.toml", block)
        done = run("--config", str(config), "plugins", env={"SCAIVAULT_LOAD_PLUGINS": ""})
        assert done.returncode == 0, f"{page} block {number}: {done.stderr}"
