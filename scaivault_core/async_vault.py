"""``AsyncVault``: the embedded vault for asyncio applications (FastAPI, aiohttp), without blocking
their event loop.

A ``Vault`` call talks to the store and to targets (PostgreSQL, AWS, ...) synchronously; awaited from
a coroutine it would stall every other request of the loop. ``AsyncVault`` has the same methods,
each an awaitable that runs the ``Vault`` method in a worker thread (``asyncio.to_thread``), as
starlette does for the REST server's handlers. The methods are made from ``Vault``'s, so a new one
is here as soon as it is there; the answers are the same models.

    vault = AsyncVault(Vault())
    app_session = vault.as_identity("sa:reporting-service")
    async with app_session.dynamic_credentials("support-db", "readonly", ttl="1h") as creds:
        ...
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from .credentials import DynamicCredentials, held_async
from .hvac_names import ALIASES, add_hvac_names
from .vault import Session, Vault, _Operations

# Not awaitable: they do no I/O (a view as another identity) or are the async ones written out below.
_OWN = {"as_identity", "authenticate", "dynamic_credentials", "close"}


class AsyncVault:
    """A ``Vault`` (or a ``Session`` of one) whose methods are awaitables run in a worker thread."""

    def __init__(self, vault: Vault | Session) -> None:
        self.sync = vault  # the wrapped vault, for what has no async form (the store, settings, ...)

    def __repr__(self) -> str:
        return f"<AsyncVault {self.sync.identity}>"

    @property
    def identity(self) -> str:
        return self.sync.identity

    def as_identity(self, identity: str) -> AsyncVault:
        """This vault acting as ``identity`` (policies checked on every call)."""
        return AsyncVault(self._vault().as_identity(identity))

    async def authenticate(self, token: str | None) -> AsyncVault:
        """The vault acting as a bearer token's identity, or ``unauthenticated``."""
        return AsyncVault(await asyncio.to_thread(self._vault().authenticate, token))

    def dynamic_credentials(
        self,
        engine: str,
        role: str,
        ttl: Any = None,
        metadata: dict[str, Any] | None = None,
        renew: bool = False,
        **params: Any,
    ) -> AbstractAsyncContextManager[DynamicCredentials]:
        """``async with``: credentials issued for the block and revoked after it; ``renew=True`` renews in a task."""
        return held_async(self, engine, role, ttl=ttl, metadata=metadata, renew=renew, **params)

    async def aclose(self) -> None:
        """Close the wrapped vault: its worker, its engine connections, its store."""
        await asyncio.to_thread(self._vault().close)

    def _vault(self) -> Vault:
        """The wrapped ``Vault``: a ``Session`` (a view as one identity) neither changes identity nor closes."""
        if not isinstance(self.sync, Vault):
            raise TypeError("This AsyncVault wraps a Session; wrap the Vault to change identity or close it.")
        return self.sync

    async def __aenter__(self) -> AsyncVault:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


def _in_thread(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def call(self: AsyncVault, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self.sync, name), *args, **kwargs)

    return call


def _public_methods() -> dict[str, Callable[..., Any]]:
    """Every public method of ``Vault`` (its operations and its own), by name."""
    methods: dict[str, Callable[..., Any]] = {}
    for cls in reversed(Vault.__mro__):
        if cls in (_Operations, Vault):
            methods.update(
                {name: fn for name, fn in vars(cls).items() if inspect.isfunction(fn) and not name.startswith("_")}
            )
    return methods


for _name, _method in _public_methods().items():
    if _name not in _OWN and _name not in ALIASES and _name not in vars(AsyncVault):
        setattr(AsyncVault, _name, _in_thread(_name, _method))
add_hvac_names(AsyncVault)
