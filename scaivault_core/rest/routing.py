"""Operations and how they become starlette routes.

An ``Operation`` says everything about one endpoint once: method, path, body class, query
parameters, success status, response schema and handler. The routes and the OpenAPI document
are both built from the same list, so what is documented is what is served.
"""

from __future__ import annotations

import re
from typing import Any, Callable

import attrs
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..errors import InvalidConfig, InvalidRequest
from .api import VaultAPI
from .bodies import parse, read_json
from .errors import error_response


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


register_url_convertor("any_path", AnyPathConvertor())
register_url_convertor("secret_path", SecretPathConvertor())


@attrs.frozen
class Query:
    """One query parameter: its JSON-schema type and what it means."""

    name: str
    description: str
    type: str = "string"
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None

    def parse(self, raw: str | None) -> Any:
        if raw is None:
            return self.default
        if self.type == "integer":
            if not re.fullmatch(r"-?[0-9]{1,12}", raw):  # [0-9], not isdigit(): that takes "٣", "²" too
                raise InvalidRequest(f"{self.name} must be a whole number.", field=self.name)
            value: Any = int(raw)
            if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
                raise InvalidRequest(f"{self.name} must be between {self.minimum} and {self.maximum}.", field=self.name)
            return value
        if self.enum and raw not in self.enum:
            raise InvalidRequest(f"{self.name} must be one of {', '.join(self.enum)}.", field=self.name)
        return raw

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        for key, value in (("enum", list(self.enum) or None), ("minimum", self.minimum),
                           ("maximum", self.maximum), ("default", self.default)):
            if value is not None:
                schema[key] = value
        return schema


@attrs.frozen
class Call:
    """What a handler gets besides the API: path parameters, parsed query parameters, parsed body."""

    path: dict[str, str]
    query: dict[str, Any]
    body: Any


JSON = "application/json"


@attrs.frozen
class Operation:
    """One endpoint. Plugins may append these to the ``register_routes`` hook's list too: they are then
    served exactly like the core's (token, body, errors) and listed in the OpenAPI document."""

    method: str
    path: str  # starlette syntax; ``{path:secret_path}`` / ``{path:any_path}`` are the parameters that may hold '/'
    handler: Callable[[VaultAPI, Call], Any]
    summary: str
    operation_id: str
    status: int = 200
    body: Any = None  # an attrs class from ``bodies``, or ``dict`` for an engine-specific object
    body_schema: dict[str, Any] | None = None  # for ``dict`` bodies; attrs classes carry their own
    body_required: bool = True
    response: Any = None  # a component schema name (a plugin's: an inline JSON schema); None for 204 or non-JSON
    query: tuple[Query, ...] = ()
    auth: bool = True
    errors: tuple[int, ...] = ()  # statuses beyond those every authenticated operation may answer
    tag: str = ""
    description: str = ""
    # Not JSON: the handler returns text or bytes, served with this type (e.g. Prometheus text, a KRL).
    media_type: str = JSON


def routes_for(operations: list[Operation], max_body: int) -> list[Route]:
    """One starlette route per path, dispatching by method (so a wrong method gets 405 with the right Allow)."""
    by_path: dict[str, dict[str, Operation]] = {}
    for op in operations:
        methods = by_path.setdefault(op.path, {})
        if op.method in methods:  # a plugin may add endpoints, never replace one
            raise InvalidConfig(f"Two REST operations answer {op.method} {op.path}: {methods[op.method].operation_id} "
                                f"and {op.operation_id}.")
        methods[op.method] = op
    return [Route(path, _endpoint(ops, max_body), methods=list(ops)) for path, ops in by_path.items()]


def _endpoint(ops: dict[str, Operation], max_body: int) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        op = ops.get(request.method) or ops["GET"]  # HEAD is served as GET
        try:
            return await _serve(op, request, max_body)
        except Exception as exc:  # the one conversion place, for every operation
            return error_response(exc, request)

    return endpoint


async def _serve(op: Operation, request: Request, max_body: int) -> Response:
    vault = request.app.state.vault
    token = bearer_token(request) if op.auth else None
    if op.auth and token is None:
        vault.authenticate(None)  # raises unauthenticated before the body is even read
    query = {q.name: q.parse(request.query_params.get(q.name)) for q in op.query}
    # Authentication reads the store, so it runs in the threadpool. With a body, it runs before the
    # body is read: a caller without a valid token cannot make the server receive and parse a megabyte.
    ops = await run_in_threadpool(vault.authenticate, token) if op.auth and op.body is not None else None
    raw = await read_json(request, max_body) if op.body is not None else None

    def run() -> Any:
        session = ops if ops is not None else vault.authenticate(token) if op.auth else vault
        body = parse(raw, op.body) if op.body is not None else None
        return op.handler(VaultAPI(session, vault), Call(dict(request.path_params), query, body))

    result = await run_in_threadpool(run)
    if op.status == 204:
        return Response(status_code=204)
    if op.media_type != JSON:
        return Response(result, status_code=op.status, media_type=op.media_type)
    return JSONResponse(result, status_code=op.status)


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or of ``X-Vault-Token`` (what Vault's clients
    send), if there is one. Both, naming different tokens, is no token: neither is guessed at."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    vault_token = request.headers.get("x-vault-token", "").strip()
    if token and vault_token and token != vault_token:
        return None
    return token or vault_token or None
