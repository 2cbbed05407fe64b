"""The answers a server gives before the app sees a request, the same from either front end.

Past ``max_connections``, ``BUSY`` (503, ``Retry-After: 1``); request line and headers past
``MAX_HEADER_BYTES``, ``HEADERS_TOO_LARGE`` (431). Both are whole HTTP responses that close the
connection, written straight to the socket: uvicorn's protocol (``rest.server``) and the threaded
front end (``rest.threads``) send the same bytes.
"""

from __future__ import annotations

import json

from .errors import ServerBusy

MAX_HEADER_BYTES = 64 * 1024  # request line and headers; a request with more is answered 431 and closed


def header_bytes(name: bytes, value: bytes) -> int:
    """What one header line adds toward ``MAX_HEADER_BYTES`` (with its ": " and CRLF). Both front ends
    count the URL and the header lines as the parser hands them over, so a complete header block over
    the cap is refused however few reads brought it, not only one still arriving."""
    return len(name) + len(value) + 4


def _raw_response(status: str, body: bytes, *extra: bytes) -> bytes:
    head = [
        f"HTTP/1.1 {status}".encode(),
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        *extra,
    ]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


BUSY = _raw_response("503 Service Unavailable", json.dumps(ServerBusy().to_dict()).encode(), b"retry-after: 1")
HEADERS_TOO_LARGE = _raw_response(
    "431 Request Header Fields Too Large",
    json.dumps(
        {
            "error": {
                "code": "invalid_request",
                "message": f"The request's headers are larger than {MAX_HEADER_BYTES} bytes.",
                "details": {"limit": MAX_HEADER_BYTES},
            }
        }
    ).encode(),
)
