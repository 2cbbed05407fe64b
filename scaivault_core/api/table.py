"""The operation table: every core operation, declared once.

Each entry says how the operation is reached over HTTP, which ``VaultAPI`` method does it, what it
takes and answers, who may call it, and how ``scaivault`` offers it. The REST routes, the OpenAPI
document, the client's methods and the CLI's commands are made from this list. Adding an operation
is adding its entry here, its method (``VaultAPI``, and the ``Vault`` method behind it) and its docs.

Leases come first, as they are most of the traffic and starlette tries routes in turn (their
paths overlap no other group's).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..errors import InvalidRequest
from ..metrics import CONTENT_TYPE
from ..models import (
    PERMISSIONS,
    AuditEvent,
    EngineRecord,
    IssuedCredentials,
    Job,
    Lease,
    Policy,
    RenewResult,
    RoleRecord,
    SecretVersion,
    Token,
)
from ..plugin_manager import PluginInfo
from ..policies import Explanation
from . import bodies, results
from .commands import AsJob, Command, Done, Pages, Record, Shown, Text
from .operation import Operation, Query, method
from .paging import DEFAULT_PAGE, MAX_PAGE
from .vault_api import LEASE_STATES


def moment(value: Any) -> Any:
    """A time for a query string, as the embedded API takes it: epoch seconds and datetimes become ISO 8601."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.fromtimestamp(value, tz=UTC)
    return value.isoformat() if isinstance(value, datetime) else value


def audit_entry(item: dict[str, Any]) -> tuple[int, AuditEvent]:
    """One listed audit entry as ``Vault.audit_log`` gives it: ``(id, event)``."""
    body = dict(item)
    return body.pop("id"), AuditEvent.from_dict(body)


ENGINE, ROLE = "/v1/dynamic/engines/{engine}", "/v1/dynamic/engines/{engine}/roles/{role}"
LEASE = "/v1/dynamic/leases/{lease_id}"
SECRET, SECRET_ACTION = "/v1/secrets/{path:secret_path}", "/v1/secrets/{path:any_path}"
LIMIT = Query("limit", "Page size.", type="integer", minimum=1, maximum=MAX_PAGE, default=DEFAULT_PAGE)


def page_query(key: str, type: str = "string") -> tuple[Query, Query]:
    """``after`` and ``limit``, the query of a list answered a page at a time (``api.paging``)."""
    after = Query(
        "after",
        f"The `next` value of the previous page (a {key}).",
        type=type,
        minimum=0 if type == "integer" else None,
    )
    return after, LIMIT


LEASE_QUERY = (
    Query("engine", "Only leases of this engine."),
    Query("role", "Only leases of this role."),
    Query("identity", "Only leases issued by this identity (your own need no `list` grant)."),
    Query("state", "Only leases in this state; `live` = intent, active or revoking.", enum=LEASE_STATES),
    Query("prefix", "Only lease ids starting with this."),
    *page_query("lease id"),
)
AUDIT_QUERY = (
    Query("identity", "Only entries of this identity (`anonymous` for failed authentication)."),
    Query("operation", "Only this operation, e.g. `lease.issue` or `access.denied`."),
    Query("path_prefix", "Only entries whose path starts with this."),
    Query("outcome", "Only this outcome: `ok` or an error code such as `permission_denied`."),
    Query("lease_id", "Only entries about this lease."),
    Query(
        "since",
        "Only entries at or after this time: ISO 8601 (`2026-01-31T12:00:00Z`) or a duration before now (`30m`, `2h`).",
        encode=moment,
    ),
    Query("until", "Only entries before this time, in the same forms as `since`.", encode=moment),
    *page_query("entry id", type="integer"),
)
NOT_YOURS = "A lease the caller may not act on answers `404 lease_not_found`, exactly as a lease that does not exist."
ISSUER = "the caller to have issued it, or `revoke` on its role path"
HOLD_WHAT_YOU_GRANT = (
    "The caller must itself hold every permission the policy's rules grant, on the whole of "
    "each pattern (holders of the `root` policy do); otherwise `403 permission_denied` naming "
    "the first grant it lacks."
)
POLICY = "`{}` on `sys/policies/{{name}}`"
AS_JOB = (
    "With `sync: false` the answer is `202` with a job (and `Location: /v1/sys/jobs/{job_id}`) as soon as "
    "the request is checked; the work goes on in the background."
)
REVEAL_CREDENTIAL = "Show the credential (it is hidden otherwise)."

OPERATIONS = [
    # -- leases ---------------------------------------------------------------------------------------
    Operation(
        "POST",
        "/v1/dynamic/engines/{engine}/creds/{role}",
        method("issue"),
        "Generate credentials (a lease)",
        "issueCredentials",
        body=bodies.Issue,
        body_required=False,
        answer=IssuedCredentials.from_dict,
        response=results.Credentials,
        errors=(404, 413, 429, 502),
        tag="leases",
        permission="`read` on `dynamic/engines/{engine}/roles/{role}`",
        description="A `ttl` above the effective max_ttl is `400 ttl_exceeds_max`.",
        cli=Command(
            "creds",
            "Generate credentials for ROLE of ENGINE (a lease).",
            Record(reveal="data", reveal_help=REVEAL_CREDENTIAL),
            inputs=("request_params",),
        ),
    ),
    Operation(
        "POST",
        "/v1/dynamic/leases/revoke-prefix",
        method("revoke_prefix"),
        "Revoke every live lease whose id starts with a prefix",
        "revokePrefix",
        body=bodies.RevokePrefix,
        response=results.RevokePrefixResult,
        accepted=results.Job,
        errors=(404, 413),
        tag="leases",
        permission="`revoke` on `dynamic/engines/{engine}`, checked before anything is looked up; without "
        "`engine`, `revoke` on every engine (`dynamic/engines/*`)",
        description="`role` (with `engine`) revokes only that role's leases. " + AS_JOB,
        cli=Command(
            "lease revoke-prefix",
            "Revoke every live lease whose id starts with PREFIX ('lease_' for all).",
            AsJob(Record()),
        ),
    ),
    Operation(
        "GET",
        "/v1/dynamic/leases",
        method("list_leases"),
        "List leases",
        "listLeases",
        answer=Lease.from_dict,
        response=results.LeaseList,
        query=LEASE_QUERY,
        items="leases",
        tag="leases",
        permission="nothing for the caller's own leases; for others', `list` on `dynamic/engines/{engine}` "
        "(with `engine`) or on `dynamic/leases`",
        cli=Command(
            "lease list",
            "List leases.",
            Pages("leases", ("lease_id", "engine", "role", "identity", "state", "expires_at")),
        ),
    ),
    Operation(
        "GET",
        LEASE,
        method("lookup"),
        "Look up a lease (never its credential)",
        "getLease",
        answer=Lease.from_dict,
        response=results.Lease,
        errors=(404,),
        tag="leases",
        permission="the caller to have issued it, or `list` on its engine, or `revoke` on its role path",
        description=NOT_YOURS,
        cli=Command("lease show", "Look up LEASE_ID."),
    ),
    Operation(
        "DELETE",
        LEASE,
        method("revoke"),
        "Revoke a lease now",
        "revokeLease",
        status=204,
        errors=(404, 409, 502),
        tag="leases",
        permission=ISSUER,
        description="Idempotent: revoking a revoked lease answers 204 too. If the target refuses, the "
        "error says so and the revocation stays queued for retry. " + NOT_YOURS,
        cli=Command("lease revoke", "Revoke LEASE_ID now.", Done("Revoked {lease_id}.")),
    ),
    Operation(
        "POST",
        LEASE + "/forget",
        method("forget_lease"),
        "Stop tracking an irrevocable lease",
        "forgetLease",
        answer=Lease.from_dict,
        response=results.Lease,
        errors=(404,),
        tag="leases",
        permission="`revoke` on `dynamic/engines/{engine}`",
        description="Only for a lease in state `irrevocable` whose credential is known to be gone by other "
        "means (any other state is 400): it becomes `revoked` without touching the target, "
        "recorded in the audit log as `lease.force_forget`. " + NOT_YOURS,
        cli=Command("lease forget", "Stop tracking irrevocable LEASE_ID, its credential being gone by other means."),
    ),
    Operation(
        "POST",
        LEASE + "/renew",
        method("renew"),
        "Renew a lease",
        "renewLease",
        body=bodies.Renew,
        body_required=False,
        answer=RenewResult.from_dict,
        response=results.RenewResult,
        errors=(404, 409, 413, 502),
        tag="leases",
        permission=ISSUER,
        description="The new expiry is the current expiry + increment, capped at issue time + max_ttl "
        "(`capped` says when). " + NOT_YOURS,
        cli=Command(
            "lease renew",
            "Extend LEASE_ID (up to its max_ttl).",
            Record(reveal="data", reveal_help="Show a renewed credential (engines that re-issue one, e.g. ssh)."),
        ),
    ),
    # -- engines and roles ----------------------------------------------------------------------------
    Operation(
        "POST",
        "/v1/dynamic/engines",
        method("create_engine"),
        "Configure an engine",
        "createEngine",
        status=201,
        body=bodies.EngineCreate,
        answer=EngineRecord.from_dict,
        response=results.Engine,
        errors=(409, 413, 502),
        tag="engines",
        permission="`create` on `dynamic/engines/{name}`",
        description="The root credentials are read as `dynamic:<name>` and a test connection is made first; "
        "if it fails the answer is `400 invalid_config` (or `502 engine_unreachable`).",
        cli=Command(
            "engine create",
            "Configure engine NAME (its connection is tested first).",
            arguments=("name",),
            inputs=("engine_config",),
        ),
    ),
    Operation(
        "GET",
        "/v1/dynamic/engines",
        method("list_engines"),
        "List engines",
        "listEngines",
        answer=EngineRecord.from_dict,
        response=results.EngineList,
        query=page_query("name"),
        items="engines",
        tag="engines",
        permission="`list` on `dynamic/engines`",
        cli=Command(
            "engine list", "List engines.", Pages("engines", ("name", "type", "default_ttl", "max_ttl", "max_leases"))
        ),
    ),
    Operation(
        "GET",
        ENGINE,
        method("get_engine", engine="name"),
        "Show an engine",
        "getEngine",
        answer=EngineRecord.from_dict,
        response=results.Engine,
        errors=(404,),
        tag="engines",
        permission="`read` on `dynamic/engines/{engine}`",
        cli=Command("engine show", "Show engine NAME."),
    ),
    Operation(
        "PUT",
        ENGINE,
        method("update_engine", engine="name"),
        "Reconfigure an engine",
        "updateEngine",
        body=bodies.EngineUpdate,
        answer=EngineRecord.from_dict,
        response=results.Engine,
        errors=(404, 413, 502),
        tag="engines",
        permission="`update` on `dynamic/engines/{engine}`",
        cli=Command("engine update", "Reconfigure engine NAME.", arguments=("name",), inputs=("engine_config",)),
    ),
    Operation(
        "DELETE",
        ENGINE,
        method("delete_engine", engine="name"),
        "Delete an engine (no live leases)",
        "deleteEngine",
        status=204,
        errors=(404, 409),
        tag="engines",
        permission="`delete` on `dynamic/engines/{engine}`",
        cli=Command(
            "engine delete", "Delete engine NAME (it must have no live leases).", Done("Deleted engine {name}.")
        ),
    ),
    Operation(
        "POST",
        ENGINE + "/reconcile",
        method("reconcile"),
        "Find (and optionally remove) users in the target that no lease accounts for",
        "reconcileEngine",
        body=bodies.Reconcile,
        body_required=False,
        response=results.ReconcileResult,
        errors=(404, 413, 502),
        tag="engines",
        permission="`revoke` on `dynamic/engines/{engine}`",
        description="Users that look like the engine's own but belong to no lease are listed as `orphans`; "
        "with `revoke: true` each is removed and listed in `revoked` or `failed`. An engine that "
        "cannot list its users answers 400. " + AS_JOB,
        accepted=results.Job,
        cli=Command(
            "reconcile",
            "Users ENGINE made in its target that belong to no lease (names it leaves alone are listed as skipped).",
            AsJob(Shown("reconcile")),
        ),
    ),
    Operation(
        "POST",
        ENGINE + "/roles",
        method("create_role"),
        "Define a role",
        "createRole",
        status=201,
        body=bodies.RoleCreate,
        answer=RoleRecord.from_dict,
        response=results.Role,
        errors=(404, 409, 413),
        tag="roles",
        permission="`create` on `dynamic/engines/{engine}/roles/{name}`",
        cli=Command("role create", "Define role NAME on ENGINE, e.g. --body @readonly.json.", inputs=("role_fields",)),
    ),
    Operation(
        "GET",
        ENGINE + "/roles",
        method("list_roles"),
        "List an engine's roles",
        "listRoles",
        answer=RoleRecord.from_dict,
        response=results.RoleList,
        query=page_query("name"),
        items="roles",
        errors=(404,),
        tag="roles",
        permission="`list` on `dynamic/engines/{engine}/roles`",
        cli=Command(
            "role list",
            "List the roles of ENGINE.",
            Pages("roles", ("name", "engine", "default_ttl", "max_ttl", "max_leases")),
        ),
    ),
    Operation(
        "GET",
        ROLE,
        method("get_role", role="name"),
        "Show a role",
        "getRole",
        answer=RoleRecord.from_dict,
        response=results.Role,
        errors=(404,),
        tag="roles",
        permission="`read` on `dynamic/engines/{engine}/roles/{role}`",
        cli=Command("role show", "Show role NAME of ENGINE."),
    ),
    Operation(
        "PUT",
        ROLE,
        method("update_role", role="name"),
        "Replace a role",
        "updateRole",
        body=bodies.RoleUpdate,
        answer=RoleRecord.from_dict,
        response=results.Role,
        errors=(404, 413),
        tag="roles",
        permission="`update` on `dynamic/engines/{engine}/roles/{role}`",
        cli=Command("role update", "Replace role NAME on ENGINE.", inputs=("role_fields",)),
    ),
    Operation(
        "DELETE",
        ROLE,
        method("delete_role", role="name"),
        "Delete a role (its leases stay revocable)",
        "deleteRole",
        status=204,
        errors=(404,),
        tag="roles",
        permission="`delete` on `dynamic/engines/{engine}/roles/{role}`",
        cli=Command(
            "role delete",
            "Delete role NAME of ENGINE (its leases stay revocable).",
            Done("Deleted role {name} of {engine}."),
        ),
    ),
    # -- the server itself ----------------------------------------------------------------------------
    Operation(
        "GET",
        "/v1/health",
        method("health"),
        "Liveness and version (no token needed)",
        "health",
        response=results.Health,
        auth=False,
        tag="system",
    ),
    Operation(
        "GET",
        "/v1/health/ready",
        method("ready"),
        "Readiness: the store, the expiry worker, the plugins (no token needed)",
        "ready",
        response=results.Readiness,
        auth=False,
        errors=(503,),
        tag="system",
        description="`200` when every part is `ok`; else `503 unavailable` with the failing parts in "
        "`details.failing` (`store`: it does not answer within 2 s; `expiry_worker`: stopped, or "
        "stuck longer than the claim timeout; `plugins`: one failed to load). Names only: the "
        "server's log says why.",
    ),
    Operation(
        "GET",
        "/v1/sys/plugins",
        method("plugins"),
        "Installed engine plugins, their versions and engine types, and any that failed to load",
        "listPlugins",
        answer=PluginInfo.from_dict,
        response=results.PluginList,
        query=page_query("name"),
        items="plugins",
        tag="system",
        permission="a valid token",
    ),
    Operation(
        "GET",
        "/v1/metrics",
        method("metrics"),
        "Prometheus metrics",
        "metrics",
        response="Metrics",
        media_type=CONTENT_TYPE,
        tag="system",
        permission="`read` on `sys/metrics`",
        description="Lease counts per engine and role come from the store (the same in every process "
        "sharing it); operation counts and latencies are this process's own.",
        cli=Command("metrics", "Print the Prometheus metrics (as GET /v1/metrics serves them).", Text()),
    ),
    Operation(
        "GET",
        "/v1/sys/jobs/{job_id}",
        method("get_job"),
        "Follow a job (revoke-prefix or reconcile run with `sync: false`)",
        "getJob",
        answer=Job.from_dict,
        response=results.Job,
        errors=(404,),
        tag="system",
        permission="the caller to have started it, or the grant its operation needed (`revoke` on its engine, "
        "or on every engine for a revoke-prefix without one)",
        description="`state` is `running`, `succeeded` (with `result`, what the synchronous call answers) or "
        "`failed` (with `error`). A job outlives its server process: another one takes it over. "
        "A job the caller may not read answers `404 job_not_found`, exactly as one that does not "
        "exist.",
        cli=Command("job show", "Show job JOB_ID: its state, progress, and outcome or error."),
    ),
    Operation(
        "GET",
        "/v1/sys/audit",
        method("audit_log"),
        "List audit entries",
        "listAuditEntries",
        answer=audit_entry,
        response=results.AuditList,
        query=AUDIT_QUERY,
        items="entries",
        tag="system",
        permission="`read` on `sys/audit`",
        description="Entries oldest first, filtered, one page at a time. Verifying the chain "
        "(`scaivault audit verify`) needs the vault key, so it runs on the store, not over REST.",
    ),
    # -- tokens ---------------------------------------------------------------------------------------
    Operation(
        "POST",
        "/v1/auth/tokens",
        method("create_token"),
        "Create a bearer token for an identity",
        "createToken",
        status=201,
        body=bodies.TokenCreate,
        response=results.NewToken,
        tag="auth",
        permission="`create` on `sys/tokens` (the admin has it)",
        description="A token minted by anyone but a holder of the `root` policy can do nothing its minter "
        "cannot, and never outlives the minter's token. `ttl` defaults to the operator's token TTL; "
        "above the maximum it is `400 ttl_exceeds_max`. `dynamic:` identities never get tokens. The "
        "token is shown only in this answer.",
        cli=Command("token create", "Create a token for IDENTITY; it is shown only this once."),
    ),
    Operation(
        "GET",
        "/v1/auth/tokens",
        method("list_tokens"),
        "List tokens by accessor (never the tokens themselves)",
        "listTokens",
        answer=Token.from_dict,
        response=results.TokenList,
        query=(Query("identity", "Only tokens of this identity."), *page_query("token accessor")),
        items="tokens",
        tag="auth",
        permission="`list` on `sys/tokens`",
        cli=Command(
            "token list",
            "List tokens by accessor.",
            Pages("tokens", ("accessor", "identity", "display_name", "created_at", "expires_at", "revoked")),
        ),
    ),
    Operation(
        "GET",
        "/v1/auth/tokens/self",
        method("token_self"),
        "Who the caller is (its token)",
        "getTokenSelf",
        response=results.TokenSelf,
        tag="auth",
        permission="a valid token",
        description="The caller's identity and ceilings (identities that must also allow whatever it "
        "does), and its token's accessor and expiry.",
        cli=Command("token self", "Show who the token is: its identity, ceilings, accessor and expiry."),
    ),
    # {accessor:token_accessor} is never "self" (rest.routing), so the path above stays its own.
    Operation(
        "DELETE",
        "/v1/auth/tokens/{accessor:token_accessor}",
        method("revoke_token"),
        "Revoke a token by its accessor",
        "revokeToken",
        status=204,
        errors=(404,),
        tag="auth",
        permission="`revoke` on `sys/tokens`",
        description="Also revokes every token minted from it, however far down.",
        cli=Command("token revoke", "Revoke the token with ACCESSOR.", Done("Revoked token {accessor}.")),
    ),
    # -- secrets: a secret's own path cannot end in rotate, rotation or versions (routing.SECRET_ACTIONS),
    # so these never shadow a secret and GET .../rotate answers 405 ----------------------------------
    Operation(
        "POST",
        SECRET_ACTION + "/rotate",
        method("rotate_secret"),
        "Rotate a secret (an engine's root credential)",
        "rotateSecret",
        body=bodies.Rotate,
        body_required=False,
        answer=SecretVersion.from_dict,
        response=results.SecretVersion,
        errors=(404, 409, 502),
        tag="secrets",
        permission="`rotate` on the path; an engine's root credential also needs `rotate` for "
        "`dynamic:<engine>` there (else `400 invalid_config` naming the missing grant)",
        description="The answer describes the new version, never its value.",
        cli=Command("secrets rotate", "Rotate the secret at PATH (an engine's root credential)."),
    ),
    Operation(
        "PUT",
        SECRET_ACTION + "/rotation",
        method("set_rotation_period"),
        "Rotate a secret on a schedule (or stop)",
        "setRotationPeriod",
        body=bodies.RotationPeriod,
        response=results.RotationPeriod,
        tag="secrets",
        permission="`rotate` on the path, and for an engine's root credential `rotate` for `dynamic:<engine>` "
        "too, checked now rather than when the period comes round",
        description="`period` is a duration such as `30d`; `null` or `0` stops scheduled rotation. The expiry "
        "worker of a running server rotates it when due.",
        cli=Command(
            "secrets rotation-period", "Rotate the secret at PATH every PERIOD (e.g. 30d); 0 stops scheduled rotation."
        ),
    ),
    Operation(
        "GET",
        SECRET_ACTION + "/versions",
        method("list_secret_versions"),
        "List a secret's versions (never their values)",
        "listSecretVersions",
        answer=SecretVersion.from_dict,
        response=results.SecretVersionList,
        query=page_query("version number", type="integer"),
        items="versions",
        errors=(404,),
        tag="secrets",
        permission="`read` on the path",
        description="Oldest first; a retired version's value is destroyed.",
        cli=Command(
            "secrets versions",
            "List the versions of the secret at PATH (never their values).",
            Pages("versions", ("version", "created_at", "created_by", "reason", "retired_at")),
        ),
    ),
    Operation(
        "PUT",
        SECRET,
        method("put_secret"),
        "Write a new version of a secret",
        "putSecret",
        body=bodies.SecretWrite,
        answer=SecretVersion.from_dict,
        response=results.SecretVersion,
        errors=(413,),
        tag="secrets",
        permission="`create` on a new path, `update` on an existing one; a caller holding neither is refused "
        "before anything is looked up",
        description="The value is not echoed.",
        cli=Command(
            "secrets put",
            "Write a new version of the secret at PATH.",
            inputs=("secret_data",),
            flags={"secret_type": "--type"},
        ),
    ),
    Operation(
        "GET",
        SECRET,
        method("get_secret"),
        "Read a secret (the newest version, or ?version=N)",
        "getSecret",
        answer=SecretVersion.from_dict,
        response=results.SecretVersion,
        query=(Query("version", "A past version number.", type="integer", minimum=1, maximum=2**31),),
        errors=(404,),
        tag="secrets",
        permission="`read` on the path",
        cli=Command(
            "secrets get",
            "Read the secret at PATH (its value only with --reveal).",
            Record(reveal="data", reveal_help="Show the secret value."),
        ),
    ),
    Operation(
        "DELETE",
        SECRET,
        method("delete_secret"),
        "Delete a secret and all its versions",
        "deleteSecret",
        status=204,
        errors=(404,),
        tag="secrets",
        permission="`delete` on the path",
        cli=Command("secrets delete", "Delete the secret at PATH and all its versions.", Done("Deleted {path}.")),
    ),
    # -- policies -------------------------------------------------------------------------------------
    Operation(
        "POST",
        "/v1/policies",
        method("create_policy"),
        "Create a policy",
        "createPolicy",
        status=201,
        body=bodies.PolicyCreate,
        answer=Policy.from_dict,
        response=results.Policy,
        errors=(409, 413),
        tag="policies",
        permission=POLICY.format("create"),
        description=HOLD_WHAT_YOU_GRANT,
        cli=Command(
            "policy create",
            "Create policy NAME, e.g. --rule 'dynamic/engines/support-db/roles/readonly=read'.",
            inputs=("rules",),
        ),
    ),
    Operation(
        "GET",
        "/v1/sys/explain",
        method("explain"),
        "Explain whether an identity may do something",
        "explainAccess",
        answer=Explanation.from_dict,
        response=results.Explanation,
        tag="policies",
        query=(
            Query("identity", "Whose access: sa:<name>, user:<name> or dynamic:<engine>.", required=True),
            Query("permission", "The permission asked about.", enum=PERMISSIONS, required=True),
            Query("path", "The path asked about, e.g. `dynamic/engines/pg/roles/ro`.", required=True),
        ),
        permission="nothing for the caller's own access (as its token has it); `read` on every policy "
        "(`sys/policies/*`) for another identity's, since the answer quotes its policies",
        description="Yes or no, and by which rule of which policy; a token minted by a non-root identity "
        "is explained with each of its ceilings too. Nothing is changed.",
        cli=Command(
            "policy explain", "May IDENTITY do PERMISSION on PATH, and by which rule of which policy?", Shown("explain")
        ),
    ),
    Operation(
        "GET",
        "/v1/policies",
        method("list_policies"),
        "List policies",
        "listPolicies",
        answer=Policy.from_dict,
        response=results.PolicyList,
        query=page_query("name"),
        items="policies",
        tag="policies",
        permission="`list` on `sys/policies`",
        cli=Command("policy list", "List policies.", Pages("policies", ("name", "description", "rules"))),
    ),
    Operation(
        "GET",
        "/v1/policies/{name}",
        method("get_policy"),
        "Show a policy",
        "getPolicy",
        answer=Policy.from_dict,
        response=results.Policy,
        errors=(404,),
        tag="policies",
        permission=POLICY.format("read"),
        cli=Command("policy show", "Show policy NAME."),
    ),
    Operation(
        "PUT",
        "/v1/policies/{name}",
        method("update_policy"),
        "Replace a policy's rules",
        "updatePolicy",
        body=bodies.PolicyUpdate,
        answer=Policy.from_dict,
        response=results.Policy,
        errors=(404, 413),
        tag="policies",
        permission=POLICY.format("update"),
        description=HOLD_WHAT_YOU_GRANT,
        cli=Command("policy update", "Replace the rules of policy NAME.", inputs=("rules",)),
    ),
    Operation(
        "DELETE",
        "/v1/policies/{name}",
        method("delete_policy"),
        "Delete a policy",
        "deletePolicy",
        status=204,
        errors=(404,),
        tag="policies",
        permission=POLICY.format("delete"),
        cli=Command("policy delete", "Delete policy NAME.", Done("Deleted policy {name}.")),
    ),
    Operation(
        "POST",
        "/v1/policies/{name}/bindings",
        method("bind_policy"),
        "Bind a policy to an identity",
        "bindPolicy",
        status=201,
        body=bodies.BindingCreate,
        response=results.Binding,
        errors=(404, 413),
        tag="policies",
        permission=POLICY.format("update"),
        description=HOLD_WHAT_YOU_GRANT + " `dynamic:<engine>` may be bound before that engine exists; "
        "deleting the engine removes its bindings.",
        cli=Command("policy bind", "Bind policy NAME to IDENTITY (sa:<name>, user:<name> or dynamic:<engine>)."),
    ),
    Operation(
        "GET",
        "/v1/policies/{name}/bindings",
        method("list_bindings"),
        "Identities a policy is bound to",
        "listBindings",
        response=results.BindingList,
        query=page_query("identity"),
        items="identities",
        errors=(404,),
        tag="policies",
        permission=POLICY.format("read"),
        cli=Command("policy bindings", "Identities policy NAME is bound to.", Pages("identities", ("identity",))),
    ),
    Operation(
        "DELETE",
        "/v1/policies/{name}/bindings/{identity}",
        method("unbind_policy"),
        "Unbind a policy from an identity",
        "unbindPolicy",
        status=204,
        errors=(404,),
        tag="policies",
        permission=POLICY.format("update"),
        cli=Command(
            "policy unbind", "Remove the binding of policy NAME to IDENTITY.", Done("Unbound {name} from {identity}.")
        ),
    ),
]


def operations() -> list[Operation]:
    """Every core operation, in routing order."""
    return list(OPERATIONS)


def by_name(name: str) -> Operation:
    """The core operation that calls ``VaultAPI.<name>``."""
    return next(op for op in OPERATIONS if op.name == name)


def paged_list(name: str) -> Operation:
    """The core list operation ``name`` (``"list_leases"``), which answers a page at a time."""
    op = next((op for op in OPERATIONS if op.name == name), None)
    if op is None or not op.items:
        raise InvalidRequest(
            f"{name!r} is not a paged list; these are: "
            f"{', '.join(op.name for op in OPERATIONS if op.items and op.name)}.",
            field="name",
        )
    return op
