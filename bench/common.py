"""Shared pieces of the benchmarks: a private PostgreSQL database, timing, and the guide's role."""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import psycopg

PG = "127.0.0.1:5432"
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


@contextmanager
def private_database() -> Iterator[str]:
    """A throwaway database with one table on the machine's PostgreSQL; yields its name."""
    name = f"sv_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(f"postgresql://postgres@{PG}/{name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE reports (id int)")
    try:
        yield name
    finally:
        with psycopg.connect(f"postgresql://postgres@{PG}/{name}", autocommit=True) as conn:
            for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v\\_%'").fetchall():
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')
        with psycopg.connect(f"postgresql://postgres@{PG}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def vacuum_catalog(database: str) -> None:
    """Creating and dropping roles leaves dead catalog rows that slow later batches; reset between them."""
    with psycopg.connect(f"postgresql://postgres@{PG}/{database}", autocommit=True) as conn:
        conn.execute("VACUUM pg_authid, pg_auth_members, pg_class, pg_shdepend, pg_depend")


def rate(fn: Callable[[], int]) -> float:
    """Operations per second of one call of ``fn`` (which returns how many operations it did)."""
    start = time.perf_counter()
    count = fn()
    return count / (time.perf_counter() - start)


def interleaved_medians(runs: int, contenders: dict[str, Callable[[], float]],
                        between: Callable[[], None] = lambda: None) -> dict[str, float]:
    """Median rate of each contender, run in turn within each round so drift hits them alike."""
    values: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            between()
            values[name].append(fn())
    return {name: statistics.median(v) for name, v in values.items()}


def temp_store() -> Path:
    return Path(tempfile.mkdtemp(prefix="sv-bench-")) / "vault.db"
