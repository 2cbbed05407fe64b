"""Default store backends: SQLite for file paths and sqlite:/// URLs, PostgreSQL for postgresql:// URLs.

Installed plugins win. The PostgreSQL store is imported only when asked for, so the core runs
without its extra (``pip install 'scaivault[postgres-store]'``).
"""

from __future__ import annotations

from typing import Any

from ..errors import InvalidConfig
from ..hookspecs import hookimpl
from ..store.pg_urls import is_postgres_url
from ..store.sqlite import SQLiteStore, is_sqlite_url, path_from_url


@hookimpl(trylast=True)
def store_for_url(url: str) -> Any:
    if is_postgres_url(url):
        try:
            from ..store.postgresql import PostgresStore
        except ImportError as exc:
            raise InvalidConfig(
                f"The PostgreSQL store needs {exc.name or 'psycopg'}: pip install 'scaivault[postgres-store]'.",
                field="store",
            ) from None
        return PostgresStore(url)
    if is_sqlite_url(url):
        return SQLiteStore(path_from_url(url))
    return None
