"""A Python client for the ScaiVault REST API (httpx), sync and asyncio.

Its methods are made from the operation table: they have ``scaivault_core.api.VaultAPI``'s names and
signatures and answer what the embedded ``Vault`` answers: the same models (``IssuedCredentials``,
``Lease``, ``Policy``, ...; a ``Page`` of them for a list), built from the JSON bodies by the model the
table names for each operation (``Operation.answer``). So code written against an embedded vault runs
against a server unchanged. ``client.json`` is the same client answering the JSON bodies themselves, as
``VaultAPI`` does in-process (the CLI uses it). The sync and asyncio clients add only how a request is
sent (``_call``). Errors come back as the same ``ScaiVaultError`` subclasses the core raises, built from
the error JSON in one place (``error_from_response``). ``dynamic_credentials`` is the guide's
context-manager pattern: the lease is revoked on exit, also when the body raises, and can be renewed in
the background.

    with ScaiVaultClient("https://vault:8200", token) as client:
        with client.dynamic_credentials("support-db", "readonly", ttl="1h") as creds:
            connect(creds["connection_url"])
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import TYPE_CHECKING, Any

import httpx

from .api import OPERATIONS, Operation, VaultAPI
from .api.jobs import Waiting
from .api.jobs import follow as follow_job
from .api.paging import Page, follow, follow_async
from .api.table import paged_list
from .credentials import DynamicCredentials, held, held_async
from .errors import ALL_ERRORS, InvalidConfig, JobStillRunning, ScaiVaultError, Unavailable
from .hvac_names import add_hvac_names
from .logs import REQUEST_ID_HEADER, request_id
from .models import Job

__all__ = [
    "AsyncScaiVaultClient",
    "DynamicCredentials",
    "JobStillRunning",
    "ScaiVaultClient",
    "ServerUnreachable",
    "error_from_response",
]

log = logging.getLogger("scaivault.client")

_BY_CODE: dict[str, type[ScaiVaultError]] = {}
for _cls in ALL_ERRORS:
    _BY_CODE.setdefault(_cls.code, _cls)


class ServerUnreachable(Unavailable):
    """The client could not talk to the ScaiVault server at all."""

    code, status = "server_unreachable", 503
    default_message = "Cannot reach the ScaiVault server; check the address and that it is running."


def error_from_response(response: httpx.Response) -> ScaiVaultError:
    """The ``ScaiVaultError`` an error response stands for (the one place the client converts errors)."""
    try:
        error = response.json()["error"]
        code, message, details = str(error["code"]), str(error["message"]), dict(error.get("details") or {})
    except (ValueError, KeyError, TypeError):
        exc = ScaiVaultError(f"The server answered {response.status_code} without an error body.")
        exc.status = response.status_code
        return exc
    cls = _BY_CODE.get(code, ScaiVaultError)
    exc = cls(message, **details)
    if cls is ScaiVaultError:  # a code this client does not know: keep the server's word for it
        exc.code = code
    exc.status = response.status_code
    return exc


def _drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class _Calls:
    """The operations, one request each, answering the JSON bodies; subclasses send them synchronously or
    with asyncio (the clients), or answer models (``_Typed``).

    The methods are made from the operation table (``_method`` below): each has the signature and
    docstring of the ``VaultAPI`` method of the same name and sends the request its operation declares.
    """

    if TYPE_CHECKING:  # made from the table below; these are the ones the clients' own helpers call
        issue: Callable[..., Any]
        renew: Callable[..., Any]
        revoke: Callable[..., Any]
        get_job: Callable[..., Any]
    _request_timeout: Any = httpx.USE_CLIENT_DEFAULT  # with_timeout() sets it for one view of the client

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def with_timeout(self, seconds: float | None) -> Any:
        """The same client (sharing its connections) whose calls wait ``seconds`` for an answer (None: forever):
        ``client.with_timeout(300).revoke_prefix("lease_", engine="pg")``. Close the original, not the view."""
        view = copy.copy(self)
        view._request_timeout = seconds
        return view

    def _operation(
        self, op: Operation, path: dict[str, str], query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """Send a plugin's ``Operation`` (``scaivault_core.Operation``): its path filled from ``path``."""
        return self._call(op.method, op.url(path), json=body, params=_drop_none(query or {}) or None)


def _method(op: Operation) -> Callable[..., Any]:
    """The client's method for ``op``: the ``VaultAPI`` method's signature and docstring, one request."""
    method_name = op.name
    if method_name is None:
        raise ValueError(f"{op.operation_id} calls no VaultAPI method")  # OPERATIONS hold only the core's
    api_method = getattr(VaultAPI, method_name)
    # Any: the sync client answers the body, the asyncio one an awaitable of it.
    signature = inspect.signature(api_method).replace(return_annotation="Any")

    def call(self: _Calls, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        url, query, body = op.request({name: value for name, value in bound.arguments.items() if name != "self"})
        return self._call(op.method, url, json=body, params=query or None)

    call.__name__, call.__qualname__, call.__doc__ = method_name, f"_Calls.{method_name}", api_method.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]  # what help() and IDEs show
    return call


for _op in OPERATIONS:
    _made = _method(_op)
    setattr(_Calls, _made.__name__, _made)
add_hvac_names(_Calls)


class _JSON(_Calls):
    """``client.json``: the client's operations answering the JSON bodies as the server sends them (what
    ``VaultAPI`` answers in-process), over the same connections and timeout."""

    def __init__(self, client: _Typed) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{self._client!r}.json"

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return self._client._call(method, path, json=json, params=params)

    def with_timeout(self, seconds: float | None) -> Any:
        return self._client.with_timeout(seconds).json

    def iterate(self, name: str, *args: Any, **arguments: Any) -> Any:
        """Every item of the list operation ``name`` as JSON, following ``next`` page by page."""
        op = paged_list(name)
        method = getattr(self, name)
        return self._client._follow(lambda **after: method(*args, **{**arguments, **after}), op.items)

    def wait_job(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        interval: float = 0.5,
        progress: Callable[[dict[str, Any]], None] | None = None,
    ) -> Any:
        """The client's ``wait_job``, whose ``progress`` hears each polled job as JSON."""
        return self._client._wait_job(job_id, timeout, interval, progress)


def _same(body: Any) -> Any:
    return body


def _maker(op: Operation, arguments: dict[str, Any]) -> Callable[[Any], Any]:
    """What makes the ``Vault`` method's answer of ``op``'s JSON answer to a call with ``arguments``."""
    if op.accepted is not None and arguments.get("sync", True) is False:
        return Job.from_dict  # started as a job: Vault's revoke_prefix_job / reconcile_job answer
    item = op.answer or _same
    if op.items:
        return lambda body: Page([item(each) for each in body[op.items]], next=body.get("next"))
    return item


def _as_job(progress: Callable[[Job], None] | None) -> Callable[[dict[str, Any]], None] | None:
    """``progress`` hearing each polled job as a ``Job``, as ``Vault.get_job`` answers it."""
    if progress is None:
        return None
    return lambda body: progress(Job.from_dict(body))


def _typed_method(op: Operation) -> Callable[..., Any]:
    """The client's method for ``op`` answering models: the JSON method's request, then ``_maker``'s model."""
    name = str(op.name)  # OPERATIONS hold only the core's, each calling a VaultAPI method
    json_method: Any = getattr(_Calls, name)
    signature = json_method.__signature__

    def call(self: _Typed, *args: Any, **kwargs: Any) -> Any:
        make = _maker(op, signature.bind(self, *args, **kwargs).arguments)
        return self._answer(json_method(self, *args, **kwargs), make)

    call.__name__, call.__qualname__, call.__doc__ = name, f"_Typed.{name}", json_method.__doc__
    call.__signature__ = signature  # type: ignore[attr-defined]
    return call


class _Typed(_Calls):
    """The operations answering what ``Vault`` answers: its models (by each operation's ``answer``), a
    ``Page`` of them for a list, and its plain dicts where it has no model (``create_token``, ...)."""

    @property
    def json(self) -> _JSON:
        """This client answering the JSON bodies themselves: ``client.json.issue(...)["lease_id"]``."""
        return _JSON(self)

    @staticmethod
    def _follow(fetch: Callable[..., Any], key: str) -> Any:
        raise NotImplementedError

    def _answer(self, body: Any, make: Callable[[Any], Any]) -> Any:
        """``make(body)``, once the body is there (the asyncio client awaits it first)."""
        return make(body)

    if TYPE_CHECKING:  # each client's own: follow a job, ``progress`` hearing each polled state as JSON
        _wait_job: Callable[..., Any]


for _op in OPERATIONS:
    setattr(_Typed, str(_op.name), _typed_method(_op))
add_hvac_names(_Typed)


def _result(response: httpx.Response) -> Any:
    """A success's body: JSON as data, text (metrics, say) as ``str``, anything else as ``bytes``."""
    if response.status_code == 204:
        return None
    if 200 <= response.status_code < 300:
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/json":
            return response.json()
        return response.text if kind.startswith("text/") else response.content
    raise error_from_response(response)


def _unreachable(address: str, exc: httpx.TransportError) -> ServerUnreachable:
    return ServerUnreachable(f"Cannot reach the ScaiVault server at {address}: {type(exc).__name__}.", address=address)


def _verify(verify: Any) -> Any:
    """httpx's ``verify``, also taking a CA bundle path (which httpx itself no longer does); a bundle that
    cannot be used is ``invalid_config`` saying why, before any request."""
    if not isinstance(verify, (str, os.PathLike)):
        return verify
    path = os.fspath(verify)
    try:
        return ssl.create_default_context(cafile=path)
    except ssl.SSLError:  # before OSError, which it is a kind of
        reason = "it holds no PEM certificate"
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
    raise InvalidConfig(
        f"Cannot use the CA bundle {path}: {reason}. Give the PEM file of the CA that signed the "
        "server's certificate (--ca-cert, SCAIVAULT_CACERT).",
        field="ca_cert",
    )


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _traced() -> dict[str, str] | None:
    """The request id of the work this call is part of (a CLI command, a server's request), sent on: the
    server's log lines and audit entries for the call then carry the same id."""
    rid = request_id()
    return {REQUEST_ID_HEADER: rid} if rid else None


def _sent(method: str, path: str, response: httpx.Response) -> httpx.Response:
    log.debug("%s %s %s", method, path, response.status_code)  # the path only: no query, no body
    return response


class ScaiVaultClient(_Typed):
    """A synchronous client. ``verify``: True (system CAs), False, a CA bundle path, or an SSL context."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        verify: Any = True,
        timeout: float | None = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self._http = httpx.Client(
            base_url=self.address, headers=_headers(token), verify=_verify(verify), timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"<ScaiVaultClient {self.address}>"

    def __enter__(self) -> ScaiVaultClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    _follow = staticmethod(follow)

    def iterate(self, name: str, *args: Any, **arguments: Any) -> Iterator[Any]:
        """Every item of the list operation ``name`` (a model, as in its pages), following ``next`` page by page:
        ``for lease in client.iterate("list_leases", engine="pg")``; ``limit`` sets the page size."""
        return map(paged_list(name).answer or _same, self.json.iterate(name, *args, **arguments))

    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = _sent(
                method,
                path,
                self._http.request(
                    method, path, json=json, params=params, headers=_traced(), timeout=self._request_timeout
                ),
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.address, exc) from None
        return _result(response)

    def wait_job(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        interval: float = 0.5,
        progress: Callable[[Job], None] | None = None,
    ) -> dict[str, Any]:
        """Follow a job (``revoke_prefix(..., sync=False)``) until it ends: its ``result``, what the synchronous
        call answers. A failed job raises its error; still running after ``timeout`` s raises ``JobStillRunning``.
        ``progress(job)`` hears each state polled (a ``Job``)."""
        return self._wait_job(job_id, timeout, interval, _as_job(progress))

    def _wait_job(
        self, job_id: str, timeout: float | None, interval: float, progress: Callable[[dict[str, Any]], None] | None
    ) -> dict[str, Any]:
        return follow_job(self.json.get_job, job_id, timeout, interval=interval, progress=progress)

    def dynamic_credentials(
        self,
        engine: str,
        role: str,
        ttl: Any = None,
        metadata: dict[str, Any] | None = None,
        renew: bool = False,
        **params: Any,
    ) -> AbstractContextManager[DynamicCredentials]:
        """Issue credentials for the block and revoke them after it, also when it raises.

        With ``renew=True`` a background thread renews the lease at about 2/3 of its TTL until the
        block ends (for workers that outlive the TTL).
        """
        return held(self, engine, role, ttl=ttl, metadata=metadata, renew=renew, **params)


class AsyncScaiVaultClient(_Typed):
    """The asyncio client: the same methods, each returning an awaitable."""

    def __init__(
        self,
        address: str,
        token: str | None = None,
        *,
        verify: Any = True,
        timeout: float | None = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.address = address.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.address, headers=_headers(token), verify=_verify(verify), timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"<AsyncScaiVaultClient {self.address}>"

    async def __aenter__(self) -> AsyncScaiVaultClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    _follow = staticmethod(follow_async)

    def iterate(self, name: str, *args: Any, **arguments: Any) -> AsyncIterator[Any]:
        """Every item of the list operation ``name`` (a model), following ``next`` page by page:
        ``async for lease in client.iterate("list_leases", engine="pg")``."""
        return _made_async(paged_list(name).answer or _same, self.json.iterate(name, *args, **arguments))

    async def _answer(self, body: Any, make: Callable[[Any], Any]) -> Any:
        return make(await body)

    async def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = _sent(
                method,
                path,
                await self._http.request(
                    method, path, json=json, params=params, headers=_traced(), timeout=self._request_timeout
                ),
            )
        except httpx.TransportError as exc:
            raise _unreachable(self.address, exc) from None
        return _result(response)

    async def wait_job(
        self,
        job_id: str,
        timeout: float | None = None,
        *,
        interval: float = 0.5,
        progress: Callable[[Job], None] | None = None,
    ) -> dict[str, Any]:
        """Follow a job until it ends, as ``ScaiVaultClient.wait_job``."""
        return await self._wait_job(job_id, timeout, interval, _as_job(progress))

    async def _wait_job(
        self, job_id: str, timeout: float | None, interval: float, progress: Callable[[dict[str, Any]], None] | None
    ) -> dict[str, Any]:
        waiting = Waiting(timeout, interval, progress)
        while not waiting.ended(job := await self.json.get_job(job_id)):
            await asyncio.sleep(waiting.pause())
        return job["result"]

    def dynamic_credentials(
        self,
        engine: str,
        role: str,
        ttl: Any = None,
        metadata: dict[str, Any] | None = None,
        renew: bool = False,
        **params: Any,
    ) -> AbstractAsyncContextManager[DynamicCredentials]:
        """Issue credentials for the block and revoke them after it; ``renew=True`` renews in a task."""
        return held_async(self, engine, role, ttl=ttl, metadata=metadata, renew=renew, **params)


async def _made_async(make: Callable[[Any], Any], items: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for item in items:
        yield make(item)
