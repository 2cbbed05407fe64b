"""One connection of the threaded front end: its requests one after the other, in its own thread.

Blocking reads with a timeout take the place of uvicorn's timers: the headers must be in within
``header_timeout`` of the connection (or of the first byte of a later request on it), a body within
``body_timeout`` of its headers (else 408), and an idle connection waits ``keep_alive_timeout`` for its
next request. Headers past ``MAX_HEADER_BYTES`` are answered 431. Nothing of a body is read until the
request's handler asks for it, so a request refused on its token is answered without reading its body
(and ``Expect: 100-continue`` is answered only when the body is wanted); any answer given before the
body was read whole closes the connection, as ``rest.deadlines`` does under uvicorn.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import httptools
from starlette.requests import Request
from starlette.routing import Match

from ...errors import InvalidRequest
from ...logs import request_scope
from ..errors import PayloadTooLarge, RequestTimeout, log_unexpected
from ..refusals import HEADERS_TOO_LARGE, MAX_HEADER_BYTES, header_bytes
from ..request import check_declared_length
from ..request_context import id_header, log_access, request_id_of

if TYPE_CHECKING:
    from .listener import FrontEnd

RECEIVE_BYTES = 65536
# What uvicorn answers a request httptools cannot parse; the same here.
BAD_REQUEST = (
    b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 29\r\n"
    b"connection: close\r\n\r\nInvalid HTTP request received."
)
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Gone(BaseException):  # noqa: N818 -- not an error of the request, so not an Exception a handler may catch
    """The client closed its side, or a read timed out where nothing is answered: the connection just ends."""


class Incoming:
    """One request as httptools hands it over: filled by the parser's callbacks, read by ``Connection``."""

    __slots__ = (
        "url",
        "headers",
        "header_bytes",
        "method",
        "keep_alive",
        "headers_at",
        "body",
        "complete",
        "continued",
    )

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_bytes = 0  # the URL and the header lines as parsed, toward MAX_HEADER_BYTES
        self.method = ""
        self.keep_alive = False
        self.headers_at: float | None = None  # time.monotonic() when its headers were complete
        self.body = bytearray()  # what has arrived of the body and is not yet handed on
        self.complete = False
        self.continued = False  # "100 Continue" sent, or not needed

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


class Parsing:
    """httptools' callbacks: each request on the connection becomes an ``Incoming`` (pipelined ones queue)."""

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.requests: deque[Incoming] = deque()

    def feed(self, data: bytes) -> None:
        # No protocol upgrades here: such a request is served as a plain one, and what follows it ignored.
        with contextlib.suppress(httptools.HttpParserUpgrade):
            self.parser.feed_data(data)

    def on_message_begin(self) -> None:
        self.requests.append(Incoming())

    def on_url(self, url: bytes) -> None:
        self.requests[-1].url += url
        self.requests[-1].header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        incoming = self.requests[-1]
        incoming.header_bytes += header_bytes(name, value)
        # As uvicorn does: llhttp keeps trailing whitespace, which RFC 9110 excludes from a field's value.
        incoming.headers.append((name.lower(), value.rstrip(b" \t")))

    def on_headers_complete(self) -> None:
        incoming = self.requests[-1]
        incoming.method = self.parser.get_method().decode("ascii")
        incoming.keep_alive = self.parser.should_keep_alive()
        incoming.headers_at = time.monotonic()
        expect = incoming.header(b"expect")
        incoming.continued = expect is None or expect.lower() != b"100-continue"

    def on_body(self, body: bytes) -> None:
        self.requests[-1].body += body

    def on_message_complete(self) -> None:
        self.requests[-1].complete = True


class Connection:
    """Serves the requests of one accepted socket until it closes, is idle too long, or the server stops."""

    def __init__(self, sock: socket.socket, peer: Any, front: FrontEnd) -> None:
        self.sock, self.peer, self.front = sock, peer, front
        self.settings = front.settings
        self.parsing = Parsing()
        self.busy = False  # a request is being answered (a stopping server waits for it; others it closes)
        self.closed = False
        self.thread: threading.Thread | None = None

    # -- the connection's life -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._serve()
        except (Gone, OSError):
            pass  # the client went away, or a timeout with nothing to answer: just close
        except Exception as exc:  # a bug here: its type and frames for the operator, as errors.py logs them
            log_unexpected(exc, None)
        finally:
            self.front.forget(self)
            self.close()

    def _serve(self) -> None:
        deadline = time.monotonic() + self.settings.header_timeout
        if isinstance(self.sock, ssl.SSLSocket):  # the handshake is part of the time the headers have
            self.sock.settimeout(self._left(deadline))
            self.sock.do_handshake()
        first = b""
        while True:
            incoming = self._headers(deadline, first)
            if incoming is None or not self.front.begin(self):
                return
            try:
                keep = self._answer(incoming)
            finally:
                keep = self.front.end(self) and keep
            if not keep:
                return
            self.parsing.requests.popleft()
            first = b""
            if not self.parsing.requests:  # nothing pipelined: wait for the next request's first byte
                first = self._receive(self.settings.keep_alive_timeout)
                if not first:
                    return
            deadline = time.monotonic() + self.settings.header_timeout

    def shutdown(self) -> None:
        """Make a blocked read return at once (the server is stopping and this connection is idle)."""
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self.sock, socket.SHUT_WR)
            self.sock.close()

    # -- reading -------------------------------------------------------------------------------------------

    def _headers(self, deadline: float, data: bytes) -> Incoming | None:
        """The next request, once its headers are in (None: too slow, too large, unparsable, or no request);
        ``data``: its first bytes, if some arrived already."""
        size = 0
        requests = self.parsing.requests
        while True:
            size += len(data)
            try:
                self.parsing.feed(data)
            except httptools.HttpParserError:
                self.send(BAD_REQUEST)
                return None
            if requests and requests[0].headers_at is not None:
                if requests[0].header_bytes > MAX_HEADER_BYTES:  # complete, but over the cap: one read can bring it all
                    self.send(HEADERS_TOO_LARGE)
                    return None
                return requests[0]
            if size > MAX_HEADER_BYTES:
                self.send(HEADERS_TOO_LARGE)
                return None
            data = self._receive(self._left(deadline))
            if not data:
                return None

    def _receive(self, timeout: float) -> bytes:
        """Up to ``RECEIVE_BYTES`` of what the client sent (b"" when it closed or ``timeout`` passed)."""
        if timeout <= 0:
            return b""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(RECEIVE_BYTES)
        except (TimeoutError, ConnectionError, ssl.SSLError):
            return b""

    def _more_body(self, incoming: Incoming) -> None:
        """Wait for more of ``incoming``'s body, within the body deadline (408 after it)."""
        if not incoming.continued:
            incoming.continued = True
            self.send(CONTINUE)
        assert incoming.headers_at is not None
        left = incoming.headers_at + self.settings.body_timeout - time.monotonic()
        self.sock.settimeout(max(left, 0.001))
        try:
            data = self.sock.recv(RECEIVE_BYTES)
        except TimeoutError:
            raise RequestTimeout(self.settings.body_timeout) from None
        except (ConnectionError, ssl.SSLError):
            raise Gone() from None
        if not data:
            raise Gone()
        try:
            self.parsing.feed(data)
        except httptools.HttpParserError:
            raise InvalidRequest("The request's body is not valid HTTP (its chunked encoding).") from None

    def read_body(self, incoming: Incoming, limit: int) -> bytes:
        """The whole body, at most ``limit`` bytes (413 past it, said from Content-Length when it can be)."""
        check_declared_length((incoming.header(b"content-length") or b"").decode("latin-1"), limit)
        while not incoming.complete:
            if len(incoming.body) > limit:
                raise PayloadTooLarge(limit)
            self._more_body(incoming)
        if len(incoming.body) > limit:
            raise PayloadTooLarge(limit)
        body = bytes(incoming.body)
        incoming.body.clear()
        return body

    def next_body_piece(self, incoming: Incoming) -> tuple[bytes, bool]:
        """What has arrived of the body since the last piece (waiting for some), and whether more follows."""
        while not incoming.body and not incoming.complete:
            self._more_body(incoming)
        piece = bytes(incoming.body)
        incoming.body.clear()
        return piece, not incoming.complete

    # -- answering -----------------------------------------------------------------------------------------

    def _answer(self, incoming: Incoming) -> bool:
        """Serve ``incoming``; whether the connection stays open for another request."""
        try:
            scope = self._scope(incoming)
        except (UnicodeDecodeError, httptools.HttpParserInvalidURLError):
            self.send(BAD_REQUEST)
            return False
        for route in self.front.table:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return self._serve_operation(route, scope, incoming)
        return self.front.bridge.serve(scope, self, incoming)

    def _scope(self, incoming: Incoming) -> dict[str, Any]:
        """The ASGI scope of ``incoming``, as uvicorn makes it (the path percent-decoded, header names lowered,
        ``X-Forwarded-*`` taken from a trusted proxy)."""
        url = httptools.parse_url(incoming.url)
        raw_path = url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "server": self.front.address,
            "client": tuple(self.peer[:2]) if isinstance(self.peer, tuple) else None,
            "scheme": "https" if isinstance(self.sock, ssl.SSLSocket) else "http",
            "method": incoming.method,
            "root_path": "",
            "path": path,
            "raw_path": raw_path,
            "query_string": url.query or b"",
            "headers": incoming.headers,
            "state": {},
            "app": self.front.app,
        }
        self.front.proxy_headers.apply(scope)  # a trusted proxy's scheme and client, as uvicorn takes them
        return scope

    def _serve_operation(self, route: Any, scope: dict[str, Any], incoming: Incoming) -> bool:
        """An operation of the table, served here; ``RequestContext``'s id and access line done as it does."""
        rid, started = request_id_of(scope), time.perf_counter()
        status = 0
        with request_scope(rid):
            try:
                response = route.serve_in_thread(Request(scope), lambda limit: self.read_body(incoming, limit))
                status = response.status_code
                return self.respond(incoming, status, [*response.raw_headers, id_header(rid)], response.body)
            finally:
                log_access(scope, status, started)

    def respond(self, incoming: Incoming, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        """Send a whole response; whether the connection may serve another request."""
        keep = self.keep_alive(incoming, headers)
        head = self.head(status, headers, keep)
        self.send(head if incoming.method == "HEAD" else head + body)
        return keep

    def keep_alive(self, incoming: Incoming, headers: list[tuple[bytes, bytes]]) -> bool:
        """Whether to keep the connection after this answer: not if the client or the app said close, the
        body was not read whole (the rest is not waited for), or the server is stopping."""
        closing = any(name.lower() == b"connection" and value.lower() == b"close" for name, value in headers)
        return incoming.keep_alive and incoming.complete and not closing and not self.front.stopping

    def head(self, status: int, headers: list[tuple[bytes, bytes]], keep: bool) -> bytes:
        """The status line and headers, as uvicorn writes them (a date first, ``connection: close`` last)."""
        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b""
        lines = [b"HTTP/1.1 %d %s" % (status, phrase), b"date: " + _date()]
        lines += [name + b": " + value for name, value in headers]
        if not keep and not any(name.lower() == b"connection" for name, _ in headers):
            lines.append(b"connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n"

    def send(self, data: bytes) -> None:
        # A client that reads nothing holds a thread: the body deadline bounds how long it may, too.
        self.sock.settimeout(self.settings.body_timeout)
        self.sock.sendall(data)

    @staticmethod
    def _left(deadline: float) -> float:
        return deadline - time.monotonic()


_date_cache: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    """The ``date`` header's value, made once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(now, usegmt=True).encode())
    return _date_cache[1]
