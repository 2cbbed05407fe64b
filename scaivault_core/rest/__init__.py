"""The REST front end: ``create_app(vault)`` gives an ASGI app; ``scaivault server`` serves it with uvicorn.

Plugins add endpoints through the ``register_routes`` hook: an ``Operation`` (handler ``(api, call)``
with ``api`` a ``VaultAPI`` whose ``.ops`` acts as the caller, ``call`` a ``Call``) is served and
documented like the core's; ``session(request)`` authenticates a plain starlette route's caller.
"""

from .api import VaultAPI
from .app import create_app, operations, session
from .routing import Call, Operation, Query

__all__ = ["Call", "Operation", "Query", "VaultAPI", "create_app", "operations", "session"]
