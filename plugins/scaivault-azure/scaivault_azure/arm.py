"""Azure Resource Manager: role definitions by name, and role assignments with client-chosen names.

Role assignment names are GUIDs the caller picks, so the engine picks them in ``plan`` and a
revocation can delete them whether or not the PUT was ever answered. They must be deleted
explicitly: deleting a service principal leaves its assignments behind ("Identity not found").
https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments?view=rest-authorization-2022-04-01
"""

from __future__ import annotations

import threading
from urllib.parse import quote

from scaivault_core import (
    InvalidConfig,
    kits,  # the HTTP kit by attribute: httpx is imported at first use, not at start-up
)

from .settings import GUID, AzureRole
from .tokens import RootTokens

SERVICE = "Azure Resource Manager"
API_VERSION = "2022-04-01"
PROVIDER = "/providers/Microsoft.Authorization"


def _scope_path(scope: str) -> str:
    return quote(scope.rstrip("/"), safe="/")


def subscription_of(scope: str) -> str:
    """``/subscriptions/<id>`` of a scope below a subscription, else '' (management groups, tenant root)."""
    parts = scope.strip("/").split("/")
    return f"/subscriptions/{parts[1]}" if len(parts) >= 2 and parts[0].lower() == "subscriptions" else ""


class Arm:
    """The ARM calls the engine makes, with the root client's token."""

    def __init__(self, tokens: RootTokens, base_url: str, scope: str) -> None:
        self._tokens, self._base, self._scope = tokens, base_url, scope
        self._definitions: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, *, params: dict | None = None, **kwargs):
        return self._tokens.call(
            method,
            self._base + path,
            scope=self._scope,
            service=SERVICE,
            idempotent=True,
            params={"api-version": API_VERSION, **(params or {})},
            **kwargs,
        )

    def role_definition_id(self, item: AzureRole, where: str) -> str:
        """The full roleDefinitionId for a role given by name (looked up once) or by id."""
        if item.role_id is not None:
            if not GUID.fullmatch(item.role_id):
                return item.role_id
            return f"{subscription_of(item.scope)}{PROVIDER}/roleDefinitions/{item.role_id.lower()}"
        key = (item.scope.lower(), item.role_name)
        with self._lock:
            if key in self._definitions:
                return self._definitions[key]
        # https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/list?view=rest-authorization-2022-04-01
        name = item.role_name.replace("'", "''")
        response = self._call(
            "GET", f"{_scope_path(item.scope)}{PROVIDER}/roleDefinitions", params={"$filter": f"roleName eq '{name}'"}
        )
        if response.status_code != 200:
            raise kits.http.response_error(
                response, SERVICE, f"look up role definition {item.role_name!r} at {item.scope}"
            )
        found = [
            d for d in response.json().get("value", []) if d.get("properties", {}).get("roleName") == item.role_name
        ]
        if not found:
            raise InvalidConfig(
                f"{where}.role_name: no role definition named {item.role_name!r} is visible at {item.scope}.",
                field=f"{where}.role_name",
            )
        with self._lock:
            self._definitions[key] = found[0]["id"]
        return found[0]["id"]

    def check_definition(self, item: AzureRole, where: str) -> None:
        """At role creation: the role definition exists and is visible at the scope."""
        definition = self.role_definition_id(item, where)
        if item.role_id is None:
            return  # found by name just now
        # https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/get?view=rest-authorization-2022-04-01
        guid = definition.rsplit("/", 1)[-1]
        response = self._call("GET", f"{_scope_path(item.scope)}{PROVIDER}/roleDefinitions/{quote(guid, safe='')}")
        if response.status_code == 404:
            raise InvalidConfig(
                f"{where}.role_id: no role definition {guid} is visible at {item.scope}.", field=f"{where}.role_id"
            )
        if response.status_code != 200:
            raise kits.http.response_error(response, SERVICE, f"read role definition {guid} at {item.scope}")

    def assign(self, scope: str, name: str, role_definition_id: str, principal_id: str) -> None:
        """Create (or find, on a repeat) role assignment ``name``.

        ``principalType`` is given so ARM trusts a service principal created a moment ago instead
        of looking it up in a directory replica that may not have it yet (PrincipalNotFound).
        https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/create?view=rest-authorization-2022-04-01
        """
        response = self._call(
            "PUT",
            f"{_scope_path(scope)}{PROVIDER}/roleAssignments/{name}",
            json={
                "properties": {
                    "roleDefinitionId": role_definition_id,
                    "principalId": principal_id,
                    "principalType": "ServicePrincipal",
                }
            },
        )
        if response.status_code not in (200, 201):
            raise kits.http.response_error(response, SERVICE, f"assign a role at {scope}")

    def unassign(self, scope: str, name: str) -> None:
        """Delete role assignment ``name``; absent (204), or its scope gone (404), is success.

        https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/delete?view=rest-authorization-2022-04-01
        """
        response = self._call("DELETE", f"{_scope_path(scope)}{PROVIDER}/roleAssignments/{name}")
        if response.status_code not in (200, 204, 404):
            raise kits.http.response_error(response, SERVICE, f"delete a role assignment at {scope}")
