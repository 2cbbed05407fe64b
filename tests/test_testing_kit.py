"""scaivault_core.testing itself.

The contract suite passes for the in-memory engine, and the proxy cuts and restores.
"""

from __future__ import annotations

import socket
import threading

import pytest

from scaivault_core.testing import EngineContract, MemoryEngine, MemoryTarget, TCPProxy


class TestMemoryContract(EngineContract):
    engine_class = MemoryEngine

    @pytest.fixture
    def target(self):
        target = MemoryTarget.new(admin_password="memory-admin-pw-1234")
        yield target
        target.forget()

    def engine_config(self, target, address):
        return {"target": target.name}

    def root_credentials(self, target):
        return {"password": target.admin_password}

    def make_unreachable(self, target, proxy):
        target.down = True

    def make_reachable(self, target, proxy):
        target.down = False

    def role(self, target):
        return {"permissions": ["read:{{name}}"]}

    def credential_works(self, target, issued):
        return target.login(issued.data["username"], issued.data["password"])

    def credential_expiry(self, target, issued):
        user = target.users.get(issued.data["username"])
        return user.expires_at if user else None

    def bad_configs(self, target, address):
        return {
            "wrong root password": ({"target": target.name}, {"password": "not-the-password"}),
            "no such target": ({"target": "memory-none"}, None),
        }


@pytest.fixture
def echo_server():
    """A TCP echo server on a free loopback port."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=_echo, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()
    stop.set()
    thread.join()
    listener.close()


def _echo(conn):
    with conn:
        while data := conn.recv(1024):
            conn.sendall(data)


def _roundtrip(address, payload=b"ping", timeout=2.0):
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(payload)
        return sock.recv(1024)


def test_proxy_relays_refuses_and_restores_on_the_same_port(echo_server):
    with TCPProxy(echo_server) as proxy:
        address = proxy.address
        assert _roundtrip(address) == b"ping"
        open_conn = socket.create_connection(address, timeout=2)
        open_conn.sendall(b"a")
        assert open_conn.recv(10) == b"a"
        proxy.stop()
        with pytest.raises(ConnectionRefusedError):
            _roundtrip(address)
        assert open_conn.recv(10) == b""  # the relayed connection was cut
        open_conn.close()
        proxy.start()
        assert proxy.address == address
        assert _roundtrip(address, b"again") == b"again"


def test_proxy_blackhole_accepts_and_never_answers(echo_server):
    with TCPProxy(echo_server) as proxy:
        proxy.blackhole()
        with pytest.raises(socket.timeout):
            _roundtrip(proxy.address, timeout=0.5)
        proxy.start()
        assert _roundtrip(proxy.address) == b"ping"
