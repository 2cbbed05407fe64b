"""``X-Forwarded-Proto`` and ``X-Forwarded-For`` from a trusted proxy, as uvicorn takes them.

Under ``asgi`` uvicorn's ``ProxyHeadersMiddleware`` sets a request's scheme and client from those
headers when the peer is trusted (``FORWARDED_ALLOW_IPS``, by default the loopback addresses): the
console marks its cookies ``Secure`` behind a proxy that terminates TLS. The threaded front end builds
its scopes itself and hands each to that same middleware, so both trust the same peers the same way.
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

DEFAULT_TRUSTED = "127.0.0.1,::1"  # uvicorn's default


async def _unchanged(scope: Any, receive: Any, send: Any) -> None:
    """The app behind the middleware: the scope it was given, as the middleware left it, is all that counts."""


class ProxyHeaders:
    def __init__(self) -> None:
        # Read once, as uvicorn reads it when it starts.
        self._middleware = ProxyHeadersMiddleware(
            _unchanged, trusted_hosts=os.environ.get("FORWARDED_ALLOW_IPS", DEFAULT_TRUSTED)
        )

    def apply(self, scope: dict[str, Any]) -> None:
        """Set ``scope``'s scheme and client from the proxy's headers if its peer is trusted (in place)."""
        # The middleware awaits nothing but the app above, which returns at once: one step runs it through.
        step = self._middleware(scope, _unchanged, _unchanged)  # type: ignore[arg-type]
        try:
            step.send(None)
        except StopIteration:
            return
        step.close()
        raise RuntimeError("uvicorn's ProxyHeadersMiddleware waited for something")
