"""ScaiVault engine plugin for Redis: each lease is an ACL user made from the role's ACL rules."""

from scaivault_core import hookimpl

from .engine import RedisEngine

__all__ = ["RedisEngine"]


@hookimpl
def register_engines(register):
    register(RedisEngine)
