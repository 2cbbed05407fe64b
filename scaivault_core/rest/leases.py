"""Routes for credentials and leases: issue, renew, revoke, revoke by prefix, look up, list, forget."""

from __future__ import annotations

from . import bodies
from .api import LEASE_STATES, MAX_PAGE
from .routing import Operation, Query


def _issue(api, c):
    ttl, metadata, params = bodies.issue_fields(c.body)
    return api.issue(c.path["engine"], c.path["role"], ttl=ttl, metadata=metadata, **params)


LIST_QUERY = (
    Query("engine", "Only leases of this engine."),
    Query("role", "Only leases of this role."),
    Query("identity", "Only leases issued by this identity (your own need no `list` grant)."),
    Query("state", "Only leases in this state; `live` = intent, active or revoking.", enum=LEASE_STATES),
    Query("prefix", "Only lease ids starting with this."),
    Query("after", "The `next` value of the previous page."),
    Query("limit", "Page size.", type="integer", minimum=1, maximum=MAX_PAGE, default=100),
)

NOT_YOURS = ("A lease the caller may not act on answers `404 lease_not_found`, exactly as a lease that does "
             "not exist.")

OPERATIONS = [
    Operation("POST", "/v1/dynamic/engines/{engine}/creds/{role}", _issue, "Generate credentials (a lease)",
              "issueCredentials", body=dict, body_schema=bodies.ISSUE_SCHEMA, body_required=False,
              response="Credentials", errors=(404, 413, 429, 502), tag="leases",
              description="Needs `read` on `dynamic/engines/{engine}/roles/{role}`. A `ttl` above the effective "
                          "max_ttl is `400 ttl_exceeds_max`."),
    Operation("POST", "/v1/dynamic/leases/revoke-prefix",
              lambda api, c: api.revoke_prefix(c.body.prefix, c.body.engine),
              "Revoke every live lease whose id starts with a prefix", "revokePrefix", body=bodies.RevokePrefix,
              response="RevokePrefixResult", errors=(404, 413), tag="leases",
              description="Needs `revoke` on `dynamic/engines/{engine}`, checked before anything is looked up; "
                          "without `engine`, `revoke` on every engine (`dynamic/engines/*`)."),
    Operation("GET", "/v1/dynamic/leases", lambda api, c: api.list_leases(**c.query), "List leases", "listLeases",
              response="LeaseList", query=LIST_QUERY, tag="leases"),
    Operation("GET", "/v1/dynamic/leases/{lease_id}", lambda api, c: api.lookup(c.path["lease_id"]),
              "Look up a lease (never its credential)", "getLease", response="Lease", errors=(404,), tag="leases",
              description="For the identity that issued it, a holder of `list` on its engine or of `revoke` on its "
                          "role path. " + NOT_YOURS),
    Operation("DELETE", "/v1/dynamic/leases/{lease_id}", lambda api, c: api.revoke(c.path["lease_id"]),
              "Revoke a lease now", "revokeLease", status=204, errors=(404, 409, 502), tag="leases",
              description="Idempotent: revoking a revoked lease answers 204 too. If the target refuses, the "
                          "error says so and the revocation stays queued for retry. " + NOT_YOURS),
    Operation("POST", "/v1/dynamic/leases/{lease_id}/forget", lambda api, c: api.forget_lease(c.path["lease_id"]),
              "Stop tracking an irrevocable lease", "forgetLease", response="Lease", errors=(404,), tag="leases",
              description="Needs `revoke` on `dynamic/engines/{engine}`. Only for a lease in state `irrevocable` "
                          "whose credential is known to be gone by other means (any other state is 400): it becomes "
                          "`revoked` without touching the target, recorded in the audit log as `lease.force_forget`. "
                          + NOT_YOURS),
    Operation("POST", "/v1/dynamic/leases/{lease_id}/renew",
              lambda api, c: api.renew(c.path["lease_id"], c.body.increment), "Renew a lease", "renewLease",
              body=bodies.Renew, body_required=False, response="RenewResult", errors=(404, 409, 413, 502),
              tag="leases",
              description="The new expiry is the current expiry + increment, capped at issue time + max_ttl "
                          "(`capped` says when). " + NOT_YOURS),
]
