"""The ASGI bridge: what is not an operation of the table is served by the starlette app, as under uvicorn.

The app runs on one event loop shared by every connection (its own thread); a connection's thread does
the socket I/O the app asks for (``receive`` and ``send`` become jobs on a queue that thread works
through), so the loop never waits on a client. The app's own middleware gives these requests their id,
access line and body deadline; the connection's reads keep the same deadline and turn it into the
``TimeoutError`` that ``BodyDeadline`` answers 408.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from typing import TYPE_CHECKING, Any

from ..errors import RequestTimeout, log_unexpected
from .connection import Gone, Incoming

if TYPE_CHECKING:
    from .connection import Connection

# What uvicorn answers when an app fails before it started a response; the same here.
INTERNAL_ERROR = b"Internal Server Error"
PLAIN_TEXT = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"%d" % len(INTERNAL_ERROR))]


class Bridge:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="scaivault-asgi-bridge", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    def serve(self, scope: dict[str, Any], conn: Connection, incoming: Incoming) -> bool:
        """Run the app on ``scope``, doing its I/O on ``conn``; whether the connection may serve another request."""
        jobs: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        loop = self.loop
        body_done = False
        response_done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal body_done
            if body_done:  # as uvicorn: nothing more comes; "disconnect" once the response is sent
                await response_done.wait()
                return {"type": "http.disconnect"}
            future = loop.create_future()
            jobs.put(("receive", future))
            message: dict[str, Any] = await future
            body_done = message["type"] != "http.request" or not message["more_body"]
            return message

        async def send(message: dict[str, Any]) -> None:
            future = loop.create_future()
            jobs.put(("send", future, message))
            await future
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                response_done.set()

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            finally:
                response_done.set()
                jobs.put(None)

        done = asyncio.run_coroutine_threadsafe(run(), loop)
        writer = Writer(conn, incoming)
        while (job := jobs.get()) is not None:
            kind, future, *message = job
            result = None
            try:
                if kind == "receive":
                    result = self._receive(conn, incoming)
                else:
                    writer.write(message[0])
            except Exception as exc:  # handed to the app, which answers it (a timeout is its 408)
                loop.call_soon_threadsafe(_settle, future, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, future, result, None)
        try:
            done.result()
        except Exception as exc:  # CatchAll answers whatever it can; this is what escaped it
            log_unexpected(exc, None)
        return writer.finish()

    @staticmethod
    def _receive(conn: Connection, incoming: Incoming) -> dict[str, Any]:
        try:
            piece, more = conn.next_body_piece(incoming)
        except RequestTimeout:
            raise TimeoutError() from None
        except (Gone, OSError):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": piece, "more_body": more}


class Writer:
    """Writes the app's response as uvicorn does: whole if it comes whole, else chunked unless it has a length."""

    def __init__(self, conn: Connection, incoming: Incoming) -> None:
        self.conn, self.incoming = conn, incoming
        self.status, self.headers = 0, list[tuple[bytes, bytes]]()
        self.started = self.finished = self.broken = False
        self.chunked = False
        self.keep = False

    def write(self, message: dict[str, Any]) -> None:
        if self.broken:  # the client is gone: what the app still sends goes nowhere, as under uvicorn
            return
        try:
            if message["type"] == "http.response.start":
                self.status, self.headers = message["status"], [(n.lower(), v) for n, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                self._body(message.get("body", b""), message.get("more_body", False))
        except OSError:
            self.broken = True

    def _body(self, body: bytes, more: bool) -> None:
        head = b""
        if not self.started:
            self.started = True
            self.keep = self.conn.keep_alive(self.incoming, self.headers)
            bodiless = self.incoming.method == "HEAD" or self.status in (204, 304)
            if not any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers):
                if not more:
                    self.headers.append((b"content-length", str(len(body)).encode()))
                elif not bodiless:
                    self.chunked = True
                    self.headers.append((b"transfer-encoding", b"chunked"))
            head = self.conn.head(self.status, self.headers, self.keep)
        if self.incoming.method == "HEAD":
            body = b""
        elif self.chunked:
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + (b"" if more else b"0\r\n\r\n")
        if head or body:
            self.conn.send(head + body)
        self.finished = not more

    def finish(self) -> bool:
        """After the app returned: answer 500 if it never answered; whether the connection may go on."""
        if not self.started and not self.broken:
            with contextlib.suppress(OSError):
                self.conn.respond(self.incoming, 500, PLAIN_TEXT + [(b"connection", b"close")], INTERNAL_ERROR)
            return False
        return self.finished and self.keep and not self.broken


def _settle(future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
    if future.done():  # the app stopped waiting (a deadline cancelled it)
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
