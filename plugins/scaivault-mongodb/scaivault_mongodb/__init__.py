"""ScaiVault engine plugin for MongoDB: each lease is a user created with createUser and dropped on revocation."""

from scaivault_core import hookimpl

from .engine import MongoDBEngine

__all__ = ["MongoDBEngine"]


@hookimpl
def register_engines(register):
    register(MongoDBEngine)
