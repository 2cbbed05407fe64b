"""Compatible paths as starlette routes: the token (``X-Vault-Token`` or a bearer) before the body, Vault's
methods (``PUT`` and ``POST`` alike, ``LIST`` or ``GET ?list=true``), and Vault-shaped errors for everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...errors import InvalidRequest
from ..errors import PayloadTooLarge, RequestTimeout
from ..request import read_json
from ..routing import bearer_token, session_of
from .envelope import VaultError, answer, error_answer
from .handlers import Call


def route(path: str, methods: dict[str, Callable[[Call], Any]], max_body: int, *, auth: bool = True) -> Route:
    """One path's route; every method is accepted so that a wrong one is answered in Vault's words (405)."""

    async def endpoint(request: Request) -> Response:
        try:
            return await _serve(request, methods, auth, max_body)
        except Exception as exc:  # the one conversion place of the compatible paths
            return error_answer(exc, request)

    return _AnyMethod(path, endpoint)


class _AnyMethod(Route):
    """A route matching its path whatever the method (Vault's own LIST included): the endpoint answers 405."""

    def __init__(self, path: str, endpoint: Callable[..., Any]) -> None:
        super().__init__(path, endpoint)
        self.methods = None  # starlette then neither refuses a method nor calls the match partial


async def _serve(request: Request, methods: dict[str, Callable[[Call], Any]], auth: bool, max_body: int) -> Response:
    method = request.method
    if method == "GET" and request.query_params.get("list") == "true":
        method = "LIST"
    handler = methods.get(method)  # HEAD only where listed: a HEAD of creds must not mint a lease unseen
    if handler is None:
        raise VaultError(405, "1 error occurred:\n\t* unsupported operation\n\n")
    vault = request.app.state.vault
    token = bearer_token(request) if auth else None
    # The token is checked before a byte of the body is read, as on the native paths.
    session = await session_of(vault, token) if auth else None
    body = await _read_json(request, max_body) if method in ("PUT", "POST") else {}
    query = {k: v for k, v in request.query_params.items() if k != "list"} if method in ("GET", "LIST") else {}
    call = Call(session, vault, token, dict(request.path_params), query, body)
    result = await run_in_threadpool(handler, call)
    return result if isinstance(result, Response) else answer(result)  # a Response: a status of its own


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    """The native API's body reader (the same limits), with Vault's words for a malformed body."""
    try:
        body = await read_json(request, limit)
    except (PayloadTooLarge, RequestTimeout):  # transport-level: kept as they are (envelope.KEPT_STATUSES)
        raise
    except InvalidRequest:
        raise VaultError(400, "failed to parse JSON input") from None
    if not isinstance(body, dict):
        raise VaultError(400, "failed to parse JSON input: the body must be a JSON object")
    return body
