"""ScaiVault core: embeddable dynamic secrets. Plugins import only the names re-exported here."""

from .clock import Clock, ManualClock, SystemClock
from .connection_urls import check_connection_url, render_connection_url, root_connection_url
from .default_plugins.passwords import random_password
from .durations import format_duration, parse_duration
from .engine import (Engine, EngineContext, IssueRequest, Issued, LeaseLimits, NoFields, Renewed, command_field,
                     directory_field, environment_field, file_field)
from .errors import (Conflict, EngineError, EngineNotFound, EngineUnreachable, InvalidConfig, InvalidRequest,
                     LeaseExpired, LeaseNotFound, NotFound, PermissionDenied, QuotaExceeded, RoleNotFound,
                     ScaiVaultError, TTLExceedsMax, Unauthenticated)
from .hookspecs import hookimpl
from .leases import LeaseOptions
from .models import IssuedCredentials, Lease, LeaseState, RenewResult
from .plugins import make_plugin_manager
from .redaction import redact
from .service_urls import check_service_url
from .settings import Settings
from .statements import STATEMENT_FIELDS, StatementRole, check_statement_role, plan_revocation, render_renewal
from .templates import template_list
from .vault import Session, Vault

__all__ = [
    "Clock", "ManualClock", "SystemClock", "format_duration", "parse_duration",
    "Engine", "EngineContext", "IssueRequest", "Issued", "LeaseLimits", "NoFields", "Renewed",
    "command_field", "directory_field", "environment_field", "file_field",
    "Conflict", "EngineError", "EngineNotFound", "EngineUnreachable", "InvalidConfig", "InvalidRequest",
    "LeaseExpired", "LeaseNotFound", "NotFound", "PermissionDenied", "QuotaExceeded", "RoleNotFound",
    "ScaiVaultError", "TTLExceedsMax", "Unauthenticated",
    "hookimpl", "LeaseOptions", "IssuedCredentials", "Lease", "LeaseState", "RenewResult",
    "ApiClient", "RetryPolicy", "error_parts", "response_error", "tls_context",
    "make_plugin_manager", "random_password", "redact", "check_service_url", "Settings", "template_list", "Session",
    "Vault", "STATEMENT_FIELDS", "StatementRole", "check_statement_role", "plan_revocation", "render_renewal",
    "check_connection_url", "render_connection_url", "root_connection_url",
]

# Loaded on first use, so that embedding the core or starting the server never imports what it
# does not use: the front-end pieces plugins may extend (``Operation``, a REST operation for
# ``register_routes``; ``run_operation``, to run one from a command added through
# ``register_commands``), and the HTTP client kit of the cloud engines (httpx costs ~60 ms to import).
_LAZY = {"Operation": ("rest", "Operation"), "run_operation": ("cli", "run_operation"),
         **{name: ("http", name) for name in ("ApiClient", "RetryPolicy", "error_parts", "response_error", "tls_context")}}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
