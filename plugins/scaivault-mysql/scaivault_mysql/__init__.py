"""ScaiVault engine plugin for MySQL and MariaDB: each lease is a user created from the role's statements."""

from scaivault_core import hookimpl

from .engine import MySQLEngine

__all__ = ["MySQLEngine"]


@hookimpl
def register_engines(register):
    register(MySQLEngine)
