"""The one exception hierarchy: every error a user can meet has a stable code and an HTTP status.

Front ends convert these in exactly one place each; plugins raise them (or let the core translate
driver errors) so a caller never sees a driver's exception type.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .observers import tell


class ScaiVaultError(Exception):
    """Base of every ScaiVault error: ``code`` and ``status`` are stable, ``message`` says what to do."""

    # Set per class; an instance may carry others (the client keeps a server's code it does not know).
    code: str = "internal"
    status: int = 500
    default_message: ClassVar[str] = "Internal error."

    def __init__(self, message: str | None = None, **details: Any) -> None:
        self.message = message or self.default_message
        self.details = {k: v for k, v in details.items() if v is not None}
        super().__init__(self.message)
        tell("error", self)

    def to_dict(self) -> dict[str, Any]:
        """The error body every front end returns: ``{"error": {code, message, details}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


# -- the groups callers catch: each is an error of its own too, and every code keeps its own class --


class NotFound(ScaiVaultError):
    """Something that does not exist: a secret, policy or token (``not_found``), or, through its
    subclasses, an engine, a role or a lease. Catch this for "it is not there"."""

    code, status = "not_found", 404
    default_message = "Nothing exists at that path."


class InvalidRequest(ScaiVaultError):
    """The request must change before it can succeed: malformed (``invalid_request``), a configuration
    that does not validate, a TTL above the maximum, a lease that has ended. Catch this for "fix the input"."""

    code, status = "invalid_request", 400
    default_message = "The request is malformed."


class AccessDenied(ScaiVaultError):
    """The caller may not do this: no valid token (401) or no granting policy (403). Never raised itself."""

    code, status = "access_denied", 403
    default_message = "The caller may not do this."


class Unavailable(ScaiVaultError):
    """Not now: the target or the server cannot serve the request at the moment, or a quota is used up.
    The same request may succeed later; catch this to retry with backoff."""

    code, status = "unavailable", 503
    default_message = "The service cannot answer this now; retry shortly."


# -- the codes ---------------------------------------------------------------------------------------


class EngineNotFound(NotFound):
    code, status = "engine_not_found", 404
    default_message = "No engine has that name. List engines with GET /v1/dynamic/engines."


class RoleNotFound(NotFound):
    code, status = "role_not_found", 404
    default_message = "The engine has no role with that name."


class LeaseNotFound(NotFound):
    code, status = "lease_not_found", 404
    default_message = "No lease has that id."


class JobNotFound(NotFound):
    code, status = "job_not_found", 404
    default_message = "No job has that id."


class LeaseExpired(InvalidRequest):
    code, status = "lease_expired", 400
    default_message = "The lease has expired or was revoked; request new credentials."


class EngineUnreachable(Unavailable):
    """The target did not answer. ``may_still_apply``: the request may have reached it and take effect
    later (it timed out after sending); a create that failed so is revoked at once and again later."""

    code, status = "engine_unreachable", 502
    default_message = "The engine cannot reach its target system; check the network and the target."

    def __init__(self, message: str | None = None, *, may_still_apply: bool = False, **details: Any) -> None:
        super().__init__(message, **details)
        self.may_still_apply = may_still_apply


class EngineError(ScaiVaultError):
    """The target answered but refused the operation (a bad statement, a missing privilege)."""

    code, status = "engine_error", 502
    default_message = "The target system refused the operation."


class InvalidConfig(InvalidRequest):
    code, status = "invalid_config", 400
    default_message = "The configuration did not validate."


class TTLExceedsMax(InvalidRequest):
    code, status = "ttl_exceeds_max", 400
    default_message = "The requested TTL is above the role's max_ttl."


class Unauthenticated(AccessDenied):
    code, status = "unauthenticated", 401
    default_message = "A valid bearer token is required."


class PermissionDenied(AccessDenied):
    code, status = "permission_denied", 403
    default_message = "The identity has no policy granting this operation."


class Conflict(ScaiVaultError):
    code, status = "conflict", 409
    default_message = "The object already exists or was changed concurrently."


class QuotaExceeded(Unavailable):
    code, status = "quota_exceeded", 429
    default_message = "The lease quota for this engine or role is used up; revoke leases or raise it."


class JobStillRunning(Unavailable):
    """Raised where a caller waits for a job (the client's ``wait_job``, the CLI's ``--timeout``).

    Never by the server.
    """

    code, status = "job_still_running", 503
    default_message = "The job is still running; follow it with GET /v1/sys/jobs/{job_id}."


class PluginNotInstalled(InvalidConfig):
    default_message = "No installed plugin provides that engine type."


ALL_ERRORS: tuple[type[ScaiVaultError], ...] = (
    ScaiVaultError,
    NotFound,
    InvalidRequest,
    AccessDenied,
    Unavailable,
    EngineNotFound,
    RoleNotFound,
    LeaseNotFound,
    JobNotFound,
    LeaseExpired,
    EngineUnreachable,
    EngineError,
    InvalidConfig,
    TTLExceedsMax,
    Unauthenticated,
    PermissionDenied,
    Conflict,
    QuotaExceeded,
    JobStillRunning,
)
