"""Access tokens for the root service account (OAuth 2.0 JWT bearer grant), and requests that carry them.

google-auth signs the assertion (RS256 with the key's private_key and its key id); the token
request itself goes through the engine's own httpx client, so it shares its CA, timeouts and
retries, and no requests session picks its CA up from REQUESTS_CA_BUNDLE.
https://developers.google.com/identity/protocols/oauth2/service-account#httprest
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from scaivault_core import (
    InvalidConfig,
    kits,  # the HTTP kit by attribute: httpx is imported at first use, not at start-up
)

from .settings import Endpoints

if TYPE_CHECKING:
    import httpx
    from google.auth import crypt

    from scaivault_core.kits.http import ApiClient

TOKEN_SERVICE = "the Google OAuth 2.0 token endpoint"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
REFRESH_MARGIN = 120  # seconds: a token this close to expiry is replaced before use
_KEY_FIELDS = ("client_email", "private_key", "private_key_id")


def service_account_info(data: dict[str, Any]) -> dict[str, Any]:
    """The key file from the root secret: the key JSON itself, or under ``credentials`` (object or string)."""
    info = data
    if data.get("type") != "service_account" and "credentials" in data:
        info = data["credentials"]
        if isinstance(info, str):
            try:
                info = json.loads(info)
            except ValueError:
                raise InvalidConfig(
                    "The root credentials' credentials field is not JSON.", field="root_credentials.credentials"
                ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise InvalidConfig(
            'The root credentials must be a service-account key file ("type": '
            '"service_account"), or hold one under credentials.',
            field="root_credentials",
        )
    for field in _KEY_FIELDS:
        if not isinstance(info.get(field), str) or not info[field]:
            raise InvalidConfig(f"The root service-account key has no {field}.", field=f"root_credentials.{field}")
    return info


class RootTokens:
    """The root account's cloud-platform token, cached until near expiry; one signer per key."""

    def __init__(self, api: ApiClient, endpoints: Endpoints, credentials: Callable[[], dict[str, Any]]) -> None:
        self._api, self._endpoints, self._credentials = api, endpoints, credentials
        self._token: tuple[str, float] | None = None
        self._signer: tuple[str, crypt.Signer] | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._token = None

    def token(self, *, fresh: bool = False) -> str:
        """A bearer token of the root service account for the cloud-platform scope."""
        with self._lock:
            if self._token and not fresh and self._token[1] > time.monotonic():
                return self._token[0]
            token, lifetime = self._request()
            self._token = (token, time.monotonic() + max(lifetime - REFRESH_MARGIN, 0))
            return token

    def _sign(self, info: dict[str, Any], claims: dict[str, Any]) -> str:
        from google.auth import crypt, jwt  # imported at first use: start-up loads every installed plugin

        if self._signer is None or self._signer[0] != info["private_key_id"]:
            try:
                signer = crypt.RSASigner.from_service_account_info(info)
            except (ValueError, TypeError):
                raise InvalidConfig(
                    "The root service-account key's private_key is not a usable RSA key.",
                    field="root_credentials.private_key",
                ) from None
            self._signer = (info["private_key_id"], signer)
        return jwt.encode(self._signer[1], claims).decode()

    def _request(self) -> tuple[str, float]:
        info = service_account_info(self._credentials())
        token_uri = self._endpoints.token_uri or info.get("token_uri") or self._endpoints.default_token_uri
        if not token_uri.startswith("https://"):
            raise InvalidConfig("The token_uri must be an https:// URL.", field="config.token_uri")
        now = int(time.time())
        # Google documents the audience as always its own token URI, whichever host (a private
        # endpoint, a proxy) the request is sent to.
        assertion = self._sign(
            info,
            {
                "iss": info["client_email"],
                "scope": CLOUD_PLATFORM,
                "aud": self._endpoints.default_token_uri,
                "iat": now,
                "exp": now + 3600,
            },
        )
        response = self._api.send(
            "POST",
            token_uri,
            service=TOKEN_SERVICE,
            idempotent=True,
            data={"grant_type": JWT_BEARER, "assertion": assertion},
        )
        if response.status_code in (400, 401, 403):
            code, message = kits.http.error_parts(response)
            raise InvalidConfig(
                f"Google refused the root service-account key of {info['client_email']}: {code}: {message}",
                field="root_credentials",
                api_code=code,
            )
        if response.status_code != 200:
            raise kits.http.response_error(response, TOKEN_SERVICE, "issue a token for the root service account")
        body = response.json()
        return body["access_token"], float(body.get("expires_in", 3599))

    def call(self, method: str, url: str, *, service: str, idempotent: bool, **kwargs: Any) -> httpx.Response:
        """Send a request with the root token; on 401, once more with a fresh token."""
        auth = kits.http.RootBearer(
            lambda fresh: self.token(fresh=fresh), service=service, holder="the root service account"
        )
        return self._api.send(method, url, service=service, idempotent=idempotent, auth=auth, **kwargs)
