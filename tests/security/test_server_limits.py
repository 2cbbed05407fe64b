"""Slow and partial clients against a live ``scaivault server``, over raw sockets (issue 17.5).

Each attack held the server before: dribbled headers kept a connection open forever, a body
shorter than its Content-Length was never answered, a bad token's body was read and parsed whole
first, and no number of connections was refused. Timeouts here are short (2 s); every wait has a
bound far above them, so a loaded machine passes and a server without the limit fails.
"""

from __future__ import annotations

import http.client
import json
import select
import signal
import socket
import ssl
import time
from pathlib import Path

import httpx
import pytest

from scaivault_core.testing import wait_until
from scaivault_core.testing.servers import FRONT_ENDS, LiveServer

BOUND = 45.0  # seconds: far above every limit a test sets, so only a missing limit reaches it
LIMIT = 2  # the header and body timeouts the tests set, in seconds
POLICY = {"name": "partial", "rules": [{"path_pattern": "secret/**", "permissions": ["read"]}]}


@pytest.fixture(scope="module", params=FRONT_ENDS)
def front_end(request):
    """Every test here runs against each front end."""
    return request.param


def connect(live: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=BOUND)


def seconds_until_closed(sock: socket.socket, dribble: bytes = b"", every: float = 0.2) -> float | None:
    """Seconds until the server closes ``sock`` while we send ``dribble`` a byte every ``every`` s (None: not in BOUND).

    Anything the server answers instead of closing fails the test: a slow client gets no response.
    """
    started = time.monotonic()
    pending = bytearray(dribble)
    while time.monotonic() - started < BOUND:
        readable, _, _ = select.select([sock], [], [], every)
        try:
            if readable:
                data = sock.recv(4096)
                assert not data, f"the server answered a slow client: {data[:200]!r}"
                return time.monotonic() - started
            if pending:
                sock.send(pending[:1])
                del pending[:1]
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return None


def response(sock: socket.socket) -> http.client.HTTPResponse:
    """The server's answer on ``sock`` (waits up to BOUND for it)."""
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    return answer


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed ``sock`` after its answer (EOF within BOUND)."""
    try:
        return wait_until(lambda: select.select([sock], [], [], 0)[0] and sock.recv(65536) == b"", timeout=BOUND)
    except (ConnectionResetError, BrokenPipeError):
        return True


def request_head(method: str, path: str, token: str | None, length: int) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {length}",
    ]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- headers ------------------------------------------------------------------------------------


def test_connections_dribbling_header_bytes_are_closed_at_the_header_timeout(server):
    live = server(SCAIVAULT_HEADER_TIMEOUT=f"{LIMIT}s")
    attackers = [connect(live) for _ in range(20)]
    for sock in attackers:
        sock.send(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    header = b"X-Slow: " + b"a" * 400
    times = [seconds_until_closed(sock, dribble=header) for sock in attackers]  # one after the other: the
    assert all(t is not None for t in times), times  # later ones are closed already
    assert times[0] >= LIMIT * 0.75  # closed by the header deadline, not refused for some other reason
    assert live.admin.get("/v1/health").status_code == 200


def test_a_connection_that_never_sends_a_request_is_closed(server):
    live = server(SCAIVAULT_HEADER_TIMEOUT=f"{LIMIT}s")
    elapsed = seconds_until_closed(connect(live))
    assert elapsed is not None and elapsed >= LIMIT * 0.75


def test_the_next_request_on_a_kept_alive_connection_has_the_same_header_deadline(server):
    live = server(SCAIVAULT_HEADER_TIMEOUT=f"{LIMIT}s", SCAIVAULT_KEEP_ALIVE_TIMEOUT="60s")
    sock = connect(live)
    sock.send(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    first = response(sock)
    assert first.status == 200 and first.read()
    sock.send(b"GET /v1/health HTTP/1.1\r\n")  # the second request starts, and then only dribbles
    elapsed = seconds_until_closed(sock, dribble=b"X-Slow: " + b"a" * 400)
    assert elapsed is not None and elapsed < 60 - LIMIT  # the header deadline, far before keep-alive's


def test_headers_larger_than_the_cap_are_refused_431(server):
    live = server()
    sock = connect(live)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    try:
        for _ in range(64):  # 4 MiB of one header; the server answers long before the end
            sock.sendall(b"a" * 65536)
    except (ConnectionResetError, BrokenPipeError):
        pass
    answer = response(sock)
    assert answer.status == 431 and json.loads(answer.read())["error"]["code"] == "invalid_request"


def test_headers_over_the_cap_are_refused_431_also_when_they_arrive_whole(server):
    """90 KB of headers, complete, sent in one go: the cap counts the headers, not the reads that brought them."""
    live = server()
    sock = connect(live)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 90_000 + b"\r\n\r\n")
    answer = response(sock)
    assert answer.status == 431 and json.loads(answer.read())["error"]["code"] == "invalid_request"
    assert closed_by_server(sock)


def test_headers_just_under_the_cap_are_served(server):
    live = server()
    sock = connect(live)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 60_000 + b"\r\n\r\n")
    assert response(sock).status == 200


# -- bodies -------------------------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_is_answered_408_and_not_processed(server):
    live = server(SCAIVAULT_BODY_TIMEOUT=f"{LIMIT}s")
    body = json.dumps(POLICY).encode()  # a whole JSON document, yet short of what the headers promise
    sock = connect(live)
    sock.sendall(request_head("POST", "/v1/policies", live.admin_token, len(body) + 1000) + body)
    answer = response(sock)
    error = json.loads(answer.read())["error"]
    assert answer.status == 408 and error["code"] == "invalid_request", error
    assert answer.getheader("connection") == "close" and closed_by_server(sock)
    assert live.admin.get("/v1/policies/partial").status_code == 404  # nothing of it was processed


def test_a_vault_compatible_path_has_the_same_body_deadline(server):
    """Served by the starlette app on either front end (the threaded one's bridge): the same 408."""
    live = server(SCAIVAULT_BODY_TIMEOUT=f"{LIMIT}s")
    sock = connect(live)
    head = request_head("PUT", "/v1/sys/leases/lookup", None, 1000)
    sock.sendall(head[:-2] + f"X-Vault-Token: {live.admin_token}\r\n\r\n".encode() + b'{"lease_id": ')
    answer = response(sock)
    assert answer.status == 408, answer.read()
    assert answer.getheader("connection") == "close" and closed_by_server(sock)


def test_a_body_dribbled_past_the_body_timeout_is_answered_408(server):
    live = server(SCAIVAULT_BODY_TIMEOUT=f"{LIMIT}s", SCAIVAULT_HEADER_TIMEOUT="60s")
    body = json.dumps(POLICY).encode()
    sock = connect(live)
    sock.sendall(request_head("POST", "/v1/policies", live.admin_token, len(body)))
    started = time.monotonic()
    for byte in body[:-1]:  # every byte in time for the next, the whole body never in time
        if select.select([sock], [], [], 0.2)[0]:
            break
        sock.send(bytes([byte]))
    answer = response(sock)
    assert answer.status == 408 and time.monotonic() - started >= LIMIT * 0.75
    assert live.admin.get("/v1/policies/partial").status_code == 404


def test_a_partial_body_on_an_operation_without_one_closes_the_connection(server):
    live = server(SCAIVAULT_KEEP_ALIVE_TIMEOUT="60s")
    sock = connect(live)
    sock.sendall(request_head("GET", "/v1/health", None, 1000) + b"{}")
    answer = response(sock)
    assert answer.status == 200 and answer.getheader("connection") == "close"
    assert closed_by_server(sock)  # the rest of the promised body is neither awaited nor read


# -- the token before the body ------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "svt_not-a-real-token", "x" * 300])
def test_a_request_without_a_valid_token_is_refused_before_its_body_is_sent(server, token):
    live = server()
    sock = connect(live)
    sock.sendall(request_head("POST", "/v1/policies", token, 1024 * 1024))  # headers only: no body byte is sent
    answer = response(sock)  # arrives although the server could not have read the megabyte
    assert answer.status == 401 and json.loads(answer.read())["error"]["code"] == "unauthenticated"
    assert answer.getheader("connection") == "close" and closed_by_server(sock)


def test_a_revoked_token_is_refused_before_its_body_is_sent(server):
    live = server()
    created = live.admin.ok("POST", "/v1/auth/tokens", {"identity": "sa:gone"})
    live.admin.ok("DELETE", f"/v1/auth/tokens/{created['accessor']}")
    sock = connect(live)
    sock.sendall(request_head("POST", "/v1/dynamic/leases/revoke-prefix", created["token"], 1024 * 1024))
    assert response(sock).status == 401


def test_a_token_revoked_by_another_process_is_refused_at_once(server):
    """The server checks a token it has seen from memory, on its event loop; a revocation committed by
    another process on the same store (here the CLI) must still count from the next request."""
    live = server()
    created = live.admin.ok("POST", "/v1/auth/tokens", {"identity": "sa:gone"})
    body = json.dumps({"prefix": "lease_"}).encode()

    def revoke_prefix_status() -> int:
        sock = connect(live)
        sock.sendall(request_head("POST", "/v1/dynamic/leases/revoke-prefix", created["token"], len(body)) + body)
        return response(sock).status

    assert revoke_prefix_status() == 403  # known and valid (remembered now), just not allowed
    live.cli("token", "revoke", created["accessor"])  # embedded: another process, the same SQLite file
    assert revoke_prefix_status() == 401


def test_a_valid_token_still_sends_its_body(server):
    live = server()
    body = json.dumps(POLICY).encode()
    sock = connect(live)
    sock.sendall(request_head("POST", "/v1/policies", live.admin_token, len(body)))
    sock.sendall(body)  # after the headers, as a client does that waits for nothing
    answer = response(sock)
    assert answer.status == 201, answer.read()
    assert answer.getheader("connection") != "close"


# -- connections ------------------------------------------------------------------------------


def test_connections_beyond_the_limit_get_503_and_the_server_recovers(server):
    live = server(SCAIVAULT_MAX_CONNECTIONS="5", SCAIVAULT_HEADER_TIMEOUT="120s")
    held = [connect(live) for _ in range(5)]
    for sock in held:
        sock.send(b"GET /v1/health HTTP/1.1\r\n")  # slow clients, each holding a connection
    extra = connect(live)
    try:
        answer = response(extra)
        assert answer.status == 503 and json.loads(answer.read())["error"]["code"] == "unavailable"
    except (ConnectionResetError, http.client.RemoteDisconnected):
        pass  # refused before the answer could be read: as good
    for sock in held:
        sock.close()
    assert wait_until(lambda: _health(live) == 200, timeout=BOUND)


def test_over_tls_connections_beyond_the_limit_get_503_too(tmp_path: Path, front_end):
    live = LiveServer(
        tmp_path / "tls",
        tls=True,
        env={"SCAIVAULT_MAX_CONNECTIONS": "3", "SCAIVAULT_HEADER_TIMEOUT": "120s"},
        front_end=front_end,
    )
    context = live.verify

    def tls_connection() -> ssl.SSLSocket:
        return context.wrap_socket(connect(live), server_hostname="127.0.0.1")  # the handshake is done here

    with live:
        held = [tls_connection() for _ in range(3)]
        for sock in held:
            sock.send(b"GET /v1/health HTTP/1.1\r\n")  # slow clients, each holding a connection
        extra = tls_connection()
        answer = response(extra)  # an answer, not a connection closed without one
        assert answer.status == 503 and json.loads(answer.read())["error"]["code"] == "unavailable"
        assert answer.getheader("retry-after") == "1"
        for sock in [*held, extra]:
            sock.close()
        assert wait_until(lambda: httpx.get(f"{live.url}/v1/health", verify=context).status_code == 200, timeout=BOUND)


def _health(live: LiveServer) -> int:
    try:
        with connect(live) as sock:
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return response(sock).status
    except (OSError, http.client.HTTPException):
        return 0


# -- the settings reach the server --------------------------------------------------------------


def test_flags_win_over_the_variables(tmp_path: Path, front_end):
    live = LiveServer(
        tmp_path / "flags",
        env={"SCAIVAULT_HEADER_TIMEOUT": "10m", "SCAIVAULT_MAX_CONNECTIONS": "1000"},
        server_args=("--header-timeout", f"{LIMIT}s", "--max-connections", "3"),
        front_end=front_end,
    )
    with live:
        held = [connect(live) for _ in range(3)]
        elapsed = seconds_until_closed(held[0])
        assert elapsed is not None and elapsed < 60  # --header-timeout, not the variable's ten minutes
        for sock in held:
            sock.close()


def test_a_bad_limit_is_refused_at_start_up(tmp_path: Path):
    live = LiveServer(tmp_path / "bad")
    live.init()
    live.env["SCAIVAULT_BODY_TIMEOUT"] = "soon"
    result = live.cli("server", "--listen", f"127.0.0.1:{live.port}", check=False)
    assert (
        result.returncode == 1 and "Error (invalid_config): SCAIVAULT_BODY_TIMEOUT must be a duration" in result.stderr
    )
    del live.env["SCAIVAULT_BODY_TIMEOUT"]
    result = live.cli("server", "--listen", f"127.0.0.1:{live.port}", "--max-connections", "0", check=False)
    assert (
        result.returncode == 1 and "SCAIVAULT_MAX_CONNECTIONS (--max-connections) must be at least 1" in result.stderr
    )


def test_every_settings_field_has_a_server_flag_and_reaches_the_served_vault(tmp_path: Path, monkeypatch):
    import attrs
    from click.testing import CliRunner

    import scaivault_core.rest.server as rest_server
    from scaivault_core import Settings
    from scaivault_core.cli import cli

    flagged = {name for name, field in attrs.fields_dict(Settings).items() if field.metadata["setting"].flag}
    assert flagged == {param.name for param in [*cli.params, *cli.commands["server"].params]} - {
        "config",
        "version",
        "help",
    }
    served: list[Settings] = []
    monkeypatch.setattr(rest_server, "serve", lambda vault, *args, **kwargs: served.append(vault.settings))
    commands, files = [str(tmp_path / name) for name in ("bin", "sbin")], str(tmp_path / "files")
    store = ["--store", str(tmp_path / "vault.db")]
    assert CliRunner().invoke(cli, [*store, "init"]).exit_code == 0
    flags = [
        "--command-dir",
        commands[0],
        "--command-dir",
        commands[1],
        "--file-dir",
        files,
        "--token-default-ttl",
        "1h",
        "--token-max-ttl",
        "2h",
        "--header-timeout",
        "3s",
        "--body-timeout",
        "4s",
        "--keep-alive-timeout",
        "6s",
        "--max-connections",
        "7",
        "--front-end",
        "threads",
    ]
    result = CliRunner().invoke(
        cli, [*store, "server", *flags], env={"SCAIVAULT_COMMAND_DIRS": "/usr/bin", "SCAIVAULT_HEADER_TIMEOUT": "1m"}
    )
    assert result.exit_code == 0, result.output
    assert served == [
        Settings(
            store=store[1],
            command_dirs=tuple(commands),
            file_dirs=(files,),
            token_default_ttl=3600,
            token_max_ttl=7200,
            header_timeout=3,
            body_timeout=4,
            keep_alive_timeout=6,
            max_connections=7,
            front_end="threads",
        )
    ]


# -- HTTP/1.1 as clients speak it: the same on every front end ------------------------------------


def read_answer(stream) -> tuple[int, dict[str, str]]:
    """The status and headers of one response from ``stream`` (a socket's file, kept across responses: pipelined
    ones share a buffer); the caller reads the body."""
    status = int(stream.readline().split()[1])
    headers = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def test_expect_100_continue_is_answered_only_when_the_body_is_wanted(server):
    live = server()
    body = json.dumps(POLICY).encode()
    for token, first in ((live.admin_token, b"HTTP/1.1 100 Continue"), ("svt_not-a-real-token", b"HTTP/1.1 401 ")):
        sock = connect(live)
        head = request_head("POST", "/v1/policies", token, len(body))
        sock.sendall(head[:-2] + b"Expect: 100-continue\r\n\r\n")  # and wait, as curl does, for the go-ahead
        stream = sock.makefile("rb")
        assert stream.readline().startswith(first)
        if first.endswith(b"Continue"):
            assert stream.readline() == b"\r\n"
            sock.sendall(body)
            assert read_answer(stream)[0] == 201
        sock.close()


def test_a_chunked_body_is_read_under_the_same_limit(server):
    live = server()
    sock = connect(live)
    head = request_head("POST", "/v1/policies", live.admin_token, 0).replace(
        b"Content-Length: 0", b"Transfer-Encoding: chunked"
    )
    body = json.dumps(POLICY).encode()
    sock.sendall(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    stream = sock.makefile("rb")
    status, headers = read_answer(stream)
    assert status == 201 and headers.get("connection") != "close"
    sock.close()
    sock = connect(live)
    sock.sendall(head)
    try:
        for _ in range(20):  # 1.25 MiB, past the 1 MiB limit: answered before the end
            sock.sendall(b"10000\r\n" + b" " * 65536 + b"\r\n")
    except (ConnectionResetError, BrokenPipeError):
        pass
    answer = response(sock)
    assert answer.status == 413 and json.loads(answer.read())["error"]["code"] == "invalid_request"


def test_keep_alive_head_pipelining_and_connection_close(server):
    live = server(SCAIVAULT_KEEP_ALIVE_TIMEOUT="60s")
    sock = connect(live)
    stream = sock.makefile("rb")
    sock.sendall(b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers = read_answer(stream)  # no body follows a HEAD's headers, whatever their length says
    assert status == 200 and int(headers["content-length"]) > 0
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
    for expected in (200, 404):  # two requests in one packet, answered in order
        status, headers = read_answer(stream)
        assert status == expected
        assert json.loads(stream.read(int(headers["content-length"])))
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, headers = read_answer(stream)
    assert status == 200 and headers["connection"] == "close"
    stream.read(int(headers["content-length"]))
    assert closed_by_server(sock)


def test_sigterm_closes_idle_connections_and_stops(server):
    live = server(SCAIVAULT_KEEP_ALIVE_TIMEOUT="60s")
    sock = connect(live)
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response(sock).status == 200  # the connection stays open, idle
    live.process.send_signal(signal.SIGTERM)
    assert closed_by_server(sock)
    assert live.process.wait(timeout=BOUND) == -signal.SIGTERM  # stopped cleanly, then ended by the signal


def test_a_tls_handshake_has_the_header_deadline(tmp_path: Path, front_end):
    if front_end == "asgi":
        pytest.skip("uvicorn bounds a handshake with asyncio's own 60 s, not the header deadline")
    live = LiveServer(tmp_path / "tls", tls=True, env={"SCAIVAULT_HEADER_TIMEOUT": f"{LIMIT}s"}, front_end=front_end)
    with live:
        assert httpx.get(f"{live.url}/v1/health", verify=live.verify).status_code == 200
        elapsed = seconds_until_closed(connect(live))  # TCP, and then no ClientHello
        assert elapsed is not None and elapsed >= LIMIT * 0.75
