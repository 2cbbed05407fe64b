"""What only the threaded front end has to show: how it stops. (What it shares with uvicorn is tested on
both: test_api.py, test_vault_compat.py, test_observability.py, tests/client, test_server_limits.py.)"""

from __future__ import annotations

import http.client
import socket
import threading

from scaivault_core import hookimpl, make_plugin_manager
from scaivault_core.rest import Operation, create_app
from scaivault_core.testing.servers import ThreadedServer

BOUND = 60  # seconds any awaited condition gets: generous, never a sleep


class Held:
    """A plugin operation that answers only once the test lets it."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()

    @hookimpl
    def register_routes(self, routes):
        def held(api, call):
            self.entered.set()
            assert self.release.wait(BOUND)
            return {"done": True}

        routes.append(Operation("GET", "/v1/plugin/held", held, "Waits", "plugin_held", auth=False))


def test_stopping_lets_a_request_being_answered_finish_and_closes_idle_connections(make_vault):
    held = Held()
    vault = make_vault(plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[held]))
    with ThreadedServer(create_app(vault), "threads") as server:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=BOUND)  # connected, no request yet
        busy = http.client.HTTPConnection("127.0.0.1", server.port, timeout=BOUND)
        answers: list[http.client.HTTPResponse] = []

        def ask() -> None:
            busy.request("GET", "/v1/plugin/held")
            answers.append(answer := busy.getresponse())
            answer.read()

        asking = threading.Thread(target=ask)
        asking.start()
        try:
            assert held.entered.wait(BOUND)
            stopping = threading.Thread(target=server.__exit__, args=(None, None, None))
            stopping.start()
            assert idle.recv(1) == b""  # the idle connection is closed at once
            assert stopping.is_alive()  # while the busy one is still being answered
        finally:
            held.release.set()
        asking.join(BOUND)
        stopping.join(BOUND)
        assert not stopping.is_alive()  # the server stopped once the answer was written
        assert answers[0].status == 200 and answers[0].getheader("connection") == "close"
