"""Routes for engines and their roles, and reconciling an engine's target with its leases."""

from __future__ import annotations

from . import bodies
from .routing import Operation


def _create_engine(api, c):
    b = c.body
    return api.create_engine(b.name, b.type, b.config, b.default_ttl, b.max_ttl, b.max_leases, b.max_leases_per_identity)


def _update_engine(api, c):
    b = c.body
    bodies.same_name(b.name, c.path["engine"])
    return api.update_engine(c.path["engine"], b.type, b.config, b.default_ttl, b.max_ttl, b.max_leases,
                             b.max_leases_per_identity)


def _create_role(api, c):
    name, fields = bodies.role_fields(c.body)
    return api.create_role(c.path["engine"], name, **fields)


def _update_role(api, c):
    name, fields = bodies.role_fields(c.body, c.path["role"])
    return api.update_role(c.path["engine"], name, **fields)


ENGINE, ROLE = "/v1/dynamic/engines/{engine}", "/v1/dynamic/engines/{engine}/roles/{role}"

OPERATIONS = [
    Operation("POST", "/v1/dynamic/engines", _create_engine, "Configure an engine", "createEngine", status=201,
              body=bodies.EngineCreate, response="Engine", errors=(409, 413, 502), tag="engines",
              description="The root credentials are read as `dynamic:<name>` and a test connection is made first; "
                          "if it fails the answer is `400 invalid_config` (or `502 engine_unreachable`)."),
    Operation("GET", "/v1/dynamic/engines", lambda api, c: api.list_engines(), "List engines", "listEngines",
              response="EngineList", tag="engines"),
    Operation("GET", ENGINE, lambda api, c: api.get_engine(c.path["engine"]), "Show an engine", "getEngine",
              response="Engine", errors=(404,), tag="engines"),
    Operation("PUT", ENGINE, _update_engine, "Reconfigure an engine", "updateEngine", body=bodies.EngineUpdate,
              response="Engine", errors=(404, 413, 502), tag="engines"),
    Operation("DELETE", ENGINE, lambda api, c: api.delete_engine(c.path["engine"]), "Delete an engine (no live leases)",
              "deleteEngine", status=204, errors=(404, 409), tag="engines"),
    Operation("POST", ENGINE + "/reconcile", lambda api, c: api.reconcile(c.path["engine"], revoke=c.body.revoke),
              "Find (and optionally remove) users in the target that no lease accounts for", "reconcileEngine",
              body=bodies.Reconcile, body_required=False, response="ReconcileResult", errors=(404, 413, 502),
              tag="engines",
              description="Needs `revoke` on `dynamic/engines/{engine}`. Users that look like the engine's own but "
                          "belong to no lease are listed as `orphans`; with `revoke: true` each is removed and "
                          "listed in `revoked` or `failed`. An engine that cannot list its users answers 400."),
    Operation("POST", ENGINE + "/roles", _create_role, "Define a role", "createRole", status=201, body=dict,
              body_schema=bodies.ROLE_SCHEMA, response="Role", errors=(404, 409, 413), tag="roles"),
    Operation("GET", ENGINE + "/roles", lambda api, c: api.list_roles(c.path["engine"]), "List an engine's roles",
              "listRoles", response="RoleList", errors=(404,), tag="roles"),
    Operation("GET", ROLE, lambda api, c: api.get_role(c.path["engine"], c.path["role"]), "Show a role", "getRole",
              response="Role", errors=(404,), tag="roles"),
    Operation("PUT", ROLE, _update_role, "Replace a role", "updateRole", body=dict, body_schema=bodies.ROLE_UPDATE_SCHEMA,
              response="Role", errors=(404, 413), tag="roles"),
    Operation("DELETE", ROLE, lambda api, c: api.delete_role(c.path["engine"], c.path["role"]),
              "Delete a role (its leases stay revocable)", "deleteRole", status=204, errors=(404,), tag="roles"),
]
