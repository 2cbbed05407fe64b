"""Reading a request's body: within a size limit, as JSON (``api.bodies`` then makes it a typed body)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from ..errors import InvalidRequest
from .errors import PayloadTooLarge

MAX_BODY_BYTES = 1024 * 1024


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON (``{}`` when there is none, unlike an explicit JSON null).

    Too large is 413, malformed is 400.
    """
    return parse_json(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes, at most ``limit`` of them (more is 413, said as early as the headers allow)."""
    check_declared_length(request.headers.get("content-length", ""), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def check_declared_length(declared: str, limit: int) -> None:
    """A ``Content-Length`` above ``limit`` is 413 at once, before any of the body is read."""
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):  # not "²"
        raise PayloadTooLarge(limit)


def parse_json(raw: bytes) -> Any:
    """A body's bytes as JSON (``{}`` when there are none, unlike an explicit JSON null); malformed is 400."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise InvalidRequest("The request body is not valid JSON.") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
