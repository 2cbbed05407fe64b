"""A TCP proxy a test can switch off: the most honest way to make a real target "unreachable".

Point the engine's config at ``proxy.address`` instead of the target. ``stop()`` closes the
listening socket and cuts every relayed connection, so new connections are refused and pooled
ones break, exactly as when the target's host goes away; ``start()`` brings it back on the same
port. ``blackhole()`` keeps accepting but never answers, for connect and read timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

_CHUNK = 65536


class TCPProxy:
    """Relays 127.0.0.1:<port> to ``upstream``; ``stop``/``start``/``blackhole`` change what a client meets."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1", port: int = 0) -> None:
        self.upstream = upstream
        self.host, self.port = host, port
        self.mode = "stopped"
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self.connections = 0  # accepted so far, for tests that assert pooling

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __enter__(self) -> TCPProxy:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<TCPProxy {self.host}:{self.port} -> {self.upstream[0]}:{self.upstream[1]} {self.mode}>"

    def start(self) -> TCPProxy:
        """Listen (again, on the same port) and relay."""
        self.mode = "forward"
        self._listen()
        return self

    def blackhole(self) -> TCPProxy:
        """Accept connections but never relay or answer: clients wait until their own timeout."""
        self.mode = "blackhole"
        self._cut_connections()
        self._listen()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut open ones."""
        self.mode = "stopped"
        with self._lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._cut_connections()

    def _listen(self) -> None:
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(64)
            listener.settimeout(0.2)  # lets the accept loop notice stop() promptly
            self.port = listener.getsockname()[1]
            self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, args=(listener,), name="tcp-proxy", daemon=True)
        self._thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._track(client)
            if self.mode == "blackhole":
                continue  # held open, never read: the client sees silence
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._forget(client)
            return
        server.settimeout(None)
        self._track(server)
        pump = threading.Thread(target=self._pump, args=(server, client), daemon=True)
        pump.start()
        self._pump(client, server)
        pump.join()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            self._forget(source)
            self._forget(sink)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        _close(sock)

    def _cut_connections(self) -> None:
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        for sock in sockets:
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
