"""Access tokens for the root client (OAuth 2.0 client credentials), and requests that carry them.

A plain form POST to the v2.0 token endpoint is all the client-credentials grant needs, so the
engine sends it with its own httpx client instead of MSAL (whose requests session would take its
CA from REQUESTS_CA_BUNDLE rather than the engine's config).
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from scaivault_core import (
    InvalidConfig,
    kits,  # the HTTP kit by attribute: httpx is imported at first use, not at start-up
)

from .settings import GUID, Endpoints

if TYPE_CHECKING:
    import httpx

    from scaivault_core.kits.http import ApiClient

TOKEN_SERVICE = "the Microsoft Entra token endpoint"
REFRESH_MARGIN = 120  # seconds: a token this close to expiry is replaced before use


@attrs.frozen
class RootCredentials:
    client_id: str
    client_secret: str = attrs.field(repr=False)
    tenant_id: str


def root_credentials(data: dict[str, Any], config_tenant: str | None) -> RootCredentials:
    """The root secret's fields, checked; ``InvalidConfig`` names what is missing."""
    for field in ("client_id", "client_secret"):
        if not isinstance(data.get(field), str) or not data[field]:
            raise InvalidConfig(f"The root credentials need {field}.", field=f"root_credentials.{field}")
    tenant = config_tenant or data.get("tenant_id")
    if not isinstance(tenant, str) or not GUID.fullmatch(tenant):
        raise InvalidConfig(
            "The tenant id is missing: set config.tenant_id or tenant_id in the root credentials "
            "(the directory id, a GUID).",
            field="config.tenant_id",
        )
    return RootCredentials(data["client_id"], data["client_secret"], tenant)


class RootTokens:
    """Client-credentials tokens of the root client, one per audience, cached until near expiry."""

    def __init__(self, api: ApiClient, endpoints: Endpoints, credentials: Callable[[], RootCredentials]) -> None:
        self._api, self._endpoints, self._credentials = api, endpoints, credentials
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def tenant_id(self) -> str:
        return self._credentials().tenant_id

    def token(self, scope: str, *, fresh: bool = False) -> str:
        """A bearer token for ``scope`` (e.g. ``https://graph.microsoft.com/.default``)."""
        with self._lock:
            cached = self._cache.get(scope)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
            token, lifetime = self._request(scope)
            self._cache[scope] = (token, time.monotonic() + max(lifetime - REFRESH_MARGIN, 0))
            return token

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _request(self, scope: str) -> tuple[str, float]:
        creds = self._credentials()
        url = f"{self._endpoints.authority_host}/{creds.tenant_id}/oauth2/v2.0/token"
        response = self._api.send(
            "POST",
            url,
            service=TOKEN_SERVICE,
            idempotent=True,
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
                "scope": scope,
            },
        )
        if response.status_code in (400, 401):
            # The identity platform refuses bad tenants, clients, secrets and scopes with 400/401.
            code, message = kits.http.error_parts(response)
            raise InvalidConfig(
                f"Microsoft Entra ID refused the root credentials for {scope}: {code}: {message}",
                field="root_credentials",
                api_code=code,
            )
        if response.status_code != 200:
            raise kits.http.response_error(response, TOKEN_SERVICE, f"issue a token for {scope}")
        body = response.json()
        return body["access_token"], float(body.get("expires_in", 3599))

    def call(
        self, method: str, url: str, *, scope: str, service: str, idempotent: bool, **kwargs: Any
    ) -> httpx.Response:
        """Send a request with a token for ``scope``; on 401, once more with a fresh token."""
        auth = kits.http.RootBearer(
            lambda fresh: self.token(scope, fresh=fresh), service=service, holder="the root client"
        )
        return self._api.send(method, url, service=service, idempotent=idempotent, auth=auth, **kwargs)
