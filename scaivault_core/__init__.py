"""ScaiVault core: embeddable dynamic secrets. Plugins import only the names re-exported here."""

from .clock import Clock, ManualClock, SystemClock
from .default_plugins.passwords import random_password
from .durations import format_duration, parse_duration
from .engine import Engine, EngineContext, IssueRequest, Issued, LeaseLimits, NoFields, Renewed
from .errors import (Conflict, EngineError, EngineNotFound, EngineUnreachable, InvalidConfig, InvalidRequest,
                     LeaseExpired, LeaseNotFound, NotFound, PermissionDenied, QuotaExceeded, RoleNotFound,
                     ScaiVaultError, TTLExceedsMax, Unauthenticated)
from .hookspecs import hookimpl
from .http import ApiClient, RetryPolicy, error_parts, response_error, tls_context
from .leases import LeaseOptions
from .models import IssuedCredentials, Lease, LeaseState, RenewResult
from .plugins import make_plugin_manager
from .redaction import redact
from .templates import template_list
from .vault import Session, Vault

__all__ = [
    "Clock", "ManualClock", "SystemClock", "format_duration", "parse_duration",
    "Engine", "EngineContext", "IssueRequest", "Issued", "LeaseLimits", "NoFields", "Renewed",
    "Conflict", "EngineError", "EngineNotFound", "EngineUnreachable", "InvalidConfig", "InvalidRequest",
    "LeaseExpired", "LeaseNotFound", "NotFound", "PermissionDenied", "QuotaExceeded", "RoleNotFound",
    "ScaiVaultError", "TTLExceedsMax", "Unauthenticated",
    "hookimpl", "LeaseOptions", "IssuedCredentials", "Lease", "LeaseState", "RenewResult",
    "ApiClient", "RetryPolicy", "error_parts", "response_error", "tls_context",
    "make_plugin_manager", "random_password", "redact", "template_list", "Session", "Vault",
]
