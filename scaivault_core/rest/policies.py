"""Routes for policies and their bindings to identities."""

from __future__ import annotations

from . import bodies
from .routing import Operation


def _update(api, c):
    bodies.same_name(c.body.name, c.path["name"])
    return api.update_policy(c.path["name"], c.body.rules, c.body.description)


HOLD_WHAT_YOU_GRANT = ("The caller must itself hold every permission the policy's rules grant, on the whole of "
                       "each pattern (holders of the `root` policy do); otherwise `403 permission_denied` naming "
                       "the first grant it lacks.")

OPERATIONS = [
    Operation("POST", "/v1/policies", lambda api, c: api.create_policy(c.body.name, c.body.rules, c.body.description),
              "Create a policy", "createPolicy", status=201, body=bodies.PolicyCreate, response="Policy",
              errors=(409, 413), tag="policies", description=HOLD_WHAT_YOU_GRANT),
    Operation("GET", "/v1/policies", lambda api, c: api.list_policies(), "List policies", "listPolicies",
              response="PolicyList", tag="policies"),
    Operation("GET", "/v1/policies/{name}", lambda api, c: api.get_policy(c.path["name"]), "Show a policy",
              "getPolicy", response="Policy", errors=(404,), tag="policies"),
    Operation("PUT", "/v1/policies/{name}", _update, "Replace a policy's rules", "updatePolicy",
              body=bodies.PolicyUpdate, response="Policy", errors=(404, 413), tag="policies",
              description=HOLD_WHAT_YOU_GRANT),
    Operation("DELETE", "/v1/policies/{name}", lambda api, c: api.delete_policy(c.path["name"]), "Delete a policy",
              "deletePolicy", status=204, errors=(404,), tag="policies"),
    Operation("POST", "/v1/policies/{name}/bindings", lambda api, c: api.bind_policy(c.path["name"], c.body.identity),
              "Bind a policy to an identity", "bindPolicy", status=201, body=bodies.BindingCreate, response="Binding",
              errors=(404, 413), tag="policies",
              description=HOLD_WHAT_YOU_GRANT + " `dynamic:<engine>` may be bound before that engine exists; "
                          "deleting the engine removes its bindings."),
    Operation("GET", "/v1/policies/{name}/bindings", lambda api, c: api.list_bindings(c.path["name"]),
              "Identities a policy is bound to", "listBindings", response="BindingList", errors=(404,), tag="policies"),
    Operation("DELETE", "/v1/policies/{name}/bindings/{identity}",
              lambda api, c: api.unbind_policy(c.path["name"], c.path["identity"]), "Unbind a policy from an identity",
              "unbindPolicy", status=204, errors=(404,), tag="policies"),
]
