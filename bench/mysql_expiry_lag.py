"""Expiry lag under load on MySQL/MariaDB: ``pg_expiry_lag.py``'s measure against the machine's MariaDB.

An embedded vault with its expiry worker running and a role whose users may read one private
database; ``--clients`` threads issue leases with a ``--ttl`` of a second or two for ``--seconds``,
so every lease expires while the others are still being issued. The figures are the p50, p99 and
maximum of ``revoked_at - expires_at`` over every lease (``revoked_at`` is taken after MariaDB dropped
the user), and the issue rate the clients kept up meanwhile. The server is MariaDB on 127.0.0.1:3306
as ``root`` with an empty password, or ``$SCAIVAULT_BENCH_MYSQL_URL``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import pymysql
from common import Row, run_alone, temp_store
from pg_expiry_lag import add_arguments, issue_for, lag_rows, lags

from scaivault_core import Vault

ADMIN_URL = os.environ.get("SCAIVAULT_BENCH_MYSQL_URL", "mysql://root:@127.0.0.1:3306")


def admin() -> pymysql.connections.Connection:
    parts = urlsplit(ADMIN_URL)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=unquote(parts.username or "root"),
        password=unquote(parts.password or ""),
        autocommit=True,
    )


@contextmanager
def private_database() -> Iterator[tuple[str, str]]:
    """(database, role name): a database of one table, and a role name whose users (``v_<role>_...``) are this
    run's; both dropped afterwards, with every user of that prefix."""
    tag = secrets.token_hex(4)
    database, role = f"sv_bench_{tag}", f"m{tag}"
    conn = admin()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
            cur.execute(f"CREATE TABLE `{database}`.reports (id INT)")
        yield database, role
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (f"v\\_{role}\\_%",))
            for user, host in cur.fetchall():
                cur.execute("DROP USER IF EXISTS %s@%s", (user, host))
        conn.close()


def mysql_vault(database: str, role: str) -> Vault:
    """An embedded vault on a fresh SQLite file, its worker running, with the MySQL engine ``bench``."""
    parts = urlsplit(ADMIN_URL)
    vault = Vault(temp_store(), start_worker=True)
    try:
        vault.put_secret(
            "infra/mysql/root",
            {"username": unquote(parts.username or "root"), "password": unquote(parts.password or "")},
        )
        vault.create_policy("mysql-root", [{"path_pattern": "infra/mysql/root", "permissions": ["read"]}])
        vault.bind_policy("mysql-root", "dynamic:bench")
        vault.create_engine(
            "bench",
            "database",
            {
                "plugin": "mysql",
                "root_credentials_path": "infra/mysql/root",
                "connection_url": "mysql://{{username}}:{{password}}@"
                f"{parts.hostname or '127.0.0.1'}:{parts.port or 3306}/{database}",
            },
            default_ttl="1h",
            max_ttl="24h",
        )
        vault.create_role(
            "bench",
            role,
            creation_statements=[
                "CREATE USER {{name|quote}}@'%' IDENTIFIED BY '{{password}}'",
                f"GRANT SELECT ON `{database}`.* TO {{{{name|quote}}}}@'%'",
            ],
        )
    except BaseException:
        vault.close()
        raise
    return vault


def run(args: argparse.Namespace) -> list[Row]:
    with private_database() as (database, role):
        vault = mysql_vault(database, role)
        try:
            vault.revoke(vault.issue("bench", role).lease_id)  # warm the root connection
            started = time.perf_counter()
            issued = issue_for(vault, role, args.seconds, args.ttl, args.clients)
            rate = issued / (time.perf_counter() - started)
            measured = lags(vault)
            conn = admin()
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM mysql.user WHERE User LIKE %s", (f"v\\_{role}\\_%",))
                left = cur.fetchone()[0]
            conn.close()
            if left:
                raise RuntimeError(f"{left} users left in MySQL")
        finally:
            vault.close()
    return lag_rows("LM", "MySQL ", measured, rate, args.clients)


if __name__ == "__main__":
    run_alone(__doc__, add_arguments, run)
