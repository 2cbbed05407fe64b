"""The listening socket of the threaded front end: a thread per connection, up to ``max_connections``.

One more connection is answered 503 (``refusals.BUSY``) and closed, as under uvicorn. Over TLS that
answer needs a handshake first, which must not hold the accepting thread: the bridge's event loop does
it, for at most ``REFUSING_TLS`` connections at a time within the header deadline; one more is closed
without an answer. SIGTERM and SIGINT stop accepting, close the connections waiting for a request and
let those answering one finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import selectors
import signal
import socket
import ssl
import threading
import time
from typing import Any

from ..app import create_app
from ..refusals import BUSY
from ..routing import OperationRoute
from .bridge import Bridge
from .connection import Connection
from .proxy_headers import ProxyHeaders

log = logging.getLogger("scaivault.server")
BACKLOG = 2048  # as uvicorn's
REFUSING_TLS = 64  # connections past the cap being answered 503 over TLS at once; more are closed at once


class _Busy(asyncio.Protocol):
    """Answers 503 once the TLS handshake is done, and closes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(BUSY)  # type: ignore[attr-defined]
        transport.close()


class FrontEnd:
    """Serves ``app`` (``create_app(vault)``) on a listening socket with ``settings``' limits."""

    def __init__(self, app: Any, settings: Any, sock: socket.socket, tls: ssl.SSLContext | None = None) -> None:
        self.app, self.settings, self.sock, self.tls = app, settings, sock, tls
        sock.setblocking(False)  # a client gone between the select and the accept must not block the accepting
        self.address = sock.getsockname()[:2]
        routes = app.router.routes
        # The operations served here are the router's leading ones: what starlette would reach first.
        first_other = next((i for i, r in enumerate(routes) if not isinstance(r, OperationRoute)), len(routes))
        self.table: list[OperationRoute] = routes[:first_other]
        self.bridge = Bridge(app)
        self.proxy_headers = ProxyHeaders()
        self.connections: set[Connection] = set()
        self.lock = threading.Lock()
        self.stopping = False
        self._stop_requested = False
        self._busy_warned_at = float("-inf")
        self._refusing_tls = threading.BoundedSemaphore(REFUSING_TLS)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)

    # -- accepting -----------------------------------------------------------------------------------------

    def serve_forever(self, *, wake_on_signals: bool = False) -> None:
        """Accept connections until ``stop()``, then wait for the requests being answered.

        ``wake_on_signals`` (from the main thread): a signal also wakes the accepting loop. The OS may
        deliver SIGTERM to any thread of the process; Python runs its handler in the main thread only
        once that thread runs again, and a main thread waiting in ``select`` for a connection that never
        comes would not, so the handler's ``stop()`` never ran. The wake-up pipe is then also the
        signal wake-up fd (as asyncio does it): the main thread wakes, runs the handler, which asks to stop.
        """
        previous = signal.set_wakeup_fd(self._wake_write, warn_on_full_buffer=False) if wake_on_signals else None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self.sock, selectors.EVENT_READ)
                selector.register(self._wake_read, selectors.EVENT_READ)
                while not self.stopping:
                    for key, _ in selector.select():
                        if key.fileobj is self.sock and not self.stopping:
                            self._accept()
                        elif key.fd == self._wake_read:
                            os.read(self._wake_read, 64)
                            if self._stop_requested:  # not merely a signal's wake-up byte
                                self._stop_now()
        finally:
            if previous is not None:
                signal.set_wakeup_fd(previous)
        self.sock.close()
        for thread in self._threads():
            thread.join()
        self.bridge.close()
        self._wake_write, write = -1, self._wake_write  # a later stop() must not write to a reused descriptor
        os.close(write)
        os.close(self._wake_read)

    def stop(self) -> None:
        """Stop serving (safe from a signal handler or another thread: it only wakes the accepting loop)."""
        self._stop_requested = True
        if self._wake_write >= 0:
            with contextlib.suppress(OSError):  # a wake-up already pending in a full pipe
                os.write(self._wake_write, b"x")

    def _stop_now(self) -> None:
        with self.lock:
            self.stopping = True
            for conn in self.connections:
                if not conn.busy:
                    conn.shutdown()

    def _threads(self) -> list[threading.Thread]:
        with self.lock:
            return [conn.thread for conn in self.connections if conn.thread is not None]

    def _accept(self) -> None:
        try:
            sock, peer = self.sock.accept()
        except OSError:  # the client gave up already, or too many open files: the next one may do
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            full = len(self.connections) >= self.settings.max_connections
        if full:
            self._refuse(sock)
            return
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        conn = Connection(sock, peer, self)
        conn.thread = threading.Thread(target=conn.run, name="scaivault-connection", daemon=True)
        with self.lock:
            self.connections.add(conn)
        try:
            conn.thread.start()
        except RuntimeError:  # no thread to be had (a process limit): this connection is refused, the server goes on
            self.forget(conn)
            conn.close()

    def _refuse(self, sock: socket.socket) -> None:
        now = time.monotonic()
        if now - self._busy_warned_at >= 10:  # once in a while: a flood must not flood the log too
            self._busy_warned_at = now
            log.warning(
                "Refusing connections: %d are open, the limit (max_connections).", self.settings.max_connections
            )
        if self.tls is not None:
            if self._refusing_tls.acquire(blocking=False):
                asyncio.run_coroutine_threadsafe(self._refuse_over_tls(sock), self.bridge.loop)
            else:
                sock.close()
            return
        try:
            sock.settimeout(1)
            sock.sendall(BUSY)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sock.close()

    async def _refuse_over_tls(self, sock: socket.socket) -> None:
        """The handshake, then ``BUSY``, on the bridge's loop: all within the header deadline."""
        limit = self.settings.header_timeout
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().connect_accepted_socket(
                    _Busy, sock, ssl=self.tls, ssl_handshake_timeout=limit, ssl_shutdown_timeout=limit
                ),
                limit,
            )
        except OSError:  # a client too slow (TimeoutError), gone, or not speaking TLS (ssl.SSLError)
            sock.close()
        finally:
            self._refusing_tls.release()

    # -- what connections tell it ------------------------------------------------------------------------

    def begin(self, conn: Connection) -> bool:
        """A request's headers are in: whether to answer it (not once the server is stopping)."""
        with self.lock:
            conn.busy = not self.stopping
            return conn.busy

    def end(self, conn: Connection) -> bool:
        """The request is answered: whether the connection may wait for another."""
        with self.lock:
            conn.busy = False
            return not self.stopping

    def forget(self, conn: Connection) -> None:
        with self.lock:
            self.connections.discard(conn)


def serve(vault: Any, host: str, port: int, *, tls_cert: str | None = None, tls_key: str | None = None) -> None:
    """Serve the REST API over ``vault`` with the threaded front end until SIGTERM or SIGINT."""
    tls = None
    if tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(tls_cert, tls_key)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    front = FrontEnd(create_app(vault), vault.settings, sock, tls)
    received: list[int] = []

    def stop(sig: int, frame: Any) -> None:
        received.append(sig)
        front.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("Serving on %s://%s:%d (front end: threads)", "https" if tls else "http", host, sock.getsockname()[1])
    try:
        front.serve_forever(wake_on_signals=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("Stopped serving.")
    if received:  # as uvicorn does: once stopped cleanly, the process ends by the signal it was sent
        signal.raise_signal(received[0])
