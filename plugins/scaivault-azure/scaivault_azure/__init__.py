"""ScaiVault engine plugin for Azure: client secrets on dynamic or existing Microsoft Entra applications."""

from scaivault_core import hookimpl

from .engine import AzureEngine

__all__ = ["AzureEngine"]


@hookimpl
def register_engines(register):
    register(AzureEngine)
