"""``RequestContext``: every request gets an id, answers with it, and leaves one access line.

The outermost ASGI middleware, so it covers every answer the app gives: the native routes, the
Vault-compatible ones, errors, 404s and 401s, and plugins' routes. The id is the caller's
``X-Request-ID`` when well formed (``logs.accept_request_id``), else a new one; it is sent back as
``X-Request-ID`` and carried by every log line and audit entry of the request (``logs.request_scope``).
The access line (logger ``scaivault.access``, level info) names the method, the path as sent
without its query string (a query is where a careless client puts a token), the status and the
duration. Answers the server gives before the app is reached (a connection over the limit, headers
too large) carry no id.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import REQUEST_ID_HEADER, accept_request_id, request_scope

log = logging.getLogger("scaivault.access")

MAX_LOGGED_PATH = 1024
_HEADER = REQUEST_ID_HEADER.lower().encode()


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        status = 0  # none sent: the client went away, or the app failed after starting to answer
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), id_header(rid)]}
            await send(message)

        with request_scope(rid):
            try:
                await self.app(scope, receive, sending)
            finally:
                log_access(scope, status, started)


def request_id_of(scope: Scope) -> str:
    """The request's id: the caller's ``X-Request-ID`` if well formed, else a new one."""
    given = next((value for name, value in scope["headers"] if name == _HEADER), None)
    return accept_request_id(given.decode("latin-1") if given is not None else None)


def id_header(rid: str) -> tuple[bytes, bytes]:
    """The response header that carries the request's id back."""
    return _HEADER, rid.encode()


def log_access(scope: Scope, status: int, started: float) -> None:
    """The request's access line (``started``: its ``time.perf_counter()`` when it came in)."""
    if not log.isEnabledFor(logging.INFO):
        return
    seconds = time.perf_counter() - started
    path = logged_path(scope)
    duration_ms = round(seconds * 1000, 2)
    log.info(
        "%s %s %s %.2fms",
        scope["method"],
        path,
        status,
        duration_ms,
        extra={"method": scope["method"], "path": path, "status": status, "duration_ms": duration_ms},
    )


def logged_path(scope: Scope) -> str:
    """The path as the client sent it (percent-encoded, so no line break can forge a log line), without the
    query string, cut to ``MAX_LOGGED_PATH`` characters."""
    raw = scope.get("raw_path")
    path = raw.decode("ascii", "backslashreplace") if raw else scope.get("path", "")
    path = path.split("?", 1)[0]
    if not path.isprintable():
        path = path.encode("unicode_escape").decode("ascii")
    return path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + "..."
