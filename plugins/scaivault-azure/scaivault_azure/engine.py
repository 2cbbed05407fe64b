"""The Azure engine: a client secret on a new application (with role assignments) or on an existing one.

Crash safety. Everything revocation needs is known before the first call, so ``plan`` records it:
- a new application is created with the upsert on a uniqueName derived from the lease's username,
  so revocation finds it (and its appId, hence its service principal) by that name, whether or
  not the create was ever answered;
- role assignment names are GUIDs derived from the lease id, chosen by us, not by ARM;
- a secret on an existing application carries the same derived name as its displayName, and
  revocation removes every secret of that application with that name.
There is no window in which a created object cannot be found from the recorded intent.
"""

from __future__ import annotations

import uuid
from typing import Any

from scaivault_core import Engine, EngineError, InvalidConfig, Issued, IssueRequest, LeaseLimits, format_duration

from .arm import Arm
from .graph import Graph, by_object_id, by_unique_name
from .root_rotation import RootRotation
from .settings import Config, Role, check_config, check_role, endpoints
from .tokens import RootCredentials, RootTokens, root_credentials

APPLICATION, SECRET = "application", "secret"
_ASSIGNMENT_NAMESPACE = uuid.UUID("5c2f6a3e-8a7d-4f0e-9b61-3d1c7e9a2b40")  # scaivault role assignments


class AzureEngine(Engine):
    """A lease is a client secret; for ``azure_roles`` roles, on its own application and service principal."""

    type = "azure"
    plugin = "azure"
    lease_prefix = "azure"
    Config = Config
    Role = Role

    def __init__(self, context) -> None:
        super().__init__(context)
        self._endpoints = endpoints(self.config)
        self._secret_lifetime = check_config(self.config)
        # imported at first use: start-up loads every installed plugin
        from scaivault_core.kits.http import ApiClient, RetryPolicy

        self._api = ApiClient(
            logger="scaivault.azure.http",
            ca_bundle=self.config.ca_bundle,
            timeout=self.config.timeout,
            retry=RetryPolicy(max_retries=self.config.max_retries),
        )
        self._tokens = RootTokens(self._api, self._endpoints, self._root)
        self._graph = Graph(self._tokens, self._endpoints.graph, self._endpoints.graph_scope)
        self._arm = Arm(self._tokens, self._endpoints.arm, self._endpoints.arm_scope)
        self._rotation = RootRotation(self._graph, self._api, self._endpoints, self.config, context.name, self.log)

    def _root(self) -> RootCredentials:
        return root_credentials(self.context.root_credentials(), self.config.tenant_id)

    def close(self) -> None:
        self._api.close()

    def verify(self) -> None:
        """Get a Graph and an ARM token with the root credentials (refusals are ``InvalidConfig``)."""
        self._tokens.forget()
        self._tokens.token(self._endpoints.graph_scope)
        self._tokens.token(self._endpoints.arm_scope)

    # -- roles ------------------------------------------------------------------------------

    def validate_role(self, role: Role) -> None:
        """Shape first; then role names must resolve and an existing application must exist."""
        check_role(role)
        if role.application_object_id is not None:
            if self._graph.get_application(by_object_id(role.application_object_id)) is None:
                raise InvalidConfig(
                    f"application_object_id: no application has the object id {role.application_object_id}.",
                    field="application_object_id",
                )
            return
        for i, item in enumerate(role.azure_roles):
            self._arm.check_definition(item, f"azure_roles[{i}]")

    def limits(self, role: Role) -> LeaseLimits:
        return LeaseLimits(
            max_ttl=self._secret_lifetime,
            reason=(
                f"the client secret's endDateTime is {format_duration(self._secret_lifetime)} after issue "
                "(config.secret_lifetime)"
            ),
        )

    # -- leases -----------------------------------------------------------------------------

    def _name(self, request: IssueRequest) -> str:
        return f"{self.config.name_prefix}{request.username}"

    def _assignment_names(self, request: IssueRequest) -> list[str]:
        # Derived, not random, so plan() and create() agree without sharing state.
        return [
            str(uuid.uuid5(_ASSIGNMENT_NAMESPACE, f"{self.context.name}/{request.lease_id}/{i}"))
            for i in range(len(request.role.azure_roles or []))
        ]

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        role: Role = request.role
        if role.application_object_id is not None:
            return {
                "kind": SECRET,
                "application_object_id": role.application_object_id,
                "secret_name": self._name(request),
            }
        return {
            "kind": APPLICATION,
            "unique_name": self._name(request),
            "assignments": [
                {"scope": item.scope, "name": name}
                for item, name in zip(role.azure_roles, self._assignment_names(request), strict=True)
            ],
        }

    def create(self, request: IssueRequest) -> Issued:
        role: Role = request.role
        tenant = self._tokens.tenant_id()
        name = self._name(request)
        end = request.expires_at - request.ttl_seconds + self._secret_lifetime
        if role.application_object_id is not None:
            path = by_object_id(role.application_object_id)
            app = self._graph.get_application(path)
            if app is None:
                raise EngineError(
                    f"Application {role.application_object_id} no longer exists; fix the role's application_object_id.",
                    application_object_id=role.application_object_id,
                )
            password = self._graph.add_password(path, name, end)
            return Issued(
                data=self._data(app["appId"], password["secretText"], tenant),
                handle={"app_id": app["appId"], "key_id": password["keyId"]},
            )
        app = self._graph.upsert_application(name, name)
        principal = self._graph.create_service_principal(app["appId"])
        for i, (item, assignment) in enumerate(zip(role.azure_roles, self._assignment_names(request), strict=True)):
            definition = self._arm.role_definition_id(item, f"azure_roles[{i}]")
            self._arm.assign(item.scope, assignment, definition, principal["id"])
        password = self._graph.add_password(by_object_id(app["id"]), name, end)
        self.log.info(
            "created application %s (appId %s) with %d role assignment(s)", name, app["appId"], len(role.azure_roles)
        )
        return Issued(
            data=self._data(app["appId"], password["secretText"], tenant),
            handle={
                "app_id": app["appId"],
                "app_object_id": app["id"],
                "service_principal_id": principal["id"],
                "key_id": password["keyId"],
            },
        )

    @staticmethod
    def _data(client_id: str, client_secret: str, tenant_id: str) -> dict[str, Any]:
        return {"client_id": client_id, "client_secret": client_secret, "tenant_id": tenant_id}

    def revoke(self, handle: dict[str, Any]) -> None:
        """Remove the secret, or the role assignments, service principal and application; gone is success."""
        if handle["kind"] == SECRET:
            key_ids = {handle["key_id"]} if handle.get("key_id") else set()
            self._graph.remove_passwords(by_object_id(handle["application_object_id"]), key_ids, handle["secret_name"])
            return
        # Assignments first: they outlive their principal, and would be left behind if it went first.
        for assignment in handle["assignments"]:
            self._arm.unassign(assignment["scope"], assignment["name"])
        path = by_unique_name(handle["unique_name"])
        app_id = handle.get("app_id")
        if app_id is None:  # the lease never learnt it: look the application up by its planned name
            app = self._graph.get_application(path)
            app_id = app["appId"] if app else None
        if app_id is not None:
            self._graph.delete_service_principal(app_id)
        self._graph.delete_application(path)

    # -- root credential rotation -----------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        """A second client secret on the root application (Entra mints it, so it exists from here on)."""
        return self._rotation.new(current)

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """The new secret exists already: wait until the token endpoint takes it, or remove it again."""
        self._rotation.wait_until_accepted(current, new)

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        """Remove the previous secret (by the keyId kept in the root credentials) from the root application."""
        self._rotation.retire(old, self.context.root_credentials())
