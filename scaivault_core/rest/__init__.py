"""The REST front end: ``create_app(vault)`` gives an ASGI app; ``scaivault server`` serves it with uvicorn."""

from .api import VaultAPI
from .app import create_app, operations

__all__ = ["VaultAPI", "create_app", "operations"]
