"""``create_app(vault)``: the ASGI application over one ``Vault``."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request

from ..api import Operation, operations
from . import api_docs, vault_compat
from .deadlines import BodyDeadline
from .errors import EXCEPTION_HANDLERS, CatchAll
from .openapi import document
from .request import MAX_BODY_BYTES
from .request_context import RequestContext
from .routing import bearer_token, routes_for


def create_app(vault: Any, *, max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    """The REST API over ``vault`` (which the caller opens and closes). Plugins add routes via ``register_routes``.

    A plugin's ``Operation`` is served like the core's and listed in the OpenAPI document; a plain
    starlette ``Route`` is served as it is (after the core's routes) and is not.
    """
    added: list[Any] = []
    vault.pm.hook.register_routes(routes=added)
    ops = operations() + [r for r in added if isinstance(r, Operation)]
    spec = document(ops + [_openapi_operation(None)])
    ops.append(_openapi_operation(spec))
    routes = routes_for(ops, max_body_bytes) + api_docs.routes() + [r for r in added if not isinstance(r, Operation)]
    # RequestContext outermost: every answer, an error or a 404 too, carries the request's id.
    middleware = [
        Middleware(RequestContext),
        Middleware(BodyDeadline, timeout=vault.settings.body_timeout),
        Middleware(CatchAll),
    ]
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS, middleware=middleware)
    app.router.redirect_slashes = False  # a trailing slash is a different (absent) path, not a redirect
    vault_compat.mount(app, max_body_bytes)  # Vault's paths for Vault's clients, after every native route
    app.state.vault = vault
    app.state.openapi = spec
    return app


def session(request: Request) -> Any:
    """The ``Session`` of the request's bearer token, for a plugin's own starlette route (``unauthenticated`` if none).

    It reads the store, so call it from a plain ``def`` endpoint (starlette runs those in its thread
    pool); a ScaiVault error it or the handler raises is answered with the standard error body.
    """
    return request.app.state.vault.authenticate(bearer_token(request))


def _openapi_operation(spec: dict[str, Any] | None) -> Operation:
    return Operation(
        "GET",
        "/v1/openapi.json",
        lambda api, c: spec,
        "This OpenAPI document",
        "openapi",
        response="OpenAPI",
        auth=False,
        tag="system",
    )
