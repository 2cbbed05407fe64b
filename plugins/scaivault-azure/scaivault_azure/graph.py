"""Microsoft Graph v1.0: applications, their service principals and their client secrets.

Each call cites the API page it follows. "Already gone" answers (404 on delete, a keyId no
longer listed) are successes, because revocation must be idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from scaivault_core import kits  # the HTTP kit by attribute: httpx is imported at first use, not at start-up

from .tokens import RootTokens

SERVICE = "Microsoft Graph"


def _key(value: str) -> str:
    # OData string literals double a single quote; then the whole literal is URL-encoded.
    return quote(value.replace("'", "''"), safe="")


def by_unique_name(unique_name: str) -> str:
    """The path of an application addressed by its client-chosen uniqueName."""
    return f"/applications(uniqueName='{_key(unique_name)}')"


def by_object_id(object_id: str) -> str:
    return f"/applications/{_key(object_id)}"


def by_app_id(app_id: str) -> str:
    """The path of an application addressed by its appId (the client id), an alternate key."""
    return f"/applications(appId='{_key(app_id)}')"


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Graph:
    """The Graph calls the engine makes, with the root client's token."""

    def __init__(self, tokens: RootTokens, base_url: str, scope: str) -> None:
        self._tokens, self._base, self._scope = tokens, base_url, scope

    def _call(self, method: str, path: str, *, idempotent: bool, **kwargs: Any):
        return self._tokens.call(
            method, self._base + path, scope=self._scope, service=SERVICE, idempotent=idempotent, **kwargs
        )

    def upsert_application(self, unique_name: str, display_name: str) -> dict[str, Any]:
        """Create the application with this uniqueName, or find the one an earlier attempt created.

        https://learn.microsoft.com/en-us/graph/api/application-upsert: 201 with the new object, or
        204 when it exists already. Repeating it is harmless, so it is retried like a GET.
        """
        path = by_unique_name(unique_name)
        response = self._call(
            "PATCH", path, idempotent=True, headers={"Prefer": "create-if-missing"}, json={"displayName": display_name}
        )
        if response.status_code == 201:
            return response.json()
        if response.status_code == 204:
            found = self.get_application(path)
            if found is not None:
                return found
        raise kits.http.response_error(response, SERVICE, f"create application {display_name}")

    def get_application(self, path: str) -> dict[str, Any] | None:
        """https://learn.microsoft.com/en-us/graph/api/application-get; None when it does not exist."""
        response = self._call("GET", path, idempotent=True)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise kits.http.response_error(response, SERVICE, "read an application")
        return response.json()

    def delete_application(self, path: str) -> None:
        """https://learn.microsoft.com/en-us/graph/api/application-delete (also deletes its service principal)."""
        response = self._call("DELETE", path, idempotent=True)
        if response.status_code not in (204, 404):
            raise kits.http.response_error(response, SERVICE, "delete an application")

    def create_service_principal(self, app_id: str) -> dict[str, Any]:
        """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-serviceprincipals

        An application needs one before it can get tokens. A 409 means an earlier attempt made it.
        """
        response = self._call("POST", "/servicePrincipals", idempotent=False, json={"appId": app_id})
        if response.status_code == 201:
            return response.json()
        if response.status_code == 409:
            found = self._call("GET", f"/servicePrincipals(appId='{_key(app_id)}')", idempotent=True)
            if found.status_code == 200:
                return found.json()
        raise kits.http.response_error(response, SERVICE, "create the application's service principal")

    def delete_service_principal(self, app_id: str) -> None:
        """https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete, addressed by appId."""
        response = self._call("DELETE", f"/servicePrincipals(appId='{_key(app_id)}')", idempotent=True)
        if response.status_code not in (204, 404):
            raise kits.http.response_error(response, SERVICE, "delete a service principal")

    def add_password(self, path: str, display_name: str, end: float | None) -> dict[str, Any]:
        """https://learn.microsoft.com/en-us/graph/api/application-addpassword: the secretText is only here.

        Not retried on 5xx: a repeat would add a second secret. Revocation removes every secret
        with this displayName, so one that was added anyway does not outlive the lease. Without
        ``end``, Graph's default applies (two years).
        """
        credential = {"displayName": display_name}
        if end is not None:
            credential["endDateTime"] = iso(end)
        response = self._call("POST", f"{path}/addPassword", idempotent=False, json={"passwordCredential": credential})
        if response.status_code != 200:
            raise kits.http.response_error(response, SERVICE, "add a client secret")
        return response.json()

    def remove_passwords(self, path: str, key_ids: set[str], display_name: str | None) -> None:
        """Remove the application's secrets with these keyIds or this displayName; a missing app is success.

        https://learn.microsoft.com/en-us/graph/api/application-removepassword
        """
        app = self.get_application(path)
        if app is None:
            return
        doomed = [
            p["keyId"]
            for p in app.get("passwordCredentials") or []
            if p.get("keyId") in key_ids or display_name and p.get("displayName") == display_name
        ]
        for key_id in doomed:
            response = self._call("POST", f"{path}/removePassword", idempotent=True, json={"keyId": key_id})
            if response.status_code in (200, 204):
                continue
            # An unknown keyId is a 400: gone in the meantime if the application no longer lists it.
            again = self.get_application(path)
            if again is not None and any(p.get("keyId") == key_id for p in again.get("passwordCredentials") or []):
                raise kits.http.response_error(response, SERVICE, "remove a client secret")
