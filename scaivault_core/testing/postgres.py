"""A private PostgreSQL cluster that checks passwords (scram-sha-256), for tests about credentials;
and the guide's read-only role, which tests of every front end issue.

The machine's own server trusts every loopback login, so it cannot show that a password works or
that an old one stopped working. ``ScramCluster`` runs ``initdb`` and ``pg_ctl`` as the ``postgres``
user (initdb refuses root) on a free loopback port, and removes everything when stopped.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .ports import free_port

ADMIN_PASSWORD = "Adm1n:p@ss/w0rd?"  # URL-reserved characters prove root URLs are encoded

# The role of the guide's walkthrough: a user that may read the tables of schema public, dropped with its grants.
READONLY_CREATION = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
]
READONLY_REVOCATION = [
    'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
    'DROP ROLE IF EXISTS "{{name}}"',
]


def readonly_role() -> dict[str, list[str]]:
    """The guide's role as ``create_role`` keywords (or a REST body's fields): fresh lists for each caller."""
    return {"creation_statements": list(READONLY_CREATION), "revocation_statements": list(READONLY_REVOCATION)}


class ScramCluster:
    """``with ScramCluster() as cluster:`` a started cluster; ``cluster.admin_url(db)`` logs in as postgres."""

    def __init__(self, password: str = ADMIN_PASSWORD) -> None:
        self.password, self.host, self.port = password, "127.0.0.1", free_port()
        self._bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
        self._dir: Path | None = None

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{quote(self.password, safe='')}@{self.host}:{self.port}/{database}"

    def url(self, username: str, password: str, database: str = "postgres") -> str:
        return f"postgresql://{quote(username, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}/{database}"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True)

    def start(self) -> ScramCluster:
        self._dir = Path(tempfile.mkdtemp(prefix="sv-pg-"))
        shutil.chown(self._dir, "postgres", "postgres")
        (self._dir / "pw").write_text(self.password + "\n")
        shutil.chown(self._dir / "pw", "postgres")
        self._as_postgres(
            str(self._bin / "initdb"),
            "-D",
            str(self._dir / "data"),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={self._dir / 'pw'}",
        )
        self._as_postgres(
            str(self._bin / "pg_ctl"),
            "-D",
            str(self._dir / "data"),
            "-l",
            str(self._dir / "log"),
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._dir}",
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        if self._dir is None:
            return
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self._bin / "pg_ctl"),
                "-D",
                str(self._dir / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
        )
        shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def __enter__(self) -> ScramCluster:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
