"""The vault's files on disk (issue 17.6): created owner-only whatever the umask, refused when unsafe.

Before: under ``umask 000`` the home was created 0777; a store or key file of another user, or
one anybody could write, was used as it was; a link at ``vault.db`` was followed, and a linked key
file failed as ``internal``. The tests run as root, so "another user" is ``nobody`` (``os.chown``).
"""

from __future__ import annotations

import json
import os
import pwd
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from scaivault_core import InvalidConfig, Vault
from scaivault_core.testing import free_port
from scaivault_core.testing.servers import scaivault_command

NOBODY = pwd.getpwnam("nobody").pw_uid


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def run(args: list[str], home: Path, *, umask: int = 0o022, **env: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a fresh process with ``umask`` and ``SCAIVAULT_HOME=home`` (the default store)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    environ.update(SCAIVAULT_HOME=str(home), **env)
    return subprocess.run(
        [*scaivault_command(), *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(umask),
    )


@pytest.fixture
def home(tmp_path):
    """An initialised default home (``SCAIVAULT_HOME``): ``vault.db`` and ``vault.key``."""
    directory = tmp_path / "home"
    assert run(["init"], directory).returncode == 0
    return directory


def refused(home: Path, *fragments: str) -> str:
    """Opening the vault in ``home`` fails with ``invalid_config``, saying each of ``fragments``; its message."""
    with pytest.raises(InvalidConfig) as caught:
        Vault(home / "vault.db", start_worker=False)
    for fragment in fragments:
        assert fragment in caught.value.message, caught.value.message
    return caught.value.message


# -- created owner-only --------------------------------------------------------------------------


def test_under_umask_000_the_home_and_files_are_still_owner_only(tmp_path):
    home = tmp_path / "new" / "home"  # neither exists yet
    done = run(["init"], home, umask=0o000)
    assert done.returncode == 0, done.stderr
    assert mode(home) == mode(home.parent) == 0o700
    assert mode(home / "vault.db") == mode(home / "vault.key") == 0o600
    # While a vault is open, SQLite's -wal and -shm exist beside the store: owner-only too.
    script = (
        "import json, os, sys; from scaivault_core import Vault; v = Vault(sys.argv[1], start_worker=False); "
        "v.put_secret('app/x', {'a': 1}); "
        "home = sys.argv[2]; "
        "print(json.dumps({n: oct(os.stat(os.path.join(home, n)).st_mode & 0o777) for n in os.listdir(home)}))"
    )
    listing = subprocess.run(
        [sys.executable, "-c", script, str(home / "vault.db"), str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0),
    )
    assert listing.returncode == 0, listing.stderr
    modes = json.loads(listing.stdout)
    assert {"vault.db-wal", "vault.db-shm"} <= set(modes) and set(modes.values()) == {"0o600"}, modes


def test_a_key_file_given_by_path_is_created_owner_only_in_a_new_directory(tmp_path):
    key = tmp_path / "keys" / "vault.key"
    done = run(["--key-file", str(key), "init"], tmp_path / "home", umask=0o000)
    assert done.returncode == 0, done.stderr
    assert mode(key.parent) == 0o700 and mode(key) == 0o600


# -- refused when another user could change them ----------------------------------------------------


@pytest.mark.parametrize("name", ["vault.db", "vault.key"])
def test_a_file_owned_by_another_user_is_refused(home, name):
    os.chown(home / name, NOBODY, -1)
    refused(home, f"{home / name} belongs to nobody (uid {NOBODY})", "chown")


def test_a_home_owned_by_another_user_is_refused(home):
    os.chown(home, NOBODY, -1)
    refused(home, f"The store's directory {home} belongs to nobody")


@pytest.mark.parametrize("bits", [0o020, 0o002])
def test_a_store_others_can_write_is_refused(home, bits):
    os.chmod(home / "vault.db", 0o600 | bits)
    refused(home, "writable by users other than its owner", f"mode {0o600 | bits:04o}", "chmod 0600")


@pytest.mark.parametrize("bits", [0o020, 0o002])
def test_a_home_others_can_write_is_refused(home, bits):
    os.chmod(home, 0o700 | bits)
    refused(home, f"The store's directory {home} is writable", "chmod 0700")


@pytest.mark.parametrize("bits", [0o040, 0o004, 0o020, 0o001])
def test_a_key_file_anyone_else_can_access_at_all_is_refused(home, bits):
    os.chmod(home / "vault.key", 0o600 | bits)
    refused(home, f"The key file {home / 'vault.key'} is accessible to users other than its owner", "chmod 0600")


def test_a_store_only_the_group_can_read_is_accepted(home):
    os.chmod(home / "vault.db", 0o640)  # reading the store reveals no secret without the key
    Vault(home / "vault.db", start_worker=False).close()


# -- links are not followed ------------------------------------------------------------------------------


def test_a_link_at_the_store_path_is_refused_and_its_target_untouched(home, tmp_path):
    elsewhere = tmp_path / "elsewhere.db"
    sqlite3.connect(elsewhere).execute("CREATE TABLE mine (x)").connection.commit()
    before = elsewhere.read_bytes()
    (home / "vault.db").unlink()
    (home / "vault.db").symlink_to(elsewhere)
    refused(home, f"The store file {home / 'vault.db'} is a symbolic link", "give the real path")
    assert elsewhere.read_bytes() == before  # no migration, no WAL: the vault never opened it


@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_link_planted_as_the_stores_wal_or_shm_is_refused(home, tmp_path, suffix):
    planted = tmp_path / "planted"
    planted.write_bytes(b"")
    (home / f"vault.db{suffix}").symlink_to(planted)
    refused(home, f"{home / 'vault.db'}{suffix} is a symbolic link")


def test_a_linked_key_file_is_invalid_config_not_internal(home, tmp_path):
    real = tmp_path / "real.key"
    (home / "vault.key").rename(real)
    (home / "vault.key").symlink_to(real)
    done = run(["lease", "list"], home)
    assert done.returncode == 1
    assert done.stderr.startswith(f"Error (invalid_config): The key file {home / 'vault.key'} is a symbolic link")


def test_a_linked_home_is_refused(home, tmp_path):
    real = tmp_path / "real-home"
    home.rename(real)
    home.symlink_to(real)
    refused(home, f"The store's directory {home} is a symbolic link")


def test_the_server_refuses_to_start_on_an_unsafe_store(home):
    os.chmod(home / "vault.key", 0o644)
    done = run(["server", "--listen", f"127.0.0.1:{free_port()}"], home)
    assert done.returncode == 1 and "Error (invalid_config): The key file" in done.stderr
    assert "chmod 0600" in done.stderr
