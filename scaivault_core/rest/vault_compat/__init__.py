"""The part of HashiCorp Vault's HTTP API that Vault's clients use for dynamic secrets.

hvac, the ``vault``/``bao`` CLI and Vault Agent templates work against ScaiVault by changing the
address and the token. The paths (``paths.PATHS``) are served beside the native API, after it, and
call the core exactly as their native twins do; only the shapes differ: Vault's envelope, its
``{"errors": [...]}`` and status codes (``envelope``), lease ids shaped as Vault's
(``{engine}/creds/{role}/{our id}``, ``lease_ids``) and Vault's field names (``engine_data``).
What differs from Vault is in docs/vault-compatibility.md.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from .dispatch import route
from .envelope import errors
from .paths import PATHS, VaultPath

__all__ = ["mount", "PATHS", "VaultPath"]


def mount(app: Starlette, max_body_bytes: int) -> None:
    """Serve the compatible paths after every route ``app`` already has, and Vault's 404 for an unknown path
    asked by a Vault client (one sending ``X-Vault-Token``) outside the native API's first path segments."""
    paths = [getattr(r, "path", "") for r in app.router.routes]  # a Mount or a plugin's route may have none
    native_roots = {_root(path) for path in paths if path.startswith("/v1/")}
    native_roots -= {"sys", "auth", ""}  # Vault's own namespaces, where native paths live too
    app.router.routes.extend(route(p.path, p.methods, max_body_bytes, auth=p.auth) for p in PATHS)
    app.router.default = _NotFound(app.router.default, native_roots)


def _root(path: str) -> str:
    first = path.removeprefix("/v1/").split("/", 1)[0]
    return "" if "{" in first else first


class _NotFound:
    """The router's last resort: Vault's ``404 {"errors": []}`` for Vault's clients, else the native 404."""

    def __init__(self, native: Any, native_roots: set[str]) -> None:
        self.native, self.native_roots = native, native_roots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        vault_client = scope["type"] == "http" and any(name == b"x-vault-token" for name, _ in scope["headers"])
        if not vault_client or not path.startswith("/v1/") or _root(path) in self.native_roots:
            await self.native(scope, receive, send)
            return
        await errors(404)(scope, receive, send)
