"""The REST front end: ``create_app(vault)`` gives an ASGI app; ``scaivault server`` serves it with uvicorn, or
with its own threaded front end (``rest.threads``, ``--front-end threads``) that runs the same app's operations.

It is the HTTP transport of the operation table (``scaivault_core.api``): a route per operation,
the OpenAPI document, and the one conversion of errors into error bodies. Plugins add endpoints
through the ``register_routes`` hook: an ``Operation`` (handler ``(api, call)`` with ``api`` a
``VaultAPI`` whose ``.ops`` acts as the caller, ``call`` a ``Call``) is served and documented like
the core's; ``session(request)`` authenticates a plain starlette route's caller.
"""

from ..api import Call, Operation, Query, VaultAPI, operations
from .app import create_app, session

__all__ = ["Call", "Operation", "Query", "VaultAPI", "create_app", "operations", "session"]
