"""Shared pieces of the benchmarks: private targets, timing, vaults, server processes and the table.

Every benchmark script has ``add_arguments(parser)`` and ``run(args) -> list[Row]``; ``bench/run``
calls them all and prints one table, and ``run_alone`` runs one script by itself. Each figure is
the median of several rounds, and contenders take turns within each round
(``interleaved_medians``) so the machine's drifting load hits them alike.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
import psycopg

from scaivault_core import IssueRequest, Lease, LeaseState, Vault
from scaivault_core.builtin_plugins.passwords import random_password
from scaivault_core.leases import new_lease_id
from scaivault_core.models import AuditEvent
from scaivault_core.policies import role_path
from scaivault_core.templates import Templates, generate_username
from scaivault_core.testing.servers import free_port, scaivault_command

BENCH = Path(__file__).resolve().parent
PG = "127.0.0.1:5432"
ADMIN = f"postgresql://postgres@{PG}/postgres"
REDIS = ("127.0.0.1", 6379)

# The guide's role: each user is granted rights on the tables directly.
CREATION = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
    'GRANT USAGE ON SCHEMA public TO "{{name}}"',
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
]
REVOCATION = [
    'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
    'REASSIGN OWNED BY "{{name}}" TO postgres',
    'DROP OWNED BY "{{name}}"',
    'DROP ROLE IF EXISTS "{{name}}"',
]


def group_creation(group: str) -> list[str]:
    """The docs' pattern for many live users: membership of a pre-made group role (revocation: the default)."""
    return [
        f"CREATE ROLE \"{{{{name}}}}\" WITH LOGIN PASSWORD '{{{{password}}}}' VALID UNTIL '{{{{expiration}}}}' "
        f'IN ROLE "{group}"'
    ]


# -- a private PostgreSQL target ---------------------------------------------------------------------


@attrs.frozen
class PgTarget:
    """A throwaway database, a group role, and the vault role name whose users (``v_<role>_...``) are ours.

    On the machine's PostgreSQL (trust) unless ``server``/``password`` name another one (a ``ScramCluster``).
    """

    database: str
    group: str
    role: str
    server: str = PG
    password: str = ""

    @property
    def url(self) -> str:
        return self.admin_url(self.database)

    def admin_url(self, database: str = "postgres") -> str:
        password = ":" + quote(self.password, safe="") if self.password else ""
        return f"postgresql://postgres{password}@{self.server}/{database}"

    @property
    def prefix(self) -> str:
        return f"v_{self.role}_"

    def live_users(self, conn: psycopg.Connection) -> int:
        return conn.execute("SELECT count(*) FROM pg_roles WHERE starts_with(rolname, %s)", (self.prefix,)).fetchone()[
            0
        ]


@contextmanager
def private_database(cluster: Any = None) -> Iterator[PgTarget]:
    """A database with one table readable by a group role; dropped afterwards with every role of this run.

    On the machine's PostgreSQL, or on ``cluster`` (a started ``ScramCluster``). Roles are shared
    by the whole cluster (and other test suites use it), so clean-up drops only the names this run
    made: its group and users starting with its own prefix.
    """
    tag = secrets.token_hex(4)
    where = {"server": f"{cluster.host}:{cluster.port}", "password": cluster.password} if cluster else {}
    target = PgTarget(f"sv_bench_{tag}", f"sv_bench_group_{tag}", f"b{tag}", **where)
    with psycopg.connect(target.admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{target.database}"')
        conn.execute(f'CREATE ROLE "{target.group}" NOLOGIN')
    try:
        with psycopg.connect(target.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE reports (id int)")
            conn.execute(f'GRANT USAGE ON SCHEMA public TO "{target.group}"')
            conn.execute(f'GRANT SELECT ON reports TO "{target.group}"')
        yield target
    finally:
        with psycopg.connect(target.admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", (target.prefix,)
                ).fetchall()
            ]
            for start in range(0, len(names), 500):
                conn.execute("; ".join(f'DROP ROLE IF EXISTS "{n}"' for n in names[start : start + 500]))
            conn.execute(f'DROP ROLE IF EXISTS "{target.group}"')


def vacuum_catalog(database: str | PgTarget) -> None:
    """Creating and dropping roles leaves dead catalog rows that slow later batches; reset between them."""
    url = database.url if isinstance(database, PgTarget) else f"postgresql://postgres@{PG}/{database}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM pg_authid, pg_auth_members, pg_class, pg_shdepend, pg_depend")


def expiration(seconds: float = 3600) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(time.time() + seconds))


def raw_pairs(
    target: PgTarget, count: int, creation: list[str], revocation: list[str], *, batched: bool = False
) -> int:
    """The limit: create and drop ``count`` users with the same rendered statements on one connection.

    One statement per call (``batched=False``, the issue's definition), or each creation and each
    revocation as one multi-statement round trip (``batched=True``, what the engine itself does).
    """
    templates = Templates()
    with psycopg.connect(target.url, autocommit=True) as conn:
        for _ in range(count):
            variables = {
                "name": generate_username(target.role, 63),
                "password": random_password(),
                "expiration": expiration(),
                "ttl_seconds": 3600,
            }
            create = [templates.render(s, variables) for s in creation]
            drop = [templates.render(s, variables) for s in revocation]
            if batched:
                conn.execute("; ".join(create))
                conn.execute("; ".join(drop))
            else:
                for statement in create + drop:
                    conn.execute(statement)
    return count


# -- vaults ------------------------------------------------------------------------------------------


def temp_dir() -> Path:
    """A fresh directory, removed when the benchmark process exits."""
    path = Path(tempfile.mkdtemp(prefix="sv-bench-"))
    atexit.register(shutil.rmtree, path, True)
    return path


def temp_store() -> Path:
    return temp_dir() / "vault.db"


def configure_pg(api: Any, target: PgTarget, creation: list[str], revocation: list[str] | None = None) -> None:
    """Engine ``bench`` on the target and role ``target.role``, on a ``Vault`` or a ``ScaiVaultClient`` alike."""
    api.put_secret("infra/pg/root", {"username": "postgres", "password": target.password or "unused-under-trust"})
    api.create_policy("pg-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
    api.bind_policy("pg-root", "dynamic:bench")
    api.create_engine(
        "bench",
        "database",
        {
            "plugin": "postgresql",
            "root_credentials_path": "infra/pg/root",
            "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{target.server}/{target.database}",
        },
        default_ttl="1h",
        max_ttl="24h",
    )
    fields: dict[str, Any] = {"creation_statements": creation}
    if revocation is not None:
        fields["revocation_statements"] = revocation
    api.create_role("bench", target.role, **fields)


def pg_vault(
    target: PgTarget,
    creation: list[str],
    revocation: list[str] | None = None,
    store: Path | None = None,
    **options: Any,
) -> Vault:
    """An embedded vault on a fresh SQLite file with the PostgreSQL engine configured."""
    vault = Vault(store or temp_store(), **options)
    try:
        configure_pg(vault, target, creation, revocation)
    except BaseException:
        vault.close()
        raise
    return vault


def vault_pairs(vault: Vault, engine: str, role: str, count: int) -> int:
    """Issue and revoke ``count`` leases in turn, in-process."""
    for _ in range(count):
        vault.revoke(vault.issue(engine, role).lease_id)
    return count


# -- leases written straight into a store -------------------------------------------------------------


@attrs.frozen
class Planned:
    """A lease as ``issue`` would record it: its id, its user, and the engine's own revocation handle."""

    lease_id: str
    username: str
    handle: dict[str, Any]


def plan_leases(vault: Vault, engine: str, role: str, count: int, expires_at: float) -> Iterator[Planned]:
    """``count`` leases planned by the engine's own ``plan()``, without touching the target.

    The engine plans one lease; the others are that handle with the user name swapped, which is
    what rendering the same templates for each would give, at a fraction of the cost.
    """
    live = vault._engines.live(engine).engine
    _, typed_role = vault._engines.role(engine, role)
    limit = type(live).username_max_length
    marker = generate_username(role, limit)
    variables = {
        "name": marker,
        "password": random_password(),
        "ttl_seconds": 3600,
        "expiration": live.format_expiration(expires_at),
    }
    request = IssueRequest(
        new_lease_id(live.lease_prefix),
        role,
        typed_role,
        marker,
        variables["password"],
        expires_at,
        3600,
        {},
        None,
        variables,
        max_expires_at=expires_at,
    )
    template = json.dumps(live.plan(request))
    for _ in range(count):
        username = generate_username(role, limit)
        yield Planned(new_lease_id(live.lease_prefix), username, json.loads(template.replace(marker, username)))


def store_leases(
    vault: Vault,
    engine: str,
    role: str,
    planned: Iterable[Planned],
    expires_at: Callable[[int], float],
    chunk: int = 5000,
) -> int:
    """Record planned leases as active (the i-th due at ``expires_at(i)``), each with its issue audit event.

    Through the store API, a transaction per chunk: what issuing them would leave in the store.
    """
    now = vault.clock.time()
    path = role_path(engine, role)
    count = 0
    batch: list[tuple[Planned, float]] = []

    def flush() -> None:
        with vault.store.transaction():
            for item, due in batch:
                lease = Lease(
                    item.lease_id,
                    engine,
                    role,
                    "user:admin",
                    LeaseState.ACTIVE,
                    now,
                    due,
                    due,
                    due,
                    True,
                    item.username,
                    {},
                    item.handle,
                )
                vault.store.insert_lease(lease, vault._leases._seal(item.lease_id, item.handle))
                data = {"username": item.username, "password": "x" * 24}
                vault.store.append_audit(
                    AuditEvent(
                        now,
                        "user:admin",
                        "lease.issue",
                        path,
                        "ok",
                        item.lease_id,
                        {"ttl": int(due - now), "subject": item.username, "hashes": {"data": vault.keyring.mac(data)}},
                    ),
                    vault._audit.chain,
                )
        batch.clear()

    for item in planned:
        batch.append((item, expires_at(count)))
        count += 1
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return count


# -- a server process --------------------------------------------------------------------------------


@attrs.define
class Server:
    """A running ``scaivault server`` (or ``command``) subprocess."""

    process: subprocess.Popen
    url: str
    port: int
    spawned: float  # perf_counter when it was started
    answered: float = 0.0  # perf_counter when /v1/health first answered

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def cpu(self) -> float:
        return process_cpu(self.process.pid)


@contextmanager
def server(
    store: Path, *, command: list[str] | None = None, env: dict[str, str] | None = None, timeout: float = 120.0
) -> Iterator[Server]:
    """Serve ``store`` on a free loopback port until the block ends (SIGTERM, then SIGKILL if it hangs)."""
    port = free_port()
    args = [
        *(command or scaivault_command()),
        "--store",
        str(store),
        "server",
        "--listen",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    environment.update(env or {})
    log = open(store.parent / f"server-{port}.log", "wb")  # noqa: SIM115 -- the server writes it until the finally below
    spawned = time.perf_counter()
    process = subprocess.Popen(args, env=environment, stdout=log, stderr=subprocess.STDOUT)
    running = Server(process, f"http://127.0.0.1:{port}", port, spawned)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with {process.returncode}: "
                    f"{(store.parent / f'server-{port}.log').read_text()[-2000:]}"
                )
            if time.perf_counter() - spawned > timeout:
                raise RuntimeError("the server did not answer in time")
            try:
                if request(running, "GET", "/v1/health")[0] == 200:
                    running.answered = time.perf_counter()
                    break
            except OSError:
                pass  # not listening yet
            time.sleep(0.005)
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
        log.close()


def request(
    srv: Server,
    method: str,
    path: str,
    token: str | None = None,
    body: Any = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, Any]:
    """One request (on ``conn`` if given, kept alive); returns (status, parsed JSON or None)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        if own:
            conn.close()


def rest_pairs(srv: Server, token: str, engine: str, role: str, pairs: int, clients: int) -> int:
    """Issue and revoke ``pairs`` leases over REST from ``clients`` threads, each on one kept-alive connection.

    The client is ``http.client``, not httpx: its own cost per request is a fraction, so the
    figure is the server's, not the load generator's.
    """
    failures: list[str] = []

    def client(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120)
        try:
            for _ in range(count):
                status, body = request(srv, "POST", f"/v1/dynamic/engines/{engine}/creds/{role}", token, {}, conn)
                if status != 200:
                    failures.append(f"issue {status}: {str(body)[:300]}")
                    continue
                status, body = request(srv, "DELETE", f"/v1/dynamic/leases/{body['lease_id']}", token, None, conn)
                if status != 204:
                    failures.append(f"revoke {status}: {str(body)[:300]}")
        finally:
            conn.close()

    shares = [pairs // clients + (1 if i < pairs % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(n,)) for n in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return pairs


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far: a figure the machine's other load does not change."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


# -- timing ------------------------------------------------------------------------------------------


def rate(fn: Callable[[], int]) -> float:
    """Operations per second of one call of ``fn`` (which returns how many operations it did)."""
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


def seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved_medians(
    runs: int, contenders: dict[Any, Callable[[], Any]], between: Callable[[], None] = lambda: None
) -> dict[Any, Any]:
    """Median figure of each contender, run in turn within each round so drift hits them alike.

    A contender returning a tuple of figures gets the tuple of their medians.
    """
    values: dict[Any, list[Any]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            between()
            values[name].append(fn())
    return {
        name: tuple(map(statistics.median, zip(*v, strict=True))) if isinstance(v[0], tuple) else statistics.median(v)
        for name, v in values.items()
    }


@attrs.frozen
class Phases:
    """Issue ``count`` credentials, then revoke them all: the rate of each phase and the CPU it cost a process."""

    issue_rate: float
    revoke_rate: float
    issue_cpu_ms: float  # per credential, of the watched process (0 when none is watched)
    revoke_cpu_ms: float

    def figures(self) -> tuple[float, float, float, float]:
        return attrs.astuple(self)


def phased(
    count: int,
    clients: int,
    connect: Callable[[], Any],
    issue: Callable[[Any], Any],
    revoke: Callable[[Any, Any], None],
    close: Callable[[Any], None] = lambda c: c.close(),
    watch: Callable[[], float] | None = None,
) -> Phases:
    """``clients`` threads, each on its own connection: all issue their share, then all revoke theirs.

    ``issue(conn)`` returns a handle that ``revoke(conn, handle)`` takes; ``watch()`` reads a
    process's CPU seconds at the phase boundaries. Any failure fails the measurement.
    """
    gate = threading.Barrier(clients + 1)
    failures: list[BaseException] = []

    def client(share: int) -> None:
        conn, handles = None, []
        try:
            conn = connect()
        except BaseException as error:
            failures.append(error)
        gate.wait()
        try:
            handles = [issue(conn) for _ in range(share if conn is not None else 0)]
        except BaseException as error:
            failures.append(error)
        gate.wait()
        try:
            for handle in handles:
                revoke(conn, handle)
        except BaseException as error:
            failures.append(error)
        gate.wait()
        if conn is not None:
            close(conn)

    shares = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(n,)) for n in shares]
    for t in threads:
        t.start()
    marks = []
    for _ in range(3):
        gate.wait()
        marks.append((time.perf_counter(), watch() if watch else 0.0))
    for t in threads:
        t.join()
    if failures:
        raise RuntimeError(f"{len(failures)} clients failed, e.g. {failures[0]!r}")
    (t0, c0), (t1, c1), (t2, c2) = marks
    return Phases(count / (t1 - t0), count / (t2 - t1), (c1 - c0) * 1000 / count, (c2 - c1) * 1000 / count)


# -- the table ---------------------------------------------------------------------------------------


@attrs.define
class Row:
    """One line of the table: our figure, the limit measured in the same run, and the goal."""

    number: str
    measure: str
    ours: float
    unit: str
    limit: float | None = None
    goal: str = ""
    met: bool | None = None
    ratio: float | None = None  # ours/limit for rates; set explicitly where "better" means smaller

    def __attrs_post_init__(self) -> None:
        if self.ratio is None and self.limit:
            self.ratio = self.ours / self.limit


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


HEADER = ("#", "measure", "ours", "limit (same run)", "unit", "ratio", "goal", "met")


def table_lines(rows: list[Row], markdown: bool = False) -> list[str]:
    cells = [HEADER] + [
        (
            r.number,
            r.measure,
            fmt(r.ours),
            fmt(r.limit),
            r.unit,
            "—" if r.ratio is None else f"{r.ratio:.2f}×",
            r.goal,
            "" if r.met is None else ("yes" if r.met else "no"),
        )
        for r in rows
    ]
    if markdown:
        lines = ["| " + " | ".join(c) + " |" for c in cells]
        lines.insert(1, "|" + "|".join("---" for _ in HEADER) + "|")
        return lines
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    right = {2, 3, 5}
    return [
        "  ".join(c[i].rjust(widths[i]) if i in right else c[i].ljust(widths[i]) for i in range(len(HEADER)))
        for c in cells
    ]


def print_table(rows: list[Row]) -> None:
    print("\n".join(table_lines(rows)))
    sys.stdout.flush()


def run_alone(
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], list[Row]],
) -> None:
    """One benchmark script run by itself: its own arguments, its rows as the table."""
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    print_table(run(parser.parse_args()))


def load_note() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} CPUs"


def over_rest(srv: Server, token: str, engine: str, role: str, count: int, clients: int) -> Phases:
    """Our server as a contender: ``count`` credentials of ``engine``/``role`` issued over REST from
    ``clients`` kept-alive connections, then revoked; the server's CPU read at the phase boundaries."""

    def issue(conn: http.client.HTTPConnection) -> str:
        status, body = request(srv, "POST", f"/v1/dynamic/engines/{engine}/creds/{role}", token, {}, conn)
        if status != 200:
            raise RuntimeError(f"issue {status}: {str(body)[:300]}")
        return body["lease_id"]

    def revoke(conn: http.client.HTTPConnection, lease_id: str) -> None:
        status, body = request(srv, "DELETE", f"/v1/dynamic/leases/{lease_id}", token, None, conn)
        if status != 204:
            raise RuntimeError(f"revoke {status}: {str(body)[:300]}")

    return phased(
        count,
        clients,
        lambda: http.client.HTTPConnection("127.0.0.1", srv.port, timeout=120),
        issue,
        revoke,
        watch=srv.cpu,
    )
