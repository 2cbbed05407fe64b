"""The `azure` engine's config and role fields, the clouds it knows, and the checks a role passes."""

from __future__ import annotations

import re
from typing import Any

import attrs

from scaivault_core import InvalidConfig, ScaiVaultError, file_field, parse_duration

GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Secrets end this long after issue unless config.secret_lifetime says otherwise; leases cannot outlive it.
DEFAULT_SECRET_LIFETIME = "30d"
# Graph limits an application's displayName to 120 characters; names are the prefix plus the username.
MAX_NAME_PREFIX = 40


@attrs.frozen
class Cloud:
    authority_host: str
    graph_endpoint: str
    arm_endpoint: str


# https://learn.microsoft.com/en-us/graph/deployments and the ARM endpoints of each national cloud.
CLOUDS = {
    "AzurePublicCloud": Cloud(
        "https://login.microsoftonline.com", "https://graph.microsoft.com", "https://management.azure.com"
    ),
    "AzureUSGovernment": Cloud(
        "https://login.microsoftonline.us", "https://graph.microsoft.us", "https://management.usgovcloudapi.net"
    ),
    "AzureChinaCloud": Cloud(
        "https://login.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://management.chinacloudapi.cn",
    ),
}


@attrs.define
class Config:
    """Engine config; every endpoint defaults from ``environment`` and may be pointed elsewhere."""

    tenant_id: str | None = None  # else the root credentials' tenant_id
    environment: str = "AzurePublicCloud"
    authority_host: str | None = None  # the token endpoint is {authority_host}/{tenant}/oauth2/v2.0/token
    graph_endpoint: str | None = None  # requests go to {graph_endpoint}/v1.0/...
    graph_resource: str | None = None  # token audience for Graph; default graph_endpoint
    arm_endpoint: str | None = None
    arm_resource: str | None = None  # token audience for ARM; default arm_endpoint
    ca_bundle: str | None = file_field(default=None)  # PEM of CAs to trust instead; in SCAIVAULT_FILE_DIRS
    timeout: float = 30.0
    max_retries: int = 4
    secret_lifetime: Any = DEFAULT_SECRET_LIFETIME
    name_prefix: str = "scaivault-"
    propagation_timeout: float = 60.0  # seconds a rotated root secret may take to work at the token endpoint


@attrs.frozen
class Endpoints:
    """Where each API lives and which audience its tokens need, after defaults."""

    authority_host: str
    graph: str
    graph_scope: str
    arm: str
    arm_scope: str


@attrs.define
class AzureRole:
    """One role assignment a dynamic application gets: a role definition at a scope."""

    scope: str
    role_name: str | None = None
    role_id: str | None = None  # a GUID or a full roleDefinitionId


@attrs.define
class Role:
    """Either ``azure_roles`` (a new application per lease) or ``application_object_id`` (a secret on it)."""

    azure_roles: list[AzureRole] | None = None
    application_object_id: str | None = None


def endpoints(config: Config) -> Endpoints:
    """The config's endpoints, defaults filled in from its environment."""
    cloud = CLOUDS.get(config.environment)
    if cloud is None:
        raise InvalidConfig(f"config.environment must be one of {', '.join(CLOUDS)}.", field="config.environment")
    found = {}
    for field, default in (
        ("authority_host", cloud.authority_host),
        ("graph_endpoint", cloud.graph_endpoint),
        ("arm_endpoint", cloud.arm_endpoint),
    ):
        value = (getattr(config, field) or default).rstrip("/")
        if not value.startswith("https://"):
            raise InvalidConfig(f"config.{field} must be an https:// URL.", field=f"config.{field}")
        found[field] = value
    graph_resource = (config.graph_resource or found["graph_endpoint"]).rstrip("/")
    arm_resource = (config.arm_resource or found["arm_endpoint"]).rstrip("/")
    return Endpoints(
        found["authority_host"],
        found["graph_endpoint"] + "/v1.0",
        graph_resource + "/.default",
        found["arm_endpoint"],
        arm_resource + "/.default",
    )


def check_config(config: Config) -> int:
    """Check the numeric and naming fields; return ``secret_lifetime`` in seconds."""
    if config.tenant_id is not None and not GUID.fullmatch(config.tenant_id):
        raise InvalidConfig("config.tenant_id must be the directory (tenant) id, a GUID.", field="config.tenant_id")
    if not 1 <= config.timeout <= 300:
        raise InvalidConfig("config.timeout must be 1 to 300 seconds.", field="config.timeout")
    if not 0 <= config.max_retries <= 10:
        raise InvalidConfig("config.max_retries must be 0 to 10.", field="config.max_retries")
    if not 1 <= config.propagation_timeout <= 600:
        raise InvalidConfig("config.propagation_timeout must be 1 to 600 seconds.", field="config.propagation_timeout")
    if not re.fullmatch(rf"[A-Za-z0-9_.-]{{0,{MAX_NAME_PREFIX}}}", config.name_prefix):
        raise InvalidConfig(
            f"config.name_prefix may hold up to {MAX_NAME_PREFIX} letters, digits, '_', '.' or '-'.",
            field="config.name_prefix",
        )
    try:
        lifetime = parse_duration(config.secret_lifetime, "config.secret_lifetime")
    except ScaiVaultError as exc:
        raise InvalidConfig(exc.message, field="config.secret_lifetime") from None
    if not lifetime or lifetime < 3600:
        raise InvalidConfig("config.secret_lifetime must be at least 1h.", field="config.secret_lifetime")
    return lifetime


def check_role(role: Role) -> None:
    """Check a role's shape; raise ``InvalidConfig`` naming the first bad field."""
    if (role.azure_roles is None) == (role.application_object_id is None):
        raise InvalidConfig(
            "A role needs exactly one of azure_roles (a new application per lease) or "
            "application_object_id (a new secret on an existing application).",
            field="azure_roles",
        )
    if role.application_object_id is not None:
        if not GUID.fullmatch(role.application_object_id):
            raise InvalidConfig(
                "application_object_id must be the application's object id (a GUID), not its name.",
                field="application_object_id",
            )
        return
    if not role.azure_roles:
        raise InvalidConfig("azure_roles needs at least one {role_name or role_id, scope}.", field="azure_roles")
    seen = set()
    for i, item in enumerate(role.azure_roles):
        where = f"azure_roles[{i}]"
        if not item.scope.startswith("/") or "//" in item.scope or item.scope.endswith("/") and item.scope != "/":
            raise InvalidConfig(
                f"{where}.scope must be an ARM scope such as /subscriptions/<id> or "
                "/subscriptions/<id>/resourceGroups/<name>.",
                field=f"{where}.scope",
            )
        if (item.role_name is None) == (item.role_id is None):
            raise InvalidConfig(f"{where} needs exactly one of role_name or role_id.", field=where)
        if item.role_id is not None and not (
            GUID.fullmatch(item.role_id)
            or GUID.fullmatch(item.role_id.rsplit("/", 1)[-1])
            and "/providers/microsoft.authorization/roledefinitions/" in item.role_id.lower()
        ):
            raise InvalidConfig(
                f"{where}.role_id must be a role definition GUID or a full roleDefinitionId.", field=f"{where}.role_id"
            )
        if item.role_name is not None and not item.role_name.strip():
            raise InvalidConfig(f"{where}.role_name is empty.", field=f"{where}.role_name")
        key = (item.scope.lower(), (item.role_name or item.role_id).lower())
        if key in seen:
            raise InvalidConfig(f"{where} repeats an earlier role at the same scope.", field=where)
        seen.add(key)
