"""Backups and upgrades through the real ``scaivault`` command: snapshots of a SQLite store (taken while a server
runs), docs/deploy.md's pg_dump/pg_restore steps on the real PostgreSQL, the schema version a store records, and
``store status`` / ``migrate --dry-run``."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import stat
import subprocess
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from scaivault_core.testing.servers import LiveServer, scaivault_command
from scaivault_core.testing.waiting import wait_until

DEPLOY = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"
PG = "postgresql://postgres@127.0.0.1:5432"


def scaivault(*args: str, env: dict[str, str] | None = None, expect: int = 0) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    done = subprocess.run(
        [*scaivault_command(), *args],
        env={**clean, "SCAIVAULT_HOME": "/nonexistent", **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == expect, f"scaivault {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def as_json(*args: str, env: dict[str, str] | None = None) -> dict:
    return json.loads(scaivault(*args, "--format", "json", env=env).stdout)


def test_a_snapshot_is_taken_while_the_server_runs_and_restored_once_it_stops(tmp_path):
    server = LiveServer(tmp_path / "live").start()
    store = ["--store", str(server.store)]
    try:
        scaivault(*store, "secrets", "put", "app/before", "v=one")
        snapshot = tmp_path / "backup" / "vault.snapshot"
        snapshot.parent.mkdir()
        saved = as_json(*store, "snapshot", "save", str(snapshot))
        assert saved["schema_version"] >= 6 and stat.S_IMODE(snapshot.stat().st_mode) == 0o600
        again = scaivault(*store, "snapshot", "save", str(snapshot), expect=1)
        assert "Error (conflict): " in again.stderr and "already exists" in again.stderr

        refused = scaivault(*store, "snapshot", "restore", str(snapshot), expect=1)
        assert "has the store" in refused.stderr and "stop it" in refused.stderr
        scaivault(*store, "secrets", "put", "app/after", "v=two")
    finally:
        server.stop()

    scaivault(*store, "snapshot", "restore", str(snapshot))
    assert as_json(*store, "secrets", "get", "app/before", "--reveal")["data"] == {"v": "one"}
    assert "not_found" in scaivault(*store, "secrets", "get", "app/after", expect=1).stderr
    assert stat.S_IMODE(server.store.stat().st_mode) == 0o600

    elsewhere = tmp_path / "new" / "vault.db"  # restoring to a new place makes a private store there
    scaivault(
        "--store",
        str(elsewhere),
        "--key-file",
        str(server.store.with_suffix(".key")),
        "snapshot",
        "restore",
        str(snapshot),
    )
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600
    got = as_json(
        "--store",
        str(elsewhere),
        "--key-file",
        str(server.store.with_suffix(".key")),
        "secrets",
        "get",
        "app/before",
        "--reveal",
    )
    assert got["data"] == {"v": "one"}

    not_a_store = tmp_path / "notes.txt"
    not_a_store.write_text("hello")
    wrong = scaivault(*store, "snapshot", "restore", str(not_a_store), expect=1)
    assert "not a SQLite database" in wrong.stderr


@pytest.fixture
def pg_users(pg_database, pg_admin):
    """A prefix for this test's PostgreSQL users; any left over are dropped after."""
    prefix = "v_bk" + secrets.token_hex(3) + "_"
    yield prefix
    for (name,) in pg_admin.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix.replace("_", "\\_") + "%",)
    ).fetchall():
        pg_admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_a_restored_vault_still_revokes_every_lease_at_expiry(tmp_path, pg_database, pg_users, pg_role_exists):
    live = LiveServer(tmp_path / "live")
    live.init()
    live.cli("secrets", "put", "infra/pg/root", "username=postgres", "password=unused-with-trust")
    live.cli("policy", "create", "pg-root", "--rule", "infra/pg/root=read")
    live.cli("policy", "bind", "pg-root", "dynamic:pg")
    live.cli(
        "engine",
        "create",
        "pg",
        "--type",
        "database",
        "--set",
        "plugin=postgresql",
        "--set",
        f"connection_url=postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
        "--set",
        "root_credentials_path=infra/pg/root",
        "--set",
        f"username_prefix={pg_users}",
    )
    live.cli(
        "role",
        "create",
        "pg",
        "app",
        "--body",
        json.dumps(
            {
                "creation_statements": ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'"],
                "revocation_statements": ['DROP ROLE IF EXISTS "{{name}}"'],
            }
        ),
    )
    live.start()
    remote = {"SCAIVAULT_ADDR": live.url, "SCAIVAULT_TOKEN": live.admin_token}
    leases = [as_json("creds", "pg", "app", "--ttl", "15s", env=remote)["lease_id"] for _ in range(3)]
    users = [as_json("lease", "show", lease, env=remote)["subject"] for lease in leases]
    snapshot = tmp_path / "vault.snapshot"
    scaivault("--store", str(live.store), "snapshot", "save", str(snapshot))
    live.kill()  # a crash: the users stay on the target, the vault's record of them is in the snapshot
    assert all(pg_role_exists(user) for user in users), "the leases ended before the test could kill the server"

    restored = LiveServer(tmp_path / "restored", env={"SCAIVAULT_KEY_FILE": str(live.store.with_suffix(".key"))})
    scaivault("--store", str(restored.store), "snapshot", "restore", str(snapshot))
    restored.admin_token = live.admin_token
    with restored:
        assert wait_until(lambda: not any(pg_role_exists(user) for user in users), timeout=120), (
            f"users left on the target: {[u for u in users if pg_role_exists(u)]}"
        )
        remote = {"SCAIVAULT_ADDR": restored.url, "SCAIVAULT_TOKEN": restored.admin_token}
        assert all(as_json("lease", "show", lease, env=remote)["state"] == "revoked" for lease in leases)


def deploy_block(marker: str) -> str:
    """The bash block after ``<!-- tested: MARKER -->`` in docs/deploy.md."""
    match = re.search(rf"<!-- tested: {marker} -->\n```bash\n(.*?)\n```", DEPLOY.read_text(), re.S)
    assert match, f"docs/deploy.md has no block marked {marker}"
    return match.group(1)


def test_the_documented_pg_dump_and_pg_restore_steps_restore_a_postgresql_store(tmp_path, pg_store_database, pg_admin):
    schema = "bk_" + secrets.token_hex(4)
    source = f"{PG}/{pg_store_database}?schema={schema}"
    restore_db = "sv_restore_" + secrets.token_hex(4)
    key = {"SCAIVAULT_KEY": scaivault("key", "new").stdout.strip()}
    pg_admin.execute(f'CREATE DATABASE "{restore_db}"')
    try:
        scaivault("--store", source, "init", env=key)
        scaivault("--store", source, "secrets", "put", "app/db", "password=kept", env=key)
        env = {
            **os.environ,
            "SOURCE_DB": f"{PG}/{pg_store_database}",
            "RESTORE_DB": f"{PG}/{restore_db}",
            "SCHEMA": schema,
            "PATH": f"{Path(scaivault_command()[0]).parent}:{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", deploy_block("pg-backup")],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        dump = next(tmp_path.glob("*.dump"))
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        restored = f"{PG}/{restore_db}?schema={schema}"
        got = as_json("--store", restored, "secrets", "get", "app/db", "--reveal", env=key)
        assert got["data"] == {"password": "kept"}
        assert as_json("--store", restored, "store", "status")["pending_migrations"] == []
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{restore_db}" WITH (FORCE)')
        with psycopg.connect(f"{PG}/{pg_store_database}", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_status_and_a_dry_run_say_what_an_upgrade_will_do_without_doing_it(tmp_path):
    store = tmp_path / "vault.db"
    store.touch(mode=0o600)  # a store no release has migrated yet: version 0
    status = as_json("--store", str(store), "store", "status")
    assert status["schema_version"] == 0 and status["pending_migrations"][0] == "m001_initial"
    assert status["release_schema_version"] == len(status["pending_migrations"]) and status["leases"] is None

    plan = as_json("--store", str(store), "migrate", "--dry-run")
    assert plan["dry_run"] and plan["migrations"] == status["pending_migrations"]
    assert plan["now_schema_version"] == 0 and as_json("--store", str(store), "store", "status") == status
    assert "would apply" in scaivault("--store", str(store), "migrate", "--dry-run").stdout

    applied = as_json("--store", str(store), "migrate")
    assert applied["now_schema_version"] == status["release_schema_version"]
    after = as_json("--store", str(store), "store", "status")
    assert after["pending_migrations"] == [] and after["leases"] == {}
    datetime.fromisoformat(after["last_migrated_at"])  # a real time, as every migration now records
    assert "nothing to migrate" in scaivault("--store", str(store), "migrate", "--dry-run").stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_older_release_refuses_a_newer_schema_naming_both_versions(tmp_path, backend, pg_store_database):
    key = {"SCAIVAULT_KEY": scaivault("key", "new").stdout.strip()}
    schema = "nw_" + secrets.token_hex(4)
    url = str(tmp_path / "vault.db") if backend == "sqlite" else f"{PG}/{pg_store_database}?schema={schema}"
    try:
        scaivault("--store", url, "init", env=key)
        release = as_json("--store", url, "store", "status")["release_schema_version"]
        future = "INSERT INTO _migrations (name, applied_at) VALUES ('m099_from_the_future', '2027-01-01')"
        if backend == "sqlite":
            with sqlite3.connect(url) as conn:
                conn.execute(future)
        else:
            with psycopg.connect(f"{PG}/{pg_store_database}", autocommit=True) as conn:
                conn.execute(f'SET search_path TO "{schema}"')
                conn.execute(future.replace("'2027-01-01'", "1798761600"))
        for command in (["policy", "list"], ["store", "status"], ["migrate", "--dry-run"]):
            refused = scaivault("--store", url, *command, env=key, expect=1)
            assert "Error (invalid_config): " in refused.stderr
            assert (
                f"schema version 99 (m099_from_the_future), newer than this release's version {release}"
                in refused.stderr
                and "pip install -U scaivault" in refused.stderr
            )
    finally:
        if backend == "postgresql":
            with psycopg.connect(f"{PG}/{pg_store_database}", autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_closing_a_store_twice_leaves_other_files_alone(tmp_path):
    """The store's lock descriptor is closed once: a second close must not close whatever reuses its number."""
    from scaivault_core.store.sqlite import SQLiteStore

    store = SQLiteStore(tmp_path / "vault.db")
    store.close()
    with open(tmp_path / "other", "w") as other:  # likely takes the number the lock descriptor had
        store.close()
        other.write("still open")
    assert (tmp_path / "other").read_text() == "still open"
