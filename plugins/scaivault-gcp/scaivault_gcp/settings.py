"""The `gcp` engine's config and role fields, and the checks a role passes at creation."""

from __future__ import annotations

import re

import attrs

from scaivault_core import InvalidConfig, file_field

SERVICE_ACCOUNT_KEY, ACCESS_TOKEN = "service_account_key", "access_token"
SECRET_TYPES = (SERVICE_ACCOUNT_KEY, ACCESS_TOKEN)
# https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys#ServiceAccountKeyAlgorithm
KEY_ALGORITHMS = ("KEY_ALG_RSA_2048", "KEY_ALG_RSA_1024")
MAX_USER_MANAGED_KEYS = 10  # https://cloud.google.com/iam/quotas: user-managed keys per service account
MAX_TOKEN_LIFETIME = 3600  # generateAccessToken's ceiling without the org-policy extension
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*\.[a-z]{2,}", re.I)


@attrs.define
class Config:
    """Engine config: endpoints default from ``universe_domain`` and may be pointed elsewhere."""

    universe_domain: str = "googleapis.com"
    token_uri: str | None = None  # else the key's token_uri, else https://oauth2.{universe_domain}/token
    iam_endpoint: str | None = None  # https://iam.{universe_domain}
    iamcredentials_endpoint: str | None = None  # https://iamcredentials.{universe_domain}
    ca_bundle: str | None = file_field(default=None)  # PEM of CAs to trust instead; in SCAIVAULT_FILE_DIRS
    timeout: float = 30.0
    max_retries: int = 4
    propagation_timeout: float = 60.0  # seconds a rotated root key may take to work at the token endpoint


@attrs.frozen
class Endpoints:
    token_uri: str | None  # None: take the key's
    default_token_uri: str
    iam: str
    iamcredentials: str


@attrs.define
class Role:
    """A service-account key, or an access token of the account (``token_scopes`` required)."""

    secret_type: str
    service_account_email: str
    token_scopes: list[str] | None = None
    key_algorithm: str | None = None  # keys only; Google's default is KEY_ALG_RSA_2048


def _https(value: str, field: str) -> str:
    value = value.rstrip("/")
    if not value.startswith("https://"):
        raise InvalidConfig(f"config.{field} must be an https:// URL.", field=f"config.{field}")
    return value


def endpoints(config: Config) -> Endpoints:
    """The config's endpoints, defaults filled in; checks the other config fields too."""
    if not re.fullmatch(r"[a-z0-9.-]+\.[a-z]{2,}", config.universe_domain):
        raise InvalidConfig(
            "config.universe_domain must be a domain such as googleapis.com.", field="config.universe_domain"
        )
    if not 1 <= config.timeout <= 300:
        raise InvalidConfig("config.timeout must be 1 to 300 seconds.", field="config.timeout")
    if not 0 <= config.max_retries <= 10:
        raise InvalidConfig("config.max_retries must be 0 to 10.", field="config.max_retries")
    if not 1 <= config.propagation_timeout <= 600:
        raise InvalidConfig("config.propagation_timeout must be 1 to 600 seconds.", field="config.propagation_timeout")
    domain = config.universe_domain
    return Endpoints(
        _https(config.token_uri, "token_uri") if config.token_uri else None,
        f"https://oauth2.{domain}/token",
        _https(config.iam_endpoint or f"https://iam.{domain}", "iam_endpoint"),
        _https(config.iamcredentials_endpoint or f"https://iamcredentials.{domain}", "iamcredentials_endpoint"),
    )


def check_role(role: Role) -> None:
    """Check a role's fields against its secret type; raise ``InvalidConfig`` naming the first bad one."""
    if role.secret_type not in SECRET_TYPES:
        raise InvalidConfig(f"secret_type must be {' or '.join(SECRET_TYPES)}.", field="secret_type")
    if not _EMAIL.fullmatch(role.service_account_email):
        raise InvalidConfig(
            "service_account_email must be a service account's email, e.g. app@project.iam.gserviceaccount.com.",
            field="service_account_email",
        )
    if role.secret_type == SERVICE_ACCOUNT_KEY:
        if role.token_scopes is not None:
            raise InvalidConfig("token_scopes applies only to secret_type access_token.", field="token_scopes")
        if role.key_algorithm is not None and role.key_algorithm not in KEY_ALGORITHMS:
            raise InvalidConfig(f"key_algorithm must be one of {', '.join(KEY_ALGORITHMS)}.", field="key_algorithm")
        return
    if role.key_algorithm is not None:
        raise InvalidConfig("key_algorithm applies only to secret_type service_account_key.", field="key_algorithm")
    if not role.token_scopes:
        raise InvalidConfig(
            'An access_token role needs token_scopes, e.g. ["https://www.googleapis.com/auth/cloud-platform"].',
            field="token_scopes",
        )
    for i, scope in enumerate(role.token_scopes):
        if not scope.startswith("https://") or any(c.isspace() for c in scope):
            raise InvalidConfig(f"token_scopes[{i}] must be an OAuth scope URL.", field=f"token_scopes[{i}]")
