"""Where the Redis server is, and the engine's pooled root client.

redis-py's pool is thread-safe and replaces a connection that broke; one retry without backoff
covers a pooled connection the server closed while idle. Every command the engine sends is
idempotent (``ACL SETUSER`` starts with ``reset``; ``ACL DELUSER`` of a missing user is a no-op),
so running one again after a lost reply is safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import attrs
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig
from scaivault_core.kits.connection_urls import check_connection_url, render_connection_url

T = TypeVar("T")
DEFAULT_PORT = 6379
POOL_SIZE = 4


@attrs.frozen
class Target:
    """The server's address and database; credentials are never part of it."""

    host: str
    port: int
    db: int
    tls: bool

    def url(self, username: str, password: str) -> str:
        """A ``redis://`` (or ``rediss://``) URL for one user, credentials URL-encoded."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (
            f"{'rediss' if self.tls else 'redis'}://{quote(username, safe='')}:{quote(password, safe='')}"
            f"@{host}:{self.port}/{self.db}"
        )


def target_from_config(config: Any) -> Target:
    """The target from ``host``/``port``/``db``/``tls``, or from ``connection_url``.

    ``invalid_config`` if both or neither.
    """
    if config.connection_url and config.host:
        raise InvalidConfig("Give config.connection_url or config.host, not both.", field="config.connection_url")
    if not config.connection_url:
        if not config.host:
            raise InvalidConfig("config.host (or config.connection_url) is required.", field="config.host")
        return Target(config.host, config.port, config.db, config.tls)
    field = "config.connection_url"
    check_connection_url(config.connection_url, field)
    parts = urlsplit(render_connection_url(config.connection_url, "", ""))
    if parts.scheme not in ("redis", "rediss"):
        raise InvalidConfig("config.connection_url must start with redis:// or rediss://.", field=field)
    if parts.username or parts.password:
        raise InvalidConfig(
            "config.connection_url may hold only {{username}} and {{password}} placeholders; "
            "the credentials themselves belong in the root secret.",
            field=field,
        )
    if parts.query or parts.fragment:
        raise InvalidConfig("config.connection_url takes no query parameters.", field=field)
    try:
        port = parts.port or DEFAULT_PORT
        db = int(parts.path.strip("/") or 0)
    except ValueError:
        raise InvalidConfig("config.connection_url has an invalid port or database number.", field=field) from None
    if not parts.hostname:
        raise InvalidConfig("config.connection_url needs a host.", field=field)
    return Target(parts.hostname, port, db, parts.scheme == "rediss" or config.tls)


def classify(exc: BaseException) -> Exception:
    """A redis-py error as the core's error: refused credentials, unreachable server, or a refused command."""
    if isinstance(exc, redis.exceptions.AuthenticationError):
        return InvalidConfig(f"Redis refused the root credentials: {exc}", field="root_credentials")
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return InvalidConfig(f"The root user lacks a permission the engine needs: {exc}", field="root_credentials")
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return EngineUnreachable(f"Cannot reach Redis: {exc}")
    return EngineError(f"Redis refused the command: {exc}")


class RootClient:
    """A lazily built client on a small blocking pool, authenticated with the root credentials."""

    def __init__(
        self,
        target: Target,
        credentials: Callable[[], dict[str, Any]],
        *,
        connect_timeout: float,
        socket_timeout: float,
        tls_ca_file: str | None,
    ) -> None:
        self._target, self._credentials = target, credentials
        self._options = {"socket_connect_timeout": connect_timeout, "socket_timeout": socket_timeout}
        if target.tls:
            self._options.update(connection_class=redis.SSLConnection, ssl_ca_certs=tls_ca_file)
        self._client: redis.Redis | None = None
        self._lock = threading.Lock()

    def _build(self) -> redis.Redis:
        root = self._credentials()
        username, password = root.get("username") or None, root.get("password") or None
        if not all(v is None or isinstance(v, str) for v in (username, password)):
            raise InvalidConfig(
                "The root credentials' username and password must be strings.", field="root_credentials"
            )
        pool = redis.BlockingConnectionPool(
            max_connections=POOL_SIZE,
            timeout=self._options["socket_timeout"],
            host=self._target.host,
            port=self._target.port,
            db=self._target.db,
            username=username,
            password=password,
            decode_responses=True,
            retry=Retry(NoBackoff(), 1),
            **self._options,
        )
        client = redis.Redis(connection_pool=pool)
        # redis-py's parser for COMMAND replies fails on COMMAND INFO of an unknown name (a nil entry);
        # the engine reads the reply itself.
        client.set_response_callback("COMMAND", lambda response, **options: response)
        return client

    def call(self, work: Callable[[redis.Redis], T]) -> T:
        """Run ``work`` with the root client; redis-py errors come out as the core's errors."""
        with self._lock:
            if self._client is None:
                self._client = self._build()
            client = self._client
        try:
            return work(client)
        except redis.RedisError as exc:
            raise classify(exc) from None

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.connection_pool.disconnect()
