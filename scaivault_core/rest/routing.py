"""Operations become routes: one generic endpoint binds a request to its operation.

The path parameters, the parsed query and the typed body are handed to the operation's handler
(for the core's, the ``VaultAPI`` method the table names). The routes and the OpenAPI document
are both built from the same list, so what is documented is what is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..api import Call, Operation, VaultAPI
from ..api.bodies import parse
from ..api.operation import JSON
from ..api.vault_api import Accepted
from ..errors import InvalidConfig
from .errors import error_response
from .request import parse_json, read_body


class AnyPathConvertor(Convertor[str]):
    """Any characters, '/' included (starlette's ``path`` stops at a newline, which would turn a bad
    secret path into a missing endpoint instead of a clear ``invalid_request``)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# Last segments that name something done to a secret (``POST .../rotate``, ``PUT .../rotation``,
# ``GET .../versions``), so over REST a secret's own path cannot end in one of them.
SECRET_ACTIONS = ("rotate", "rotation", "versions")


class SecretPathConvertor(AnyPathConvertor):
    """A secret path as the last part of a URL: not ending in one of ``SECRET_ACTIONS``."""

    regex = r"(?![\s\S]*/(?:" + "|".join(SECRET_ACTIONS) + r")\Z)[\s\S]+"


class TokenAccessorConvertor(AnyPathConvertor):
    """A token's accessor: one segment, never ``self`` (``GET /v1/auth/tokens/self`` is the caller's own)."""

    regex = r"(?!self\Z)[^/]+"


register_url_convertor("any_path", AnyPathConvertor())
register_url_convertor("secret_path", SecretPathConvertor())
register_url_convertor("token_accessor", TokenAccessorConvertor())


def routes_for(operations: list[Operation], max_body: int) -> list[OperationRoute]:
    """One route per path, dispatching by method (so a wrong method gets 405 with the right Allow)."""
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations:
        methods = by_path.setdefault(op.path, {})
        if op.method in methods:  # a plugin may add endpoints, never replace one
            raise InvalidConfig(
                f"Two REST operations answer {op.method} {op.path}: {methods[op.method].operation_id} "
                f"and {op.operation_id}."
            )
        methods[op.method] = op
    return [OperationRoute(path, ops, max_body) for path, ops in by_path.items()]


class OperationRoute(Route):
    """The operations of one path, by method. Starlette calls ``endpoint`` on its event loop; the threaded
    front end (``rest.threads``) calls ``serve_in_thread`` in a connection's thread. Both take the same steps,
    from the functions below: the token, the query, the token's session before the body, the body, the call,
    the answer; and any error is answered by ``errors.error_response``."""

    def __init__(self, path: str, operations: dict[str, Operation], max_body: int) -> None:
        self.operations, self.max_body = operations, max_body
        super().__init__(path, self.endpoint, methods=list(operations))

    def operation(self, method: str) -> Operation:
        return self.operations.get(method) or self.operations["GET"]  # HEAD is served as GET

    async def endpoint(self, request: Request) -> Response:
        op = self.operation(request.method)
        try:
            token, query = token_of(op, request), query_of(op, request)
            # With a body, the token is checked before the body is read: a caller without a valid token cannot
            # make the server receive any of it, nor hold the connection while dribbling it (docs/security.md,
            # "Slow and partial clients"). A token the store remembers is checked here on the loop; otherwise
            # the check reads the store, in the threadpool: a trip there and back cost as much CPU as the check.
            session = await session_of(request.app.state.vault, token) if op.auth and op.body is not None else None
            raw = await read_body(request, self.max_body) if op.body is not None else None
            return response_for(op, await run_in_threadpool(call, op, request, session, token, query, raw))
        except Exception as exc:  # the one conversion place, for every operation
            return error_response(exc, request)

    def serve_in_thread(self, request: Request, read: Callable[[int], bytes]) -> Response:
        """``endpoint``, for a caller already in a thread of its own: ``read(limit)`` reads the body there."""
        op = self.operation(request.method)
        try:
            token, query = token_of(op, request), query_of(op, request)
            session = request.app.state.vault.authenticate(token) if op.auth and op.body is not None else None
            raw = read(self.max_body) if op.body is not None else None
            return response_for(op, call(op, request, session, token, query, raw))
        except Exception as exc:
            return error_response(exc, request)


def token_of(op: Operation, request: Request) -> str | None:
    """The caller's token; none where the operation needs one is ``unauthenticated`` at once, before any body."""
    token = bearer_token(request) if op.auth else None
    if op.auth and token is None:
        request.app.state.vault.authenticate(None)  # raises unauthenticated
    return token


def query_of(op: Operation, request: Request) -> dict[str, Any]:
    return {q.name: q.parse(request.query_params.get(q.name)) for q in op.query}


def call(op: Operation, request: Request, session: Any, token: str | None, query: dict[str, Any], raw: Any) -> Any:
    """The operation's handler on the parsed request (it reads the store: call it in a thread)."""
    vault = request.app.state.vault
    session = session if session is not None else vault.authenticate(token) if op.auth else vault
    body, extra = parse(parse_json(raw), op.body) if raw is not None else (None, {})
    return op.handler(VaultAPI(session, vault), Call(dict(request.path_params), query, body, extra))


def response_for(op: Operation, result: Any) -> Response:
    if isinstance(result, Accepted):  # long work, accepted as a job: follow it where Location says
        return JSONResponse(result, status_code=202, headers={"Location": result["href"]})
    if op.status == 204:
        return Response(status_code=204)
    if op.media_type != JSON:
        return Response(result, status_code=op.status, media_type=op.media_type)
    return JSONResponse(result, status_code=op.status)


async def session_of(vault: Any, token: str | None) -> Any:
    """The session of ``token``: at once if the store remembers it, else from the threadpool (which refuses
    an invalid token with ``unauthenticated``)."""
    return vault.authenticate_remembered(token) or await run_in_threadpool(vault.authenticate, token)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or of ``X-Vault-Token`` (what Vault's clients
    send), if there is one. Both, naming different tokens, is no token: neither is guessed at."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    vault_token = request.headers.get("x-vault-token", "").strip()
    if token and vault_token and token != vault_token:
        return None
    return token or vault_token or None
