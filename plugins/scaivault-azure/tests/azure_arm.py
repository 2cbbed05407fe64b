"""Azure Resource Manager role assignments and definitions for the Azure double (management.azure.com).

https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments?view=rest-authorization-2022-04-01
https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions?view=rest-authorization-2022-04-01
It shares the directory (tenant, service principals, tokens) of azure_double.AzureApi, which
builds it with ``RoleAssignmentsApi(directory)`` and routes every roleAssignments path here.
"""

from __future__ import annotations

import datetime
import re
import time
import uuid

import attrs

ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
# Built-in role definition GUIDs (https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles)
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3d48-4cf4-a9b7-b3ebe5a9a8c0"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35d-4fb5-a5c3-7773c20a72d9"
ROLES = {
    "Owner": OWNER,
    "Contributor": CONTRIBUTOR,
    "Reader": READER,
    "User Access Administrator": USER_ACCESS_ADMINISTRATOR,
}
BUILT_IN_ROLES = set(ROLES.values())
ROLE_WRITERS = {OWNER, USER_ACCESS_ADMINISTRATOR}  # hold Microsoft.Authorization/roleAssignments/write
API_VERSIONS = {"2015-07-01", "2018-01-01-preview", "2020-04-01-preview", "2022-04-01"}
PATH = re.compile(
    r"(/subscriptions/[^/]+(?:/.*?)?)/providers/Microsoft\.Authorization/"
    r"roleAssignments(?:/([^/]+))?",
    re.I,
)
DEFINITIONS_PATH = re.compile(
    r"(/subscriptions/[^/]+(?:/.*?)?)/providers/Microsoft\.Authorization/"
    r"roleDefinitions(?:/([^/]+))?",
    re.I,
)
DESCRIPTIONS = {
    OWNER: "Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
    CONTRIBUTOR: "Grants full access to manage all resources, but does not allow you to assign roles in Azure RBAC.",
    READER: "View all resources, but does not allow you to make any changes.",
    USER_ACCESS_ADMINISTRATOR: "Lets you manage user access to Azure resources.",
}
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _within(scope: str, parent: str) -> bool:
    """True when `scope` is `parent` or below it (ARM scopes compare case-insensitively)."""
    scope, parent = scope.lower().rstrip("/"), parent.lower().rstrip("/")
    return scope == parent or scope.startswith(parent + "/")


def arm_error(status: int, code: str, message: str):
    """An ARM error response (status, body, headers)."""
    # https://learn.microsoft.com/en-us/azure/azure-resource-manager/troubleshooting/common-deployment-errors
    return status, {"error": {"code": code, "message": message}}, {"x-ms-request-id": str(uuid.uuid4())}


@attrs.define
class RoleAssignment:
    name: str
    scope: str
    role_definition_id: str
    principal_id: str
    principal_type: str | None
    created: float
    created_by: str

    def json(self) -> dict:
        """The RoleAssignment resource as ARM returns it."""
        return {
            "properties": {
                "roleDefinitionId": self.role_definition_id,
                "principalId": self.principal_id,
                "principalType": self.principal_type,
                "scope": self.scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": _iso(self.created),
                "updatedOn": _iso(self.created),
                "createdBy": self.created_by,
                "updatedBy": self.created_by,
                "delegatedManagedIdentityResourceId": None,
                "description": None,
            },
            "id": f"{self.scope}/providers/Microsoft.Authorization/roleAssignments/{self.name}",
            "type": "Microsoft.Authorization/roleAssignments",
            "name": self.name,
        }


class RoleAssignmentsApi:
    """PUT/GET/DELETE one role assignment and list them for a scope."""

    def __init__(self, directory):
        self.directory = directory
        self.assignments: dict[str, RoleAssignment] = {}

    def reset(self) -> None:
        """Seed: the root client's service principal is Owner of the subscription."""
        d = self.directory
        seed = RoleAssignment(
            str(uuid.uuid4()),
            f"/subscriptions/{d.subscription_id}",
            self.role_definition_id(OWNER),
            d.root_sp_id,
            "ServicePrincipal",
            time.time(),
            d.root_sp_id,
        )
        self.assignments = {seed.name: seed}

    def role_definition_id(self, role: str) -> str:
        """The full roleDefinitionId of a built-in role (name or GUID) in the seeded subscription."""
        return (
            f"/subscriptions/{self.directory.subscription_id}/providers/"
            f"Microsoft.Authorization/roleDefinitions/{ROLES.get(role, role)}"
        )

    @staticmethod
    def owns(path: str) -> bool:
        """True for the roleAssignments and roleDefinitions paths this module serves."""
        return PATH.fullmatch(path) is not None or DEFINITIONS_PATH.fullmatch(path) is not None

    def handle(self, req):
        token, reason = self.directory.authenticate(req, ARM_AUDIENCES)
        if token is None:
            return self._unauthenticated(reason)
        version = req.arg("api-version")
        if not version:
            return arm_error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if version not in API_VERSIONS:
            return arm_error(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. "
                f"The supported versions are '{','.join(sorted(API_VERSIONS))}'.",
            )
        definitions = DEFINITIONS_PATH.fullmatch(req.path)
        scope, name = (definitions or PATH.fullmatch(req.path)).groups()
        parts = scope.strip("/").split("/")
        if parts[1].lower() != self.directory.subscription_id:
            return arm_error(404, "SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found.")
        if (
            len(parts) >= 4
            and parts[2].lower() == "resourcegroups"
            and parts[3].lower() != self.directory.resource_group
        ):
            return arm_error(404, "ResourceGroupNotFound", f"Resource group '{parts[3]}' could not be found.")
        if definitions:
            return self._definitions(req, scope, name, token)
        action = {"GET": "read", "PUT": "write", "DELETE": "delete"}.get(req.method)
        if action is None or (name is None and req.method != "GET"):
            return arm_error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
        held = {
            a.role_definition_id.rsplit("/", 1)[-1]
            for a in self.assignments.values()
            if a.principal_id == token.object_id and _within(scope, a.scope)
        }
        # Every built-in role may read role assignments; only Owner and User Access Administrator write.
        if not (held & ROLE_WRITERS if action != "read" else held):
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{token.app_id}' with object id '{token.object_id}' does not have "
                f"authorization to perform action 'Microsoft.Authorization/roleAssignments/"
                f"{action}' over scope '{req.path}' or the scope is invalid. If access was "
                "recently granted, please refresh your credentials.",
            )
        if name is None:
            return self._list(req, scope)
        existing = self.assignments.get(name)
        if req.method == "PUT":
            return self._put(req, scope, name, existing, token)
        if existing is None or existing.scope.lower() != scope.lower():
            # https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/delete (204 when absent)
            return (
                (204, None, {})
                if req.method == "DELETE"
                else arm_error(404, "RoleAssignmentNotFound", f"The role assignment '{name}' is not found.")
            )
        if req.method == "DELETE":
            del self.assignments[name]
        return 200, existing.json(), {}

    def _definitions(self, req, scope, name, token):
        # https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/list?view=rest-authorization-2022-04-01
        # https://learn.microsoft.com/en-us/rest/api/authorization/role-definitions/get?view=rest-authorization-2022-04-01
        # Only the built-in roles exist here; every role holder at or above the scope may read them.
        if req.method != "GET":
            return arm_error(405, "MethodNotAllowed", f"The method '{req.method}' is not allowed.")
        if not any(a.principal_id == token.object_id and _within(scope, a.scope) for a in self.assignments.values()):
            return arm_error(
                403,
                "AuthorizationFailed",
                f"The client '{token.app_id}' with object id '{token.object_id}' does not have "
                "authorization to perform action 'Microsoft.Authorization/roleDefinitions/read' "
                f"over scope '{scope}' or the scope is invalid.",
            )
        if name is not None:
            if name.lower() not in BUILT_IN_ROLES:
                return arm_error(
                    404, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{name}' does not exist."
                )
            return 200, self._definition_json(name.lower()), {}
        query = (req.arg("$filter") or "").strip()
        wanted = list(BUILT_IN_ROLES)
        if m := re.fullmatch(r"roleName eq '([^']*)'", query):
            wanted = [guid for role, guid in ROLES.items() if role == m[1]]  # exact and case-sensitive
        elif m := re.fullmatch(r"type eq '([^']*)'", query):
            wanted = wanted if m[1] == "BuiltInRole" else []
        elif query:
            return arm_error(400, "UnsupportedQuery", f"The filter '{query}' is not supported.")
        return 200, {"value": [self._definition_json(guid) for guid in sorted(wanted)]}, {}

    def _definition_json(self, guid: str) -> dict:
        """A built-in RoleDefinition as ARM returns it (the id is subscription-level for built-ins)."""
        role = next(r for r, g in ROLES.items() if g == guid)
        return {
            "id": self.role_definition_id(guid),
            "type": "Microsoft.Authorization/roleDefinitions",
            "name": guid,
            "properties": {
                "roleName": role,
                "type": "BuiltInRole",
                "description": DESCRIPTIONS[guid],
                "assignableScopes": ["/"],
                "permissions": [
                    {
                        "actions": ["*/read"] if guid == READER else ["*"],
                        "notActions": [],
                        "dataActions": [],
                        "notDataActions": [],
                    }
                ],
                "createdOn": "2015-02-02T21:55:09.8806423Z",
                "updatedOn": "2021-11-11T20:13:47.8628684Z",
                "createdBy": None,
                "updatedBy": None,
            },
        }

    @staticmethod
    def _unauthenticated(reason: str):
        if reason == "missing":
            return arm_error(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        if reason.startswith("audience:"):
            return arm_error(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource "
                f"'{reason[9:]}'. It should exactly match with one of the allowed audiences "
                "'https://management.core.windows.net/','https://management.core.windows.net',"
                "'https://management.azure.com/','https://management.azure.com'.",
            )
        if reason == "expired":
            return arm_error(
                401, "ExpiredAuthenticationToken", "The access token expiry UTC time is earlier than current UTC time."
            )
        return arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")

    def _put(self, req, scope, name, existing, token):
        # https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/create?view=rest-authorization-2022-04-01
        if not _GUID.fullmatch(name):
            return arm_error(
                400,
                "InvalidRoleAssignmentId",
                f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.",
            )
        try:
            props = req.json()["properties"]
            role_definition_id, principal_id = props["roleDefinitionId"], props["principalId"]
        except (ValueError, TypeError, KeyError) as exc:
            return arm_error(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: missing or malformed {exc}.",
            )
        principal_type = props.get("principalType")
        guid = role_definition_id.rsplit("/", 1)[-1]
        if guid not in BUILT_IN_ROLES or not role_definition_id.lower().endswith(
            f"/providers/microsoft.authorization/roledefinitions/{guid}"
        ):
            return arm_error(
                400, "RoleDefinitionDoesNotExist", f"The specified role definition with ID '{guid}' does not exist."
            )
        # Without principalType ARM looks the principal up in the directory, which may lag behind
        # a just-created service principal; with it, ARM trusts the caller.
        d = self.directory
        sp = d.service_principals.get(principal_id)
        found = (
            principal_id in d.ever_principals
            if principal_type
            else (sp is not None and sp.visible_at <= time.monotonic())
        )
        if not found:
            return arm_error(
                400,
                "PrincipalNotFound",
                f"Principal {principal_id} does not exist in the "
                f"directory {d.tenant_id}. Check that you have the correct principal ID. If you "
                "are creating this principal and then immediately assigning a role, this error "
                "might be related to a replication delay. In this case, set the role assignment "
                "principalType property to a value, such as ServicePrincipal, User, or Group.  "
                "See https://aka.ms/docs-principaltype",
            )
        key = (scope.lower(), principal_id, role_definition_id.lower())
        if existing is not None:
            if (existing.scope.lower(), existing.principal_id, existing.role_definition_id.lower()) != key:
                return arm_error(
                    409,
                    "RoleAssignmentUpdateNotPermitted",
                    "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                )
            return 200, existing.json(), {}
        if any(
            (a.scope.lower(), a.principal_id, a.role_definition_id.lower()) == key for a in self.assignments.values()
        ):
            return arm_error(409, "RoleAssignmentExists", "The role assignment already exists.")
        created = RoleAssignment(
            name, scope, role_definition_id, principal_id, principal_type, time.time(), token.object_id
        )
        self.assignments[name] = created
        return 201, created.json(), {}

    def _list(self, req, scope):
        # https://learn.microsoft.com/en-us/rest/api/authorization/role-assignments/list-for-scope?view=rest-authorization-2022-04-01
        query = (req.arg("$filter") or "").strip()
        related = [a for a in self.assignments.values() if _within(scope, a.scope) or _within(a.scope, scope)]
        if query == "atScope()":
            related = [a for a in related if _within(scope, a.scope)]
        elif m := re.fullmatch(r"principalId eq '([^']*)'", query):
            related = [a for a in related if a.principal_id == m[1]]
        elif query:
            return arm_error(400, "UnsupportedQuery", f"The filter '{query}' is not supported.")
        return 200, {"value": [a.json() for a in related]}, {}
