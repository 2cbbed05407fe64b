"""A loopback HTTPS server for API doubles: throwaway CA (``tls``), request log, fault injection.

For plugins whose target is a cloud API with no local implementation: write the API's documented
endpoints as a small object and serve it with ``HttpsDouble`` (the Azure and GCP plugins' tests do).
The API logic is a separate object with ``handle(request) -> (status, body, headers)``,
``error_body(path, status) -> dict`` for injected faults, ``reset()`` and a ``base_url``
attribute the double sets; its other attributes are reachable on the double itself.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx

from .tls import LoopbackTLS

# Fields whose values are credentials: the request log keeps the field, never the value.
SECRET_FIELDS = frozenset(
    {
        "client_secret",
        "client_assertion",
        "assertion",
        "secretText",
        "privateKeyData",
        "access_token",
        "accessToken",
        "private_key",
        "refresh_token",
        "password",
    }
)
REDACTED = "<redacted>"


@attrs.define
class Request:
    """One parsed request, as the API logic sees it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    caller: str | None = None  # set by the API once it knows who authenticated

    def arg(self, name: str) -> str | None:
        """First value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None

    def form(self) -> dict[str, str]:
        """The body as an application/x-www-form-urlencoded form (first value of each field)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def json(self):
        """The body as JSON; raises ValueError when it is not."""
        return json.loads(self.body or b"null")

    def bearer(self) -> str | None:
        """The bearer token of the Authorization header, '' when the header is malformed."""
        value = self.headers.get("authorization")
        if value is None:
            return None
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""


@attrs.frozen
class LoggedRequest:
    """One entry of the request log; credential values are replaced by '<redacted>'."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: object
    status: int | None  # None when the connection was dropped on purpose
    caller: str | None
    at: float


@attrs.define
class _Fault:
    pattern: re.Pattern
    method: str | None
    status: int
    remaining: int
    retry_after: int | None
    body: dict | None
    disconnect: bool


def _redact(value):
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_FIELDS else _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def _loggable_body(request: Request) -> Any:
    if not request.body:
        return None
    content_type = request.headers.get("content-type", "")
    try:
        if "x-www-form-urlencoded" in content_type:
            return _redact(request.form())
        return _redact(request.json())
    except ValueError:
        return f"<{len(request.body)} bytes>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up shutdown

    def __init__(self, double: HttpsDouble, context: ssl.SSLContext):
        self.double, self.context = double, context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request, client_address):
        # TLS handshake in the worker thread, so a stalled client cannot block accept().
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass  # clients that hang up or reject the certificate are not the double's problem


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    server: _Server  # the one that made this handler

    def log_message(self, format, *args):
        pass

    def _dispatch(self):
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        status, body, headers = self.server.double._respond(request)
        if status is None:
            self.close_connection = True
            return
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class HttpsDouble:
    """Serves one API object over HTTPS on 127.0.0.1 with a throwaway CA."""

    def __init__(self, api: Any, tls_dir: Path) -> None:
        self.tls = LoopbackTLS.create(tls_dir)
        self.ca_path = self.tls.ca
        self._server = _Server(self, self.tls.server_context())
        self.base_url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self.requests: list[LoggedRequest] = []
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name=f"https-double-{type(api).__name__}"
        )
        api.base_url = self.base_url
        self.api = api  # last: from here on, __setattr__ forwards the API's own attributes

    def __getattr__(self, name):
        # Seed values, settings and state helpers live on the API object; reach them here.
        if name == "api":
            raise AttributeError(name)
        return getattr(self.api, name)

    def __setattr__(self, name, value):
        # `double.propagation_delay = 1` must change the API's setting, not shadow it.
        api = self.__dict__.get("api")
        if api is not None and name not in self.__dict__ and hasattr(api, name):
            setattr(api, name, value)
        else:
            object.__setattr__(self, name, value)

    def start(self) -> HttpsDouble:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()

    def ssl_context(self) -> ssl.SSLContext:
        """A client SSL context that trusts only the throwaway CA."""
        return self.tls.client_context()

    def client(self, **kwargs: Any) -> httpx.Client:
        """An httpx client with base_url set that trusts the throwaway CA (close it after use)."""
        return httpx.Client(base_url=self.base_url, verify=self.ssl_context(), **kwargs)

    def reset(self) -> None:
        """Back to the seed state: API state re-seeded, log and pending faults cleared."""
        with self._lock:
            self.api.reset()
            self._faults.clear()
            self.requests.clear()

    def fail_next(
        self,
        path: str,
        *,
        status: int = 429,
        count: int = 1,
        method: str | None = None,
        retry_after: int | None = None,
        body: dict | None = None,
        disconnect: bool = False,
    ) -> None:
        """Answer the next `count` requests whose path matches the regex `path` with a fault.

        `status` 429 defaults `retry_after` to 1 second; `body` defaults to the API's own
        error shape for that status; `disconnect=True` closes the connection without answering.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(
                _Fault(re.compile(path), method and method.upper(), status, count, retry_after, body, disconnect)
            )

    def clear_faults(self) -> None:
        """Forget faults that have not fired yet."""
        with self._lock:
            self._faults.clear()

    def requests_matching(self, path: str, method: str | None = None) -> list[LoggedRequest]:
        """Logged requests whose path matches the regex `path` (and `method`, if given)."""
        with self._lock:
            return [
                r for r in self.requests if re.search(path, r.path) and (method is None or r.method == method.upper())
            ]

    def _take_fault(self, request: Request) -> _Fault | None:
        for fault in self._faults:
            if fault.pattern.search(request.path) and fault.method in (None, request.method):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _respond(self, request: Request) -> tuple[Any, Any, Any]:
        with self._lock:
            fault = self._take_fault(request)
            if fault is not None:
                status, body, headers = (
                    (None, None, None)
                    if fault.disconnect
                    else (
                        fault.status,
                        fault.body or self.api.error_body(request.path, fault.status),
                        {"Retry-After": str(fault.retry_after)} if fault.retry_after else {},
                    )
                )
            else:
                # One lock around the API keeps its state consistent without per-API locking.
                status, body, headers = self.api.handle(request)
            self.requests.append(
                LoggedRequest(
                    request.method,
                    request.path,
                    request.query,
                    _loggable_body(request),
                    status,
                    request.caller,
                    time.time(),
                )
            )
        return status, body, headers
