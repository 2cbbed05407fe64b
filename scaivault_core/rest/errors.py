"""The one place the REST server turns exceptions into responses.

A ``ScaiVaultError`` becomes ``{"error": {"code", "message", "details"}}`` with its own status.
Anything else is a bug: the client gets ``500 internal`` with no message or traceback but with
the request's id (``details.request_id``), and the log gets, under that id, the exception type
and the frames, never its message (which could quote a secret).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidRequest, NotFound, ScaiVaultError, Unauthenticated
from ..logs import request_id
from .request_context import logged_path

log = logging.getLogger("scaivault.rest")


class PayloadTooLarge(InvalidRequest):
    status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.", limit=limit)


class RequestTimeout(InvalidRequest):
    status = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The request body did not arrive within {seconds:g}s; send it whole, at once.", timeout=seconds
        )


class ServerBusy(ScaiVaultError):
    """Not raised: the body ``scaivault server`` answers a connection beyond its limit with."""

    code, status = "unavailable", 503
    default_message = "The server has as many connections open as it accepts; retry shortly."


class MethodNotAllowed(InvalidRequest):
    status = 405


class NoSuchEndpoint(NotFound):
    default_message = "No endpoint has that path; see GET /v1/openapi.json."


def error_response(exc: BaseException, request: Request | None = None) -> JSONResponse:
    """The response for ``exc``: the error JSON and status for our errors, a bare 500 for anything else."""
    headers: dict[str, str] = {}
    if isinstance(exc, HTTPException):
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            exc = NoSuchEndpoint()
        elif exc.status_code == 405:
            exc = MethodNotAllowed(
                f"This endpoint does not answer {request.method if request else 'that method'}.",
                allowed=headers.get("Allow", ""),
            )
        else:
            status = exc.status_code if 400 <= exc.status_code < 500 else 400
            exc = InvalidRequest(status_text(status))
            exc.status = status
    if isinstance(exc, ScaiVaultError):
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        body = exc.to_dict()
        if exc.code == "internal":
            body["error"]["details"] = {**body["error"]["details"], **traced()}
        return JSONResponse(body, status_code=exc.status, headers=headers)
    log_unexpected(exc, request)
    body = {"error": {"code": "internal", "message": "Internal server error.", "details": traced()}}
    return JSONResponse(body, status_code=500)


def traced() -> dict[str, str]:
    """``{"request_id": ...}`` for an internal error's details: what finds its log line with the traceback."""
    rid = request_id()
    return {"request_id": rid} if rid else {}


def log_unexpected(exc: BaseException, request: Request | None) -> None:
    """The exception's type and frames for the operator; its message could quote a secret, so not that."""
    where = f" in {request.method} {logged_path(request.scope)}" if request is not None else ""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error("unhandled %s%s\n%s", type(exc).__name__, where, frames)


def status_text(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase + "."
    except ValueError:
        return "The request was refused."


async def handle(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler (routing's 404/405, and errors raised by plugin routes)."""
    return error_response(exc, request)


EXCEPTION_HANDLERS: dict[Any, Any] = {HTTPException: handle, ScaiVaultError: handle}


class CatchAll:
    """ASGI middleware: any other exception (from a plugin's route, say) becomes the bare 500 here,
    rather than reaching the server, which would log its message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started:  # too late to answer; the server closes the connection
                log_unexpected(exc, Request(scope))
                return
            await error_response(exc, Request(scope))(scope, receive, send)
