"""A local double of the Azure APIs scaivault-azure calls, served by scaivault_core.testing.https_double.HttpsDouble.

One host stands in for three: the Microsoft identity platform (login.microsoftonline.com),
Microsoft Graph v1.0 (graph.microsoft.com) and Azure Resource Manager (management.azure.com).
This module holds the directory (applications, service principals, secrets, tokens), the token
endpoint and Graph; azure_arm.py holds ARM role assignments. Shapes follow the Microsoft Learn
pages cited at each endpoint; where the docs are silent, field reports, and the comment says so.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import secrets
import string
import time
import uuid

import attrs

GRAPH_AUDIENCE = "https://graph.microsoft.com"
ARM_AUDIENCES = ("https://management.azure.com", "https://management.core.windows.net")
_SECRET_ALPHABET = string.ascii_letters + string.digits + "_.-"
# An object is addressed by id, or by an alternate key: appId, or (applications only) the
# client-chosen uniqueName (https://learn.microsoft.com/en-us/graph/api/application-upsert).
_GRAPH_PATH = re.compile(
    r"/v1\.0/(applications|servicePrincipals)"
    r"(?:/([^/(]+)|\((appId|uniqueName)='([^']*)'\))?(?:/([A-Za-z]+))?"
)


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> str:
    # Entra secrets are 40 characters with "8Q~" after a 3-character hint; we copy the shape.
    pick = lambda n: "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(n))  # noqa: E731
    return pick(3) + "8Q~" + pick(34)


@attrs.define
class Password:
    key_id: str
    display_name: str | None
    hint: str
    secret_sha256: str  # only the hash is kept, so no repr can show the secret
    start: float
    end: float
    visible_at: float  # monotonic time from which the token endpoint accepts it


@attrs.define
class Application:
    id: str
    app_id: str
    display_name: str
    created: float
    passwords: dict[str, Password] = attrs.Factory(dict)
    unique_name: str | None = None  # set only by the upsert (PATCH ...(uniqueName='...'))


@attrs.define
class ServicePrincipal:
    id: str
    app_id: str
    display_name: str
    visible_at: float


@attrs.define
class Token:
    app_id: str
    object_id: str  # the service principal's object id at issue time
    audience: str
    expires: float


class AzureApi:
    """The directory, its token endpoint and Graph; routes role assignments to `self.arm`."""

    def __init__(self, role_assignments_api):
        """`role_assignments_api` is azure_arm.RoleAssignmentsApi (passed in: no sibling imports)."""
        self.base_url = ""  # set by HttpsDouble once it has a port
        self.tenant_id, self.subscription_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.resource_group = "rg-scaivault"
        self.root_client_id, self.root_object_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.root_sp_id, self.root_client_secret = str(uuid.uuid4()), _new_secret()
        self.root_secret_key_id = str(uuid.uuid4())
        self.existing_app_object_id, self.existing_app_client_id = str(uuid.uuid4()), str(uuid.uuid4())
        self.propagation_delay = 0.0  # seconds before new secrets/principals are seen elsewhere
        self.arm = role_assignments_api(self)
        self.reset()

    # -- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Seed: the root client (Graph writer, Owner of the subscription) and one existing app."""
        now = time.time()
        self.propagation_delay = 0.0
        root = Application(self.root_object_id, self.root_client_id, "scaivault-root", now)
        root.passwords[self.root_secret_key_id] = Password(
            self.root_secret_key_id,
            "root",
            self.root_client_secret[:3],
            _hash(self.root_client_secret),
            now,
            now + 2 * 365 * 86400,
            0,
        )
        existing = Application(self.existing_app_object_id, self.existing_app_client_id, "existing-app", now)
        self.applications = {a.id: a for a in (root, existing)}
        self.service_principals = {
            self.root_sp_id: ServicePrincipal(self.root_sp_id, self.root_client_id, "scaivault-root", 0),
            "sp-" + existing.id: ServicePrincipal("sp-" + existing.id, existing.app_id, "existing-app", 0),
        }
        self.ever_principals = set(self.service_principals)
        self.graph_writers = {self.root_client_id}  # apps holding Application.ReadWrite.All
        self.tokens: dict[str, Token] = {}
        self.arm.reset()

    @property
    def role_assignments(self) -> dict:
        """ARM role assignments by name."""
        return self.arm.assignments

    def role_definition_id(self, role: str) -> str:
        """The full roleDefinitionId of a built-in role ("Reader", "Owner", ... or its GUID)."""
        return self.arm.role_definition_id(role)

    def application(self, key: str) -> Application | None:
        """An application by object id, appId or uniqueName."""
        return self.applications.get(key) or next(
            (a for a in self.applications.values() if key in (a.app_id, a.unique_name)), None
        )

    def _app(self, ref: tuple[str, str]) -> Application | None:
        kind, value = ref
        if kind == "id":
            return self.applications.get(value)
        field = "app_id" if kind == "appId" else "unique_name"
        return next((a for a in self.applications.values() if getattr(a, field) == value), None)

    def _sp(self, ref: tuple[str, str]) -> ServicePrincipal | None:
        kind, value = ref
        if kind == "id":
            return self.service_principals.get(value)
        return next((s for s in self.service_principals.values() if s.app_id == value), None)

    def service_principal(self, key: str) -> ServicePrincipal | None:
        """A service principal by object id or appId."""
        return self.service_principals.get(key) or next(
            (s for s in self.service_principals.values() if s.app_id == key), None
        )

    def expire_tokens(self) -> None:
        """Make every access token issued so far expired."""
        for token in self.tokens.values():
            token.expires = 0

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, req):
        path, method = req.path, req.method
        if (m := re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)) and method == "POST":
            return self._token(req, m[1])
        if (m := re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)) and method == "GET":
            return self._openid_configuration(m[1])
        if path.startswith("/v1.0/"):
            return self._graph(req)
        if self.arm.owns(path):
            return self.arm.handle(req)
        return 404, {"error": {"code": "NotFound", "message": f"No route for '{method} {path}'."}}, {}

    def error_body(self, path: str, status: int) -> dict:
        """The body each API sends with a throttling or server error."""
        if "/oauth2/" in path:
            code = "temporarily_unavailable" if status in (429, 503) else "server_error"
            return self._aad_error(status, code, 50000, "There was an error issuing a token.")[1]
        code = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(status, "InternalServerError")
        if path.startswith("/v1.0/"):
            return self._graph_error(status, code, "Injected fault.")[1]
        return {"error": {"code": code, "message": "Injected fault."}}

    # -- identity platform ---------------------------------------------------------------
    def _aad_error(self, status, error, code, description):
        # https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes#handling-error-codes-in-your-application
        trace, corr, now = str(uuid.uuid4()), str(uuid.uuid4()), time.time()
        stamp = _iso(now).replace("T", " ")
        return (
            status,
            {
                "error": error,
                "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
                f"Correlation ID: {corr}\r\nTimestamp: {stamp}",
                "error_codes": [code],
                "timestamp": stamp,
                "trace_id": trace,
                "correlation_id": corr,
                "error_uri": f"{self.base_url}/error?code={code}",
            },
            {},
        )

    def _known_tenant(self, tenant: str) -> bool:
        # Client credentials need the tenant itself; /common and /organizations are refused.
        return tenant == self.tenant_id

    def _token(self, req, tenant):
        # https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
        if not self._known_tenant(tenant):
            return self._aad_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        form = req.form()
        for field in ("grant_type", "client_id", "scope"):
            if not form.get(field):
                return self._aad_error(
                    400, "invalid_request", 900144, f"The request body must contain the following parameter: '{field}'."
                )
        if form["grant_type"] != "client_credentials":
            return self._aad_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form['grant_type']}'.",
            )
        scopes = form["scope"].split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return self._aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {form['scope']} is not valid. Client credential "
                "flows must have a scope value with /.default suffixed to the resource identifier.",
            )
        resource = scopes[0][: -len("/.default")].rstrip("/")
        if resource not in (GRAPH_AUDIENCE, *ARM_AUDIENCES):
            return self._aad_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tenant}.",
            )
        client_id = form["client_id"]
        app = next((a for a in self.applications.values() if a.app_id == client_id), None)
        if app is None:
            return self._aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if not form.get("client_secret"):
            return self._aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            )
        digest, now = _hash(form["client_secret"]), time.time()
        match = next(
            (p for p in app.passwords.values() if p.secret_sha256 == digest and p.visible_at <= time.monotonic()), None
        )
        if match is None:
            return self._aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        if match.end <= now:
            return self._aad_error(
                401, "invalid_client", 7000222, f"The provided client secret keys for app '{client_id}' are expired."
            )
        sp = self.service_principal(client_id)
        if sp is None or sp.visible_at > time.monotonic():
            # Field reports: apps created through the API need their own service principal.
            return self._aad_error(
                400,
                "invalid_client",
                7000229,
                f"The client application {client_id} is missing service principal in the tenant {self.tenant_id}.",
            )
        req.caller = client_id
        access_token = secrets.token_urlsafe(48)
        self.tokens[access_token] = Token(client_id, sp.id, resource, now + 3599)
        return (
            200,
            {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": access_token},
            {},
        )

    def _openid_configuration(self, tenant):
        # https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
        if not self._known_tenant(tenant):
            return self._aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.base_url}/{tenant}"
        # Only the fields MSAL reads; run MSAL with instance_discovery=False against this host.
        return (
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "issuer": f"{self.base_url}/{self.tenant_id}/v2.0",
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            },
            {},
        )

    def authenticate(self, req, audiences):
        """The request's valid token for one of `audiences`, else (None, reason)."""
        token = req.bearer()
        if not token:
            return None, "missing"
        found = self.tokens.get(token)
        if found is None:
            return None, "invalid"
        req.caller = found.app_id
        if found.audience not in audiences:
            return None, "audience:" + found.audience
        if found.expires <= time.time():
            return None, "expired"
        return found, None

    # -- Microsoft Graph -----------------------------------------------------------------
    def _graph_error(self, status, code, message):
        # https://learn.microsoft.com/en-us/graph/errors
        rid = str(uuid.uuid4())
        return (
            status,
            {
                "error": {
                    "code": code,
                    "message": message,
                    "innerError": {"date": _iso(time.time())[:-1], "request-id": rid, "client-request-id": rid},
                }
            },
            {"request-id": rid},
        )

    def _graph_not_found(self, key):
        return self._graph_error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects are not present.",
        )

    def _graph(self, req):
        token, reason = self.authenticate(req, (GRAPH_AUDIENCE,))
        if token is None:
            message = {
                "missing": "Access token is empty.",
                "expired": "Lifetime validation failed, the token is expired.",
            }.get(reason, "Access token validation failure.")
            if reason.startswith("audience:"):
                message = "Access token validation failure. Invalid audience."
            return self._graph_error(401, "InvalidAuthenticationToken", message)
        m = _GRAPH_PATH.fullmatch(req.path)
        if m is None:
            return self._graph_error(
                400, "BadRequest", f"Resource not found for the segment '{req.path.rsplit('/', 1)[-1]}'."
            )
        if token.app_id not in self.graph_writers:
            return self._graph_error(
                403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
            )
        collection, action = m[1], m[5]
        key = ("id", m[2]) if m[2] else (m[3], m[4]) if m[3] else None
        if key and key[0] == "uniqueName" and collection != "applications":
            return self._graph_error(400, "BadRequest", "uniqueName is not a key of servicePrincipals.")
        body = None
        if req.method in ("POST", "PATCH") and req.body:
            try:
                body = req.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return self._graph_error(
                    400,
                    "BadRequest",
                    "Unable to read JSON request payload. Please "
                    "ensure Content-Type header is set and payload is of valid JSON format.",
                )
        handler = {
            ("applications", False, None, "POST"): self._create_application,
            ("applications", True, None, "GET"): self._get_application,
            ("applications", True, None, "DELETE"): self._delete_application,
            ("applications", True, None, "PATCH"): self._upsert_application,
            ("applications", True, "addPassword", "POST"): self._add_password,
            ("applications", True, "removePassword", "POST"): self._remove_password,
            ("servicePrincipals", False, None, "POST"): self._create_service_principal,
            ("servicePrincipals", True, None, "GET"): self._get_service_principal,
            ("servicePrincipals", True, None, "DELETE"): self._delete_service_principal,
        }.get((collection, key is not None, action, req.method))
        if handler is None:
            return self._graph_error(
                405, "Request_BadRequest", f"{req.method} is not supported on '{req.path}' by this double."
            )
        if req.method == "PATCH" and key[0] != "uniqueName":
            return self._graph_error(
                405,
                "Request_BadRequest",
                "PATCH is supported by this double only as the upsert on applications(uniqueName='...').",
            )
        return handler(req, key, body or {})

    def _app_json(self, app: Application) -> dict:
        # https://learn.microsoft.com/en-us/graph/api/resources/application
        return {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#applications/$entity",
            "id": app.id,
            "appId": app.app_id,
            "displayName": app.display_name,
            "uniqueName": app.unique_name,
            "createdDateTime": _iso(app.created),
            "deletedDateTime": None,
            "description": None,
            "notes": None,
            "signInAudience": "AzureADMyOrg",
            "tags": [],
            "keyCredentials": [],
            "passwordCredentials": [dict(self._password_json(p), secretText=None) for p in app.passwords.values()],
        }

    @staticmethod
    def _password_json(p: Password) -> dict:
        # https://learn.microsoft.com/en-us/graph/api/resources/passwordcredential
        return {
            "customKeyIdentifier": None,
            "displayName": p.display_name,
            "endDateTime": _iso(p.end),
            "hint": p.hint,
            "keyId": p.key_id,
            "secretText": None,
            "startDateTime": _iso(p.start),
        }

    def _create_application(self, req, _key, body):
        # https://learn.microsoft.com/en-us/graph/api/application-post-applications
        unknown = set(body) - {"displayName", "description", "notes", "signInAudience", "tags"}
        if unknown:
            return self._graph_error(
                400, "Request_BadRequest", f"Property '{sorted(unknown)[0]}' is not supported by this double."
            )
        if not isinstance(body.get("displayName"), str) or not body["displayName"]:
            return self._graph_error(
                400, "Request_BadRequest", "A value is required for property 'displayName' of resource 'Application'."
            )
        app = Application(str(uuid.uuid4()), str(uuid.uuid4()), body["displayName"], time.time())
        self.applications[app.id] = app
        return 201, self._app_json(app), {}

    def _upsert_application(self, req, key, body):
        # https://learn.microsoft.com/en-us/graph/api/application-upsert
        # 201 with the new application when the uniqueName is free and "Prefer: create-if-missing"
        # is sent; 404 when it is free and the header is missing; 204 (an update) when it exists.
        unknown = set(body) - {"displayName", "description", "notes", "signInAudience", "tags"}
        if unknown:
            return self._graph_error(
                400, "Request_BadRequest", f"Property '{sorted(unknown)[0]}' is not supported by this double."
            )
        if "displayName" in body and (not isinstance(body["displayName"], str) or not body["displayName"]):
            return self._graph_error(
                400,
                "Request_BadRequest",
                "Invalid value specified for property 'displayName' of resource 'Application'.",
            )
        app = self._app(key)
        if app is not None:
            if "displayName" in body:
                app.display_name = body["displayName"]
            return 204, None, {}
        prefer = {p.strip().lower() for p in req.headers.get("prefer", "").split(",")}
        if "create-if-missing" not in prefer:
            return self._graph_not_found(key[1])
        if "displayName" not in body:
            return self._graph_error(
                400, "Request_BadRequest", "A value is required for property 'displayName' of resource 'Application'."
            )
        app = Application(str(uuid.uuid4()), str(uuid.uuid4()), body["displayName"], time.time(), unique_name=key[1])
        self.applications[app.id] = app
        return 201, self._app_json(app), {}

    def _get_application(self, req, key, _body):
        # https://learn.microsoft.com/en-us/graph/api/application-get
        app = self._app(key)
        return (200, self._app_json(app), {}) if app else self._graph_not_found(key[1])

    def _delete_application(self, req, key, _body):
        # https://learn.microsoft.com/en-us/graph/api/application-delete
        # Deleting the application also deletes its service principal in the home tenant.
        app = self._app(key)
        if app is None:
            return self._graph_not_found(key[1])
        del self.applications[app.id]
        for sp in [s for s in self.service_principals.values() if s.app_id == app.app_id]:
            del self.service_principals[sp.id]
        return 204, None, {}

    def _add_password(self, req, key, body):
        # https://learn.microsoft.com/en-us/graph/api/application-addpassword
        app = self._app(key)
        if app is None:
            return self._graph_not_found(key[1])
        spec = body.get("passwordCredential") or {}
        now = time.time()
        try:
            start = (
                datetime.datetime.fromisoformat(spec["startDateTime"]).timestamp() if spec.get("startDateTime") else now
            )
            end = (
                datetime.datetime.fromisoformat(spec["endDateTime"]).timestamp()
                if spec.get("endDateTime")
                else start + 2 * 365 * 86400
            )  # documented default
        except (TypeError, ValueError):
            return self._graph_error(
                400,
                "Request_BadRequest",
                "Invalid value specified for property "
                "'endDateTime' or 'startDateTime' of resource 'PasswordCredential'.",
            )
        if end <= start:
            return self._graph_error(400, "Request_BadRequest", "The end date must be later than the start date.")
        secret = _new_secret()
        password = Password(
            str(uuid.uuid4()),
            spec.get("displayName"),
            secret[:3],
            _hash(secret),
            start,
            end,
            time.monotonic() + self.propagation_delay,
        )
        app.passwords[password.key_id] = password
        result = dict(self._password_json(password), secretText=secret)
        return (
            200,
            {"@odata.context": f"{self.base_url}/v1.0/$metadata#microsoft.graph.passwordCredential", **result},
            {},
        )

    def _remove_password(self, req, key, body):
        # https://learn.microsoft.com/en-us/graph/api/application-removepassword
        app = self._app(key)
        if app is None:
            return self._graph_not_found(key[1])
        key_id = body.get("keyId")
        if key_id not in app.passwords:
            # Field reports: an unknown keyId is a 400 "not found", not a 404.
            return self._graph_error(400, "Request_BadRequest", f"No password credential found with keyId '{key_id}'.")
        del app.passwords[key_id]
        return 204, None, {}

    def _sp_json(self, sp: ServicePrincipal) -> dict:
        # https://learn.microsoft.com/en-us/graph/api/resources/serviceprincipal
        return {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#servicePrincipals/$entity",
            "id": sp.id,
            "appId": sp.app_id,
            "displayName": sp.display_name,
            "accountEnabled": True,
            "appOwnerOrganizationId": self.tenant_id,
            "servicePrincipalType": "Application",
            "servicePrincipalNames": [sp.app_id],
            "deletedDateTime": None,
            "tags": [],
        }

    def _create_service_principal(self, req, _key, body):
        # https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-serviceprincipals
        app_id = body.get("appId")
        app = next((a for a in self.applications.values() if a.app_id == app_id), None)
        if app is None:
            return self._graph_error(
                400,
                "Request_BadRequest",
                f"The appId '{app_id}' of the service principal does not reference a valid application object.",
            )
        if self.service_principal(app_id) is not None:
            return self._graph_error(
                409,
                "Request_MultipleObjectsWithSameKeyValue",
                "The service principal "
                f"cannot be created, updated, or restored because the service principal "
                f"name {app_id} is already in use.",
            )
        sp = ServicePrincipal(str(uuid.uuid4()), app_id, app.display_name, time.monotonic() + self.propagation_delay)
        self.service_principals[sp.id] = sp
        self.ever_principals.add(sp.id)
        return 201, self._sp_json(sp), {}

    def _get_service_principal(self, req, key, _body):
        # https://learn.microsoft.com/en-us/graph/api/serviceprincipal-get
        sp = self._sp(key)
        return (200, self._sp_json(sp), {}) if sp else self._graph_not_found(key[1])

    def _delete_service_principal(self, req, key, _body):
        # https://learn.microsoft.com/en-us/graph/api/serviceprincipal-delete
        # Its role assignments stay behind (shown as "Identity not found"), as in Azure.
        sp = self._sp(key)
        if sp is None:
            return self._graph_not_found(key[1])
        del self.service_principals[sp.id]
        return 204, None, {}
