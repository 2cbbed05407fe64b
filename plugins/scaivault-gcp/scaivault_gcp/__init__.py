"""ScaiVault engine plugin for Google Cloud: service-account keys and impersonated access tokens."""

from scaivault_core import hookimpl

from .engine import GcpEngine

__all__ = ["GcpEngine"]


@hookimpl
def register_engines(register):
    register(GcpEngine)
