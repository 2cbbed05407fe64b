"""ScaiVault engine plugin for PostgreSQL: each lease is a role created from the role's statements."""

from scaivault_core import hookimpl

from .engine import PostgreSQLEngine

__all__ = ["PostgreSQLEngine"]


@hookimpl
def register_engines(register):
    register(PostgreSQLEngine)
