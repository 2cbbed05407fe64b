"""Default store backends: SQLite for file paths and sqlite:/// URLs. Installed plugins win."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..sqlite_store import SQLiteStore, is_sqlite_url, path_from_url


@hookimpl(trylast=True)
def store_for_url(url: str):
    if is_sqlite_url(url):
        return SQLiteStore(path_from_url(url))
    return None
