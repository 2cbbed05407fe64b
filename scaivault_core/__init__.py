"""ScaiVault core: embeddable dynamic secrets. Plugins import only the names re-exported here."""

from typing import TYPE_CHECKING

from .builtin_plugins.passwords import random_password
from .clock import Clock, ManualClock, SystemClock
from .durations import format_duration, parse_duration
from .engine import (
    Engine,
    EngineContext,
    Issued,
    IssueRequest,
    LeaseLimits,
    NoFields,
    Renewed,
    command_field,
    directory_field,
    environment_field,
    file_field,
)
from .errors import (
    AccessDenied,
    Conflict,
    EngineError,
    EngineNotFound,
    EngineUnreachable,
    InvalidConfig,
    InvalidRequest,
    JobNotFound,
    LeaseExpired,
    LeaseNotFound,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RoleNotFound,
    ScaiVaultError,
    TTLExceedsMax,
    Unauthenticated,
    Unavailable,
)
from .hookspecs import hookimpl
from .leases import LeaseOptions
from .models import IssuedCredentials, Lease, LeaseState, RenewResult
from .plugin_manager import make_plugin_manager
from .policies import Explanation
from .redaction import redact
from .settings import Settings
from .templates import template_list
from .vault import Session, Vault

__all__ = [
    "Clock",
    "ManualClock",
    "SystemClock",
    "format_duration",
    "parse_duration",
    "Engine",
    "EngineContext",
    "IssueRequest",
    "Issued",
    "LeaseLimits",
    "NoFields",
    "Renewed",
    "command_field",
    "directory_field",
    "environment_field",
    "file_field",
    "Conflict",
    "EngineError",
    "EngineNotFound",
    "EngineUnreachable",
    "InvalidConfig",
    "InvalidRequest",
    "JobNotFound",
    "LeaseExpired",
    "LeaseNotFound",
    "NotFound",
    "PermissionDenied",
    "QuotaExceeded",
    "RoleNotFound",
    "ScaiVaultError",
    "TTLExceedsMax",
    "Unauthenticated",
    "AccessDenied",
    "Unavailable",
    "hookimpl",
    "LeaseOptions",
    "IssuedCredentials",
    "Lease",
    "LeaseState",
    "RenewResult",
    "make_plugin_manager",
    "Explanation",
    "random_password",
    "redact",
    "Settings",
    "template_list",
    "Session",
    "Vault",
    "ScaiVaultClient",
    "AsyncScaiVaultClient",
    "AsyncVault",
    "DynamicCredentials",  # loaded on first use (below)
]

# Kits that only some plugins need (SQL statement roles, connection URLs, the HTTP client of the
# cloud engines) live in ``scaivault_core.kits``, not here.
# Loaded on first use, so that embedding the core or starting the server never imports what it
# does not use: the front-end pieces plugins may extend (``Operation``, an operation for
# ``register_routes``; ``run_operation``, to run one from a command added through ``register_commands``;
# ``command_output``, ``emit`` and ``emit_raw``, so that such a command takes --format and --field and prints
# as every other does).
# The clients (httpx) and the asyncio facade load on first use too: an application that embeds the
# vault pays for neither.
_LAZY = {
    "Operation": ("api", "Operation"),
    "run_operation": ("cli", "run_operation"),
    "command_output": ("cli", "command_output"),
    "emit": ("cli", "emit"),
    "emit_raw": ("cli", "emit_raw"),
    "ScaiVaultClient": ("client", "ScaiVaultClient"),
    "AsyncScaiVaultClient": ("client", "AsyncScaiVaultClient"),
    "AsyncVault": ("async_vault", "AsyncVault"),
    "DynamicCredentials": ("credentials", "DynamicCredentials"),
}
if TYPE_CHECKING:  # what a type checker sees of them
    from .api import Operation as Operation
    from .async_vault import AsyncVault as AsyncVault
    from .cli import command_output as command_output
    from .cli import emit as emit
    from .cli import emit_raw as emit_raw
    from .cli import run_operation as run_operation
    from .client import AsyncScaiVaultClient as AsyncScaiVaultClient
    from .client import ScaiVaultClient as ScaiVaultClient
    from .credentials import DynamicCredentials as DynamicCredentials


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attribute)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
