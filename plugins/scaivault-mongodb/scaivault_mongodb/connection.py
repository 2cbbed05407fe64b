"""One pooled root ``MongoClient`` per engine, and pymongo's errors as the core's errors.

A ``MongoClient`` is itself a thread-safe connection pool, so the engine keeps one for its root
user and shares it across leases and threads. It is built lazily: no connection, and for
``mongodb+srv`` no DNS lookup, until the first command. When MongoDB refuses the root
credentials the client is rebuilt once with freshly read ones, because another process may have
rotated them since this one connected.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig, ScaiVaultError

if TYPE_CHECKING:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

T = TypeVar("T")

# Server error codes (mongo/base/error_codes.yml) the engine acts on.
USER_NOT_FOUND = 11
UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18


def client_options(connect_timeout: float, operation_timeout: float) -> dict[str, Any]:
    """Keyword options for every client the engine opens (they win over the URL's own)."""
    return {
        "connect": False,
        "serverSelectionTimeoutMS": int(connect_timeout * 1000),
        "connectTimeoutMS": int(connect_timeout * 1000),
        "socketTimeoutMS": int(operation_timeout * 1000),
        "appname": "scaivault",
    }


def server_reason(exc: OperationFailure) -> str:
    """The server's own words for a refusal: ``errmsg (code N, CodeName)``."""
    details = exc.details or {}
    errmsg = details.get("errmsg") or "no reason given"
    name = details.get("codeName")
    return f"{errmsg} (code {exc.code}{', ' + name if name else ''})"


def classify(exc: PyMongoError, action: str) -> ScaiVaultError:
    """A pymongo error as the core's: refused root credentials, unreachable target, or a refused command."""
    # imported at first use: start-up loads every installed plugin
    from pymongo.errors import ConfigurationError, ConnectionFailure, OperationFailure

    if isinstance(exc, OperationFailure):
        if exc.code == AUTHENTICATION_FAILED:
            return InvalidConfig(
                f"MongoDB refused the root credentials: {server_reason(exc)}", field="root_credentials"
            )
        return EngineError(f"MongoDB refused {action}: {server_reason(exc)}")
    if isinstance(exc, ConnectionFailure):  # refused, timed out, no server selectable, connection lost
        return EngineUnreachable(f"Cannot reach MongoDB ({action}): {_short(exc)}")
    if isinstance(exc, ConfigurationError):
        cause = exc.__cause__
        if cause is not None and type(cause).__module__.startswith("dns."):
            return EngineUnreachable(f"Cannot resolve the mongodb+srv host name ({action}): {_short(exc)}")
        return InvalidConfig(f"MongoDB rejected config.connection_url: {_short(exc)}", field="config.connection_url")
    return EngineError(f"MongoDB failed {action}: {type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    """The first part of a driver message, without the topology dump pymongo appends."""
    text = str(exc).strip() or type(exc).__name__
    for tail in (", Timeout:", " (configured timeouts", ", full error:"):
        text = text.split(tail, 1)[0]
    return text.splitlines()[0]


class RootClient:
    """The engine's root ``MongoClient``, opened on first use and rebuilt when its credentials fail."""

    def __init__(self, url: Callable[[], str], options: dict[str, Any]) -> None:
        self._url, self._options = url, options
        self._client: MongoClient | None = None
        self._lock = threading.Lock()

    def _get(self) -> MongoClient:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        with self._lock:
            if self._client is None:
                try:
                    self._client = MongoClient(self._url(), **self._options)
                except PyMongoError as exc:
                    raise classify(exc, "connecting") from None
            return self._client

    def command(
        self, database: str, action: str, command: dict[str, Any], *, ok_codes: tuple[int, ...] = ()
    ) -> dict[str, Any]:
        """Run ``command`` on ``database``; a refusal whose code is in ``ok_codes`` is returned, not raised."""
        return self.run(action, lambda client: client[database].command(command), ok_codes=ok_codes)

    def run(
        self, action: str, work: Callable[[MongoClient], T], *, ok_codes: tuple[int, ...] = ()
    ) -> T | dict[str, Any]:
        """``work(client)``, with pymongo's errors translated; retried once after an authentication failure."""
        from pymongo.errors import OperationFailure, PyMongoError

        for attempt in (1, 2):
            client = self._get()
            try:
                return work(client)
            except OperationFailure as exc:
                if exc.code in ok_codes:
                    return dict(exc.details or {})
                if exc.code == AUTHENTICATION_FAILED and attempt == 1:
                    self.reset(client)  # read the root credentials again: they may have been rotated
                    continue
                raise classify(exc, action) from None
            except PyMongoError as exc:
                raise classify(exc, action) from None
        raise AssertionError("unreachable")

    def reset(self, stale: MongoClient | None = None) -> None:
        """Close the client (only ``stale``, if given) so the next command connects afresh."""
        with self._lock:
            client = self._client
            if client is None or (stale is not None and client is not stale):
                return
            self._client = None
        client.close()

    def close(self) -> None:
        self.reset()
