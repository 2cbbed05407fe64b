"""What the compatible paths answer: Vault's envelope, Vault's ``{"errors": [...]}`` and its status codes.

Errors are converted here and nowhere else on these paths. Vault answers a bad or missing token
with ``403 permission denied`` (its clients treat 403 as "not authenticated", 401 as something
else), most request errors with ``400``, a path it has no handler for with ``404``, and a failure
of the target with ``500``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ...errors import ScaiVaultError
from ...logs import request_id
from ..errors import log_unexpected

# Our error codes -> Vault's status for them. A status kept as ours: 405, 408, 413 (transport-level).
STATUS = {
    "unauthenticated": 403,
    "permission_denied": 403,
    "engine_not_found": 404,
    "not_found": 404,
    "role_not_found": 400,
    "lease_not_found": 400,
    "lease_expired": 400,
    "invalid_request": 400,
    "invalid_config": 400,
    "ttl_exceeds_max": 400,
    "conflict": 400,
    "quota_exceeded": 429,
    "engine_unreachable": 500,
    "engine_error": 500,
    "internal": 500,
    "unavailable": 503,
}
KEPT_STATUSES = (405, 408, 413)
HEADERS = {"Cache-Control": "no-store"}  # answers carry credentials: no cache may keep them


class VaultError(Exception):
    """An answer in Vault's words: ``status`` and the ``errors`` list."""

    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(status, errors)
        self.status, self.errors = status, list(errors)


def envelope(
    data: Any = None,
    *,
    lease_id: str = "",
    renewable: bool = False,
    lease_duration: int = 0,
    warnings: list[str] | None = None,
    auth: Any = None,
) -> dict[str, Any]:
    """Vault's response body around ``data``."""
    return {
        "request_id": request_id() or str(uuid.uuid4()),
        "lease_id": lease_id,
        "renewable": renewable,
        "lease_duration": lease_duration,
        "data": data,
        "wrap_info": None,
        "warnings": warnings or None,
        "auth": auth,
    }


def answer(body: dict[str, Any] | None, status: int = 200) -> Response:
    if body is None:
        return Response(status_code=204, headers=HEADERS)
    return JSONResponse(body, status_code=status, headers=HEADERS)


def errors(status: int, *messages: str) -> JSONResponse:
    return JSONResponse({"errors": list(messages)}, status_code=status, headers=HEADERS)


def error_answer(exc: BaseException, request: Request) -> JSONResponse:
    """The Vault-shaped answer for ``exc``; anything not ours is a bug, logged without its message."""
    if isinstance(exc, VaultError):
        return errors(exc.status, *exc.errors)
    if not isinstance(exc, ScaiVaultError):
        log_unexpected(exc, request)
        return errors(500, f"internal error (request id {request_id()})")
    status = exc.status if exc.status in KEPT_STATUSES else STATUS.get(exc.code, 500 if exc.status >= 500 else 400)
    if exc.code in ("unauthenticated", "permission_denied"):
        return errors(status, "permission denied", exc.message)
    if exc.code == "engine_not_found":  # only ever after the caller's grant on the path was checked
        route = request.url.path.removeprefix("/v1/")
        return errors(status, f'no handler for route "{route}". route entry not found.')
    if exc.code == "role_not_found":
        return errors(status, f"unknown role: {request.path_params.get('role', '')}")
    return errors(status, exc.message)
