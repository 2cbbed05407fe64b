"""``serve(vault, ...)``: the REST API on uvicorn, with the limits uvicorn lacks against slow clients.

uvicorn bounds nothing before a request's headers are complete: a client that opens connections
and sends header bytes one at a time (slowloris) holds each one forever, and httptools buffers
however many header bytes arrive. ``LimitedProtocol`` (uvicorn's httptools protocol, which the
server always uses) adds per connection a deadline for the headers (``header_timeout``, from the
connection and from the first byte of each later request on it), a cap on their size, and a cap
on open connections (``max_connections``). The body's deadline is the app's (``rest.deadlines``,
so it holds under any ASGI server); the idle time between requests is uvicorn's keep-alive.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..settings import Settings
from .app import create_app
from .refusals import BUSY, HEADERS_TOO_LARGE, MAX_HEADER_BYTES, header_bytes


class LimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header size cap and a connection cap."""

    header_timeout: float = 10.0
    max_connections: int = 512
    _busy_warned_at = float("-inf")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = False
        self._header_bytes = 0  # bytes received while a request's headers are incomplete
        self._parsed_header_bytes = 0  # the request's URL and header lines as parsed
        self._refused = False  # its headers were over the cap: answered 431, nothing more of it is handled

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._warn_busy()
            self.transport.write(BUSY)
            self.transport.close()
            return
        self._await_headers()  # a connection that never sends a request is closed like a slow one

    def _warn_busy(self) -> None:
        now = self.loop.time()
        if now - LimitedProtocol._busy_warned_at >= 10:  # once in a while: a flood must not flood the log too
            LimitedProtocol._busy_warned_at = now
            self.logger.warning("Refusing connections: %d are open, the limit (max_connections).", self.max_connections)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        if self._awaiting_headers and self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.transport.write(HEADERS_TOO_LARGE)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._parsed_header_bytes = 0
        if not self._awaiting_headers:  # the next request on a kept-alive connection
            self._await_headers()

    def on_url(self, url: bytes) -> None:
        self._parsed_header_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_header_bytes += header_bytes(name, value)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        if self._parsed_header_bytes > MAX_HEADER_BYTES:  # complete, but over the cap: one read can bring it all
            self._refused = True
            if not self.transport.is_closing():
                self.transport.write(HEADERS_TOO_LARGE)
                self.transport.close()
            return  # no request cycle: the app never sees it
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()

    def _await_headers(self) -> None:
        self._awaiting_headers, self._header_bytes = True, 0
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _stop_header_timer(self) -> None:
        self._awaiting_headers = False
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_for(settings: Settings) -> type[LimitedProtocol]:
    """``LimitedProtocol`` with ``settings``' limits (uvicorn makes one instance per connection from a class)."""
    return type(
        "LimitedProtocol",
        (LimitedProtocol,),
        {"header_timeout": float(settings.header_timeout), "max_connections": settings.max_connections},
    )


def serve(vault: Any, host: str, port: int, *, tls_cert: str | None = None, tls_key: str | None = None) -> None:
    """Serve the REST API over ``vault`` until interrupted, with ``vault.settings``' server limits and
    front end (``front_end``: uvicorn, or the threaded one of ``rest.threads``).

    uvicorn's loggers are left as ``logs.configure_logging`` set them (no formatter of its own), and
    its access log is off: the app writes one access line per request itself (``rest.request_context``),
    with the request's id and duration and without the query string.
    """
    settings = vault.settings
    if settings.front_end == "threads":
        from .threads import serve as serve_threads

        serve_threads(vault, host, port, tls_cert=tls_cert, tls_key=tls_key)
        return
    import uvicorn

    uvicorn.run(
        create_app(vault),
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_config=None,
        log_level=None,
        access_log=False,
        server_header=False,
        http=protocol_for(settings),
        ws="none",
        timeout_keep_alive=settings.keep_alive_timeout,
    )
