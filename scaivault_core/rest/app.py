"""``create_app(vault)``: the ASGI application over one ``Vault``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

from . import engines, leases, policies, secrets, system, tokens
from .bodies import MAX_BODY_BYTES
from .errors import EXCEPTION_HANDLERS, CatchAll
from .openapi import document
from .routing import Operation, routes_for


def operations() -> list[Operation]:
    """Every core operation, in routing order."""
    return [*system.OPERATIONS, *tokens.OPERATIONS, *secrets.OPERATIONS, *policies.OPERATIONS,
            *engines.OPERATIONS, *leases.OPERATIONS]


def create_app(vault: Any, *, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The REST API over ``vault`` (which the caller opens and closes). Plugins add routes via ``register_routes``."""
    ops = operations()
    spec = document(ops + [_openapi_operation(None)])
    ops.append(_openapi_operation(spec))
    routes = routes_for(ops, max_body_bytes)
    vault.pm.hook.register_routes(routes=routes)
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, middleware=[Middleware(CatchAll)])
    app.router.redirect_slashes = False  # a trailing slash is a different (absent) path, not a redirect
    app.state.vault = vault
    app.state.openapi = spec
    return app


def _openapi_operation(spec: dict[str, Any] | None) -> Operation:
    return Operation("GET", "/v1/openapi.json", lambda api, c: spec, "This OpenAPI document", "openapi",
                     response="OpenAPI", auth=False, tag="system")
