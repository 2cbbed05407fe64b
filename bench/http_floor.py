"""The floor of one HTTP request on this machine: what a request costs before the vault does anything.

One client on a kept-alive connection (``http.client``, as in the other benchmarks) sends the same
small authenticated ``GET`` to, in turn within each round:

- **bare**: an asyncio server of a few lines on httptools (the parser uvicorn uses) that keeps the
  request's URL and headers and answers a small JSON body at once, on the event loop: about the
  least any Python HTTP server does;
- **bare + one thread hop**: the same, with the answer made in a worker thread
  (``run_in_executor``), as every request to ScaiVault's vault runs;
- **ScaiVault --front-end asgi**: ``scaivault server`` on uvicorn answering ``GET /v1/auth/tokens/self``
  (starlette, the request id, deadlines and error middleware, the token check, one hop) and ``GET /v1/health``;
- **ScaiVault --front-end threads**: the same two requests to a second server on the same store, with
  the default threaded front end (a thread per connection that calls the operation itself: no event
  loop, no hop).

Per request: the client's wall time, and the server process's CPU time (user + system), which the
machine's other load does not change. The goals of issue 21 (our own cost per issue and revoke,
Redis against OpenBao) are compared with these floors in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from common import Row, free_port, process_cpu, run_alone, server, temp_dir

from scaivault_core import Vault

ANSWER = {"identity": "user:admin", "accessor": "a", "ceilings": [], "expires_at": None}


def serve_bare(port: int, hop: bool) -> None:
    """The bare server (run in a subprocess of this script): httptools on asyncio, a fixed answer."""
    import httptools

    pool = ThreadPoolExecutor(4)

    class Bare(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)
            self.url, self.headers = b"", []

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_header(self, name: bytes, value: bytes) -> None:
            self.headers.append((name.lower(), value))

        def on_message_complete(self) -> None:
            self.headers = []
            if hop:
                future = asyncio.get_running_loop().run_in_executor(pool, json.dumps, ANSWER)
                future.add_done_callback(lambda done: self.answer(done.result().encode()))
            else:
                self.answer(json.dumps(ANSWER).encode())

        def answer(self, body: bytes) -> None:
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
            self.transport.write(head + body)  # type: ignore[attr-defined]

    async def main() -> None:
        listening = await asyncio.get_running_loop().create_server(Bare, "127.0.0.1", port)
        await listening.serve_forever()

    asyncio.run(main())


def requests(port: int, path: str, token: str | None) -> Callable[[int], None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def send(count: int) -> None:
        for _ in range(count):
            conn.request("GET", path, headers=headers)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"GET {path} answered {answer.status}")

    return send


def bare_server(hop: bool) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "hop" if hop else "inline"])
    deadline = time.monotonic() + 60
    while True:
        try:
            requests(port, "/", None)(1)
            return process, port
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the bare server did not start") from None
            time.sleep(0.02)


def run(args: argparse.Namespace) -> list[Row]:
    directory = temp_dir()
    store = directory / "served" / "vault.db"
    with Vault(store) as fresh:
        token = fresh.create_admin_token()
    bare, bare_port = bare_server(hop=False)
    hopping, hop_port = bare_server(hop=True)
    try:
        # Each arm's connection waits while the others run: longer than the default keep-alive of 5 s.
        kept = {"SCAIVAULT_KEEP_ALIVE_TIMEOUT": "10m"}
        with (
            server(store, env={**kept, "SCAIVAULT_FRONT_END": "asgi"}) as srv,
            server(store, env={**kept, "SCAIVAULT_FRONT_END": "threads"}) as threaded,
        ):
            arms = {
                "bare": (bare.pid, requests(bare_port, "/", None)),
                "bare + one thread hop": (hopping.pid, requests(hop_port, "/", None)),
                "ScaiVault --front-end asgi, authenticated GET": (
                    srv.process.pid,
                    requests(srv.port, "/v1/auth/tokens/self", token),
                ),
                "ScaiVault --front-end asgi, GET /v1/health": (srv.process.pid, requests(srv.port, "/v1/health", None)),
                "ScaiVault --front-end threads, authenticated GET": (
                    threaded.process.pid,
                    requests(threaded.port, "/v1/auth/tokens/self", token),
                ),
                "ScaiVault --front-end threads, GET /v1/health": (
                    threaded.process.pid,
                    requests(threaded.port, "/v1/health", None),
                ),
            }
            figures: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in arms}
            for _, send in arms.values():
                send(200)  # warm
            for _ in range(args.runs):
                for name, (pid, send) in arms.items():
                    cpu, started = process_cpu(pid), time.perf_counter()
                    send(args.requests)
                    figures[name][0].append((time.perf_counter() - started) / args.requests * 1e6)
                    figures[name][1].append((process_cpu(pid) - cpu) / args.requests * 1e6)
    finally:
        for process in (bare, hopping):
            process.kill()
            process.wait(30)
    bare_wall = statistics.median(figures["bare"][0])
    bare_cpu = statistics.median(figures["bare"][1])
    rows = []
    for name, (walls, cpus) in figures.items():
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        # The CPU clock ticks in 10 ms: at tiny sizes (the smoke test) bare may read 0, and gets no ratio.
        rows.append(Row("F", f"{name}: wall per request", wall, "µs", bare_wall or None))
        rows.append(Row("F", f"  {name}: server CPU per request", cpu, "µs", bare_cpu or None))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=3000, help="requests per arm and round")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the figure is the median")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve_bare(int(sys.argv[2]), sys.argv[3] == "hop")
    else:
        run_alone(__doc__, add_arguments, run)
