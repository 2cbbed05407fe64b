"""IAM service-account keys and the IAM Service Account Credentials API, as the engine calls them.

Each call cites the reference page it follows. The project segment is the ``-`` wildcard, which
both APIs accept: the account's email names it uniquely.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scaivault_core import (
    EngineError,
    kits,  # the HTTP kit by attribute: httpx is imported at first use, not at start-up
)

from .settings import MAX_USER_MANAGED_KEYS
from .tokens import RootTokens

if TYPE_CHECKING:
    import httpx

IAM = "Google IAM"
CREDENTIALS = "the IAM Service Account Credentials API"


def limit_error(email: str, api_status: int | None = None) -> EngineError:
    """The error for an account that already has Google's maximum of user-managed keys."""
    return EngineError(
        f"Service account {email} already has {MAX_USER_MANAGED_KEYS} user-managed keys, Google's limit per "
        "service account; revoke leases of this role or delete unused keys of the account, then retry.",
        service_account=email,
        limit=MAX_USER_MANAGED_KEYS,
        api_status=api_status,
    )


def _maybe_key_limit(response: httpx.Response) -> bool:
    # Today the 11th key is 400 FAILED_PRECONDITION "Precondition check failed."; older answers were
    # 429 "Maximum number of keys on account reached.", which is a limit, not throttling. The same
    # 400 status also means other things (an org policy forbidding key creation), so a recount decides.
    code, message = kits.http.error_parts(response)
    return (response.status_code == 400 and code == "FAILED_PRECONDITION") or (
        response.status_code == 429 and "maximum number of keys" in message.lower()
    )


def key_id_of(name: str) -> str:
    """The key id at the end of ``projects/P/serviceAccounts/E/keys/ID``."""
    return name.rsplit("/", 1)[-1]


class Iam:
    """The IAM calls the engine makes, with the root account's token."""

    def __init__(self, tokens: RootTokens, iam_url: str, iamcredentials_url: str) -> None:
        self._tokens, self._iam, self._credentials = tokens, iam_url, iamcredentials_url

    def _keys(self, email: str) -> str:
        return f"{self._iam}/v1/projects/-/serviceAccounts/{quote(email, safe='@')}/keys"

    def user_managed_keys(self, email: str) -> list[dict[str, Any]]:
        """https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/list"""
        response = self._tokens.call(
            "GET", self._keys(email), service=IAM, idempotent=True, params={"keyTypes": "USER_MANAGED"}
        )
        if response.status_code != 200:
            raise kits.http.response_error(response, IAM, f"list the keys of {email}")
        return response.json().get("keys", [])  # proto3 JSON leaves out an empty list

    def create_key(self, email: str, algorithm: str | None) -> dict[str, Any]:
        """https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/create

        Not retried on 500/502/504: a repeat could make a second key. The response is the only
        place the private key ever appears.
        """
        body = {"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE"}
        if algorithm:
            body["keyAlgorithm"] = algorithm
        response = self._tokens.call(
            "POST", self._keys(email), service=IAM, idempotent=False, json=body, final=_maybe_key_limit
        )
        if response.status_code != 200:
            if _maybe_key_limit(response) and len(self.user_managed_keys(email)) >= MAX_USER_MANAGED_KEYS:
                raise limit_error(email, response.status_code)
            raise kits.http.response_error(response, IAM, f"create a key for {email}")
        return response.json()

    def delete_key(self, email: str, key_id: str) -> None:
        """https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/delete

        Gone is success: 404 (the key or its account never existed or was deleted), and the 400
        FAILED_PRECONDITION Google answers for a key deleted before, confirmed by a 404 on get.
        """
        url = f"{self._keys(email)}/{quote(key_id, safe='')}"
        response = self._tokens.call("DELETE", url, service=IAM, idempotent=True)
        if response.status_code in (200, 204, 404):
            return
        if response.status_code == 400 and kits.http.error_parts(response)[0] == "FAILED_PRECONDITION":
            check = self._tokens.call("GET", url, service=IAM, idempotent=True)
            if check.status_code == 404:
                return
        raise kits.http.response_error(response, IAM, f"delete key {key_id} of {email}")

    def generate_access_token(self, email: str, scopes: list[str], lifetime: int) -> dict[str, Any]:
        """https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken

        Repeating it is harmless (an unused token expires on its own), so it is retried like a GET.
        """
        url = f"{self._credentials}/v1/projects/-/serviceAccounts/{quote(email, safe='@')}:generateAccessToken"
        response = self._tokens.call(
            "POST", url, service=CREDENTIALS, idempotent=True, json={"scope": scopes, "lifetime": f"{lifetime}s"}
        )
        if response.status_code != 200:
            raise kits.http.response_error(response, CREDENTIALS, f"generate an access token for {email}")
        return response.json()


def decode_key_file(private_key_data: str) -> dict[str, Any]:
    """The key file JSON inside keys.create's base64 ``privateKeyData``."""
    return json.loads(base64.b64decode(private_key_data))
