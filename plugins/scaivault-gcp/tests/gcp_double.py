"""A local double of the Google Cloud APIs scaivault-gcp calls, served by
scaivault_core.testing.https_double.HttpsDouble.

One host stands in for three: the OAuth 2.0 token endpoint (oauth2.googleapis.com), IAM v1
service-account keys (iam.googleapis.com) and the IAM Service Account Credentials API v1
(iamcredentials.googleapis.com). Shapes follow the Google Cloud reference pages cited at each
endpoint; where the docs are silent, field reports, and the comment says so.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import re
import secrets
import time
from urllib.parse import quote

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPES = {CLOUD_PLATFORM, "https://www.googleapis.com/auth/iam"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# The documented JWT audience "is always" this, whatever host the token request goes to.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
MAX_USER_MANAGED_KEYS = 10  # https://cloud.google.com/iam/quotas
NEVER = "9999-12-31T23:59:59Z"  # validBeforeTime of a user-managed key without an expiry policy
_KEY_ADMIN = {
    "iam.serviceAccountKeys.create",
    "iam.serviceAccountKeys.delete",
    "iam.serviceAccountKeys.get",
    "iam.serviceAccountKeys.list",
    "iam.serviceAccounts.get",
}
# https://cloud.google.com/iam/docs/service-account-roles (the permissions this double checks)
ROLE_PERMISSIONS = {
    "roles/owner": _KEY_ADMIN,
    "roles/editor": _KEY_ADMIN,
    "roles/iam.serviceAccountKeyAdmin": _KEY_ADMIN,
    "roles/iam.serviceAccountTokenCreator": {
        "iam.serviceAccounts.getAccessToken",
        "iam.serviceAccounts.get",
        "iam.serviceAccounts.implicitDelegation",
    },
    "roles/iam.serviceAccountViewer": {
        "iam.serviceAccounts.get",
        "iam.serviceAccountKeys.get",
        "iam.serviceAccountKeys.list",
    },
}
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_RESOURCE = re.compile(
    r"/v1/projects/([^/]+)/serviceAccounts/([^/:]+)"
    r"(?::(generateAccessToken)|/keys/([^/]+)|(/keys))?"
)


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@attrs.define
class ServiceAccount:
    email: str
    unique_id: str
    project: str
    display_name: str


@attrs.define
class Key:
    id: str
    email: str
    key_type: str  # USER_MANAGED or SYSTEM_MANAGED
    algorithm: str
    public_key: object  # RSAPublicKey (None for system-managed keys); the private half is never kept
    created: float
    valid_before: str


@attrs.define
class Token:
    email: str
    scopes: frozenset
    expires: float


def api_error(status: int, message: str, status_name: str | None = None, details: list | None = None):
    """A Google API error response: https://cloud.google.com/apis/design/errors#http_mapping"""
    error = {"code": status, "message": message, "status": status_name or _STATUS.get(status, "UNKNOWN")}
    if details:
        error["details"] = details
    return status, {"error": error}, {}


def _oauth_error(error: str, description: str, status: int = 400):
    return status, {"error": error, "error_description": description}, {}


def _denied(permission: str):
    return api_error(
        403,
        f"Permission '{permission}' denied on resource (or it may not exist).",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "iam.googleapis.com",
                "metadata": {"permission": permission},
            }
        ],
    )


def _unknown_fields(body: dict, known: set):
    unknown = sorted(set(body) - known)
    if unknown:  # the wording of Google's JSON transcoding error
        return api_error(400, f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    return None


class GcpApi:
    """Token endpoint, tokeninfo, IAM serviceAccounts.keys and iamcredentials generateAccessToken."""

    def __init__(self):
        self.base_url = ""  # set by HttpsDouble once it has a port
        self.project_id = "scaivault-test"
        self.root_email = f"scaivault-root@{self.project_id}.iam.gserviceaccount.com"
        self.target_email = f"app-runtime@{self.project_id}.iam.gserviceaccount.com"
        self._root_private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.root_key_id = secrets.token_hex(20)
        self._unique_ids = {self.root_email: self._new_unique_id(), self.target_email: self._new_unique_id()}
        self.reset()

    # -- state ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Seed: a root account with one key (key admin on the project, token creator on the target)."""
        self.accounts: dict[str, ServiceAccount] = {}
        self.keys: dict[str, Key] = {}
        self.deleted_keys: set[str] = set()
        self.bindings: set[tuple[str, str, str]] = set()  # (member email, role, resource name)
        self.tokens: dict[str, Token] = {}
        self.extended_lifetime_accounts: set[str] = set()  # the org policy allowing up to 12 h
        for email, name in ((self.root_email, "ScaiVault root"), (self.target_email, "App runtime")):
            self.add_service_account(email.split("@")[0], name)
        self.keys[self.root_key_id] = Key(
            self.root_key_id,
            self.root_email,
            "USER_MANAGED",
            "KEY_ALG_RSA_2048",
            self._root_private_key.public_key(),
            time.time(),
            NEVER,
        )
        self.grant(self.root_email, "roles/iam.serviceAccountKeyAdmin")
        self.grant(self.root_email, "roles/iam.serviceAccountTokenCreator", on=self.target_email)

    @staticmethod
    def _new_unique_id() -> str:
        return str(10**20 + secrets.randbelow(9 * 10**20))  # 21 digits, like Google's

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    @property
    def root_key_info(self) -> dict:
        """The root account's service-account key file (what the plugin's root credentials are)."""
        return self._key_file(self.accounts[self.root_email], self.root_key_id, self._root_private_key)

    def add_service_account(self, account_id: str, display_name: str = "") -> str:
        """Create a service account in the project (with one system-managed key); return its email."""
        email = f"{account_id}@{self.project_id}.iam.gserviceaccount.com"
        unique_id = self._unique_ids.setdefault(email, self._new_unique_id())
        self.accounts[email] = ServiceAccount(email, unique_id, self.project_id, display_name)
        system_key = secrets.token_hex(20)  # Google signs with these itself: no key material here
        self.keys[system_key] = Key(
            system_key, email, "SYSTEM_MANAGED", "KEY_ALG_RSA_2048", None, time.time(), _iso(time.time() + 14 * 86400)
        )
        return email

    def grant(self, member_email: str, role: str, on: str | None = None) -> None:
        """Bind `role` to the member on the project, or on the service account `on`."""
        self.bindings.add((member_email, role, self._resource(on)))

    def revoke(self, member_email: str, role: str, on: str | None = None) -> None:
        """Remove a binding made with grant()."""
        self.bindings.discard((member_email, role, self._resource(on)))

    def _resource(self, email: str | None) -> str:
        return f"projects/{self.project_id}" + (f"/serviceAccounts/{email}" if email else "")

    def user_managed_keys(self, email: str) -> list[Key]:
        """The live user-managed keys of a service account."""
        return [k for k in self.keys.values() if k.email == email and k.key_type == "USER_MANAGED"]

    def expire_tokens(self) -> None:
        """Make every access token issued so far expired."""
        for token in self.tokens.values():
            token.expires = 0

    def _key_file(self, account: ServiceAccount, key_id: str, private_key) -> dict:
        # https://cloud.google.com/iam/docs/keys-create-delete#creating (the JSON key file)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": account.project,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": account.email,
            "client_id": account.unique_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/" + quote(account.email),
            "universe_domain": "googleapis.com",
        }

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, req):
        if req.path == "/token" and req.method == "POST":
            return self._token(req)
        if req.path == "/tokeninfo" and req.method in ("GET", "POST"):
            return self._tokeninfo(req)
        m = _RESOURCE.fullmatch(req.path)
        if m is None:
            return api_error(404, f"The requested URL {req.path} was not found on this server.")
        project, account, generate, key_id, keys = m.groups()
        if generate:
            routes = {"POST": self._generate_access_token}
        elif keys:
            routes = {"GET": self._list_keys, "POST": self._create_key}
        elif key_id:
            routes = {"GET": self._get_key, "DELETE": self._delete_key}
        else:
            routes = {"GET": self._get_service_account}
        handler = routes.get(req.method)
        if handler is None:
            return api_error(405, f"Method {req.method} is not allowed on {req.path}.", "METHOD_NOT_ALLOWED")
        return handler(req, project, account, key_id)

    def error_body(self, path: str, status: int) -> dict:
        """The body each API sends with a throttling or server error."""
        if path in ("/token", "/tokeninfo"):  # google-auth retries "internal_failure" and 5xx/429
            return {"error": "internal_failure", "error_description": "Injected fault."}
        return api_error(status, "Injected fault.")[1]

    # -- OAuth 2.0 -----------------------------------------------------------------------
    def _token(self, req):
        # https://developers.google.com/identity/protocols/oauth2/service-account#httprest
        form = req.form()
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        if not form.get("assertion"):
            return _oauth_error("invalid_request", "Missing required parameter: assertion")
        try:
            head, body, signature = form["assertion"].split(".")
            header, claims = json.loads(_b64url_decode(head)), json.loads(_b64url_decode(body))
            key = self.keys.get(header.get("kid"))
            if header.get("alg") != "RS256" or key is None or key.email != claims.get("iss"):
                raise InvalidSignature
            key.public_key.verify(
                _b64url_decode(signature), f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (ValueError, TypeError, AttributeError, InvalidSignature):
            # A deleted key, an unknown key id and a forged signature look the same to the caller.
            return _oauth_error("invalid_grant", "Invalid JWT Signature.")
        if claims.get("aud") not in (GOOGLE_TOKEN_AUDIENCE, self.token_uri):
            return _oauth_error(
                "invalid_grant", f"Invalid JWT: Failed audience check. The right audience is {GOOGLE_TOKEN_AUDIENCE}"
            )
        now, iat, exp = time.time(), claims.get("iat"), claims.get("exp")
        if not (isinstance(iat, int) and isinstance(exp, int) and iat - 300 <= now < exp and exp - iat <= 3600):
            return _oauth_error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) "
                "and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        req.caller = key.email
        access_token = "ya29.c." + secrets.token_urlsafe(64)
        self.tokens[access_token] = Token(key.email, scopes, now + 3599)
        return 200, {"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"}, {}

    def _tokeninfo(self, req):
        # https://developers.google.com/identity/protocols/oauth2/javascript-implicit-flow#tokeninfo-validation
        value = req.arg("access_token") or (req.form().get("access_token") if req.body else None)
        token = self.tokens.get(value or "")
        if token is None or token.expires <= time.time():
            return _oauth_error("invalid_token", "Invalid Value")
        client_id = self.accounts[token.email].unique_id if token.email in self.accounts else ""
        return (
            200,
            {
                "azp": client_id,
                "aud": client_id,
                "scope": " ".join(sorted(token.scopes)),
                "exp": str(int(token.expires)),
                "expires_in": str(int(token.expires - time.time())),
                "email": token.email,
                "email_verified": "true",
                "access_type": "online",
            },
            {},
        )

    def _authenticate(self, req, scopes):
        """The caller's Token, else an error response (as Google front ends answer)."""
        if not req.bearer():
            return None, api_error(
                401,
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        token = self.tokens.get(req.bearer())
        if token is None or token.expires <= time.time():
            return None, api_error(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access "
                "token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            )
        req.caller = token.email
        if not token.scopes & scopes:
            return None, api_error(
                403,
                "Request had insufficient authentication scopes.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                        "domain": "googleapis.com",
                    }
                ],
            )
        return token, None

    def _allowed(self, member: str, permission: str, account: ServiceAccount | None) -> bool:
        resources = {self._resource(None)} | ({self._resource(account.email)} if account else set())
        return any(
            m == member and r in resources and permission in ROLE_PERMISSIONS.get(role, ())
            for m, role, r in self.bindings
        )

    def _account(self, project: str, account: str) -> ServiceAccount | None:
        found = next((a for a in self.accounts.values() if account in (a.email, a.unique_id)), None)
        return found if found and project in ("-", found.project) else None

    def _iam_target(self, req, project, account, permission):
        """(token, service account) for an IAM v1 call, or (None, error response)."""
        token, error = self._authenticate(req, IAM_SCOPES)
        if error:
            return None, error
        target = self._account(project, account)
        if target is None:
            # With project-wide rights the caller learns the account is missing; without, a 403.
            if self._allowed(token.email, permission, None):
                return None, api_error(
                    404, f"Service account projects/{project}/serviceAccounts/{account} does not exist."
                )
            return None, _denied(permission)
        if not self._allowed(token.email, permission, target):
            return None, _denied(permission)
        return target, None

    # -- IAM v1: service account keys ----------------------------------------------------
    @staticmethod
    def _key_json(key: Key, project: str) -> dict:
        # https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys#ServiceAccountKey
        return {
            "name": f"projects/{project}/serviceAccounts/{key.email}/keys/{key.id}",
            "validAfterTime": _iso(key.created),
            "validBeforeTime": key.valid_before,
            "keyAlgorithm": key.algorithm,
            "keyOrigin": "GOOGLE_PROVIDED",
            "keyType": key.key_type,
        }

    def _get_service_account(self, req, project, account, _key_id):
        # https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts/get
        target, error = self._iam_target(req, project, account, "iam.serviceAccounts.get")
        if error:
            return error
        return (
            200,
            {
                "name": f"projects/{target.project}/serviceAccounts/{target.email}",
                "projectId": target.project,
                "uniqueId": target.unique_id,
                "email": target.email,
                "displayName": target.display_name,
                "etag": "MDEwMjE5MjA=",
                "oauth2ClientId": target.unique_id,
            },
            {},
        )

    def _create_key(self, req, project, account, _key_id):
        # https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/create
        target, error = self._iam_target(req, project, account, "iam.serviceAccountKeys.create")
        if error:
            return error
        try:
            body = req.json() if req.body else {}
        except ValueError:
            return api_error(400, "Invalid JSON payload received.")
        error = _unknown_fields(body, {"privateKeyType", "keyAlgorithm"})
        if error:
            return error
        key_type = body.get("privateKeyType") or "TYPE_GOOGLE_CREDENTIALS_FILE"
        algorithm = body.get("keyAlgorithm") or "KEY_ALG_RSA_2048"
        if key_type not in ("TYPE_UNSPECIFIED", "TYPE_PKCS12_FILE", "TYPE_GOOGLE_CREDENTIALS_FILE"):
            return api_error(
                400,
                "Invalid value at 'private_key_type' (type.googleapis.com/google.iam.admin.v1."
                f'ServiceAccountPrivateKeyType), "{key_type}"',
            )
        if algorithm not in ("KEY_ALG_UNSPECIFIED", "KEY_ALG_RSA_1024", "KEY_ALG_RSA_2048"):
            return api_error(
                400,
                "Invalid value at 'key_algorithm' (type.googleapis.com/google.iam.admin.v1."
                f'ServiceAccountKeyAlgorithm), "{algorithm}"',
            )
        if key_type == "TYPE_PKCS12_FILE":
            return api_error(400, "TYPE_PKCS12_FILE keys are not implemented by this double.")
        if len(self.user_managed_keys(target.email)) >= MAX_USER_MANAGED_KEYS:
            # Field reports (firebase-tools#6192, google-api-dotnet-client#2027): the 11th key is a bare
            # 400 FAILED_PRECONDITION; older answers were 429 "Maximum number of keys on account reached."
            return api_error(400, "Precondition check failed.", "FAILED_PRECONDITION")
        algorithm = "KEY_ALG_RSA_2048" if algorithm == "KEY_ALG_UNSPECIFIED" else algorithm
        private_key = rsa.generate_private_key(
            public_exponent=65537, key_size=1024 if algorithm == "KEY_ALG_RSA_1024" else 2048
        )
        key = Key(
            secrets.token_hex(20), target.email, "USER_MANAGED", algorithm, private_key.public_key(), time.time(), NEVER
        )
        self.keys[key.id] = key
        key_file = json.dumps(self._key_file(target, key.id, private_key), indent=2).encode()
        return (
            200,
            {
                **self._key_json(key, target.project),
                "privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE",
                "privateKeyData": base64.b64encode(key_file).decode(),
            },
            {},
        )

    def _list_keys(self, req, project, account, _key_id):
        # https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/list
        target, error = self._iam_target(req, project, account, "iam.serviceAccountKeys.list")
        if error:
            return error
        wanted = set(req.query.get("keyTypes", []))
        bad = wanted - {"KEY_TYPE_UNSPECIFIED", "USER_MANAGED", "SYSTEM_MANAGED"}
        if bad:
            return api_error(
                400,
                "Invalid value at 'key_types' (type.googleapis.com/google.iam.admin.v1."
                f'ListServiceAccountKeysRequest.KeyType), "{sorted(bad)[0]}"',
            )
        wanted.discard("KEY_TYPE_UNSPECIFIED")
        keys = [
            self._key_json(k, target.project)
            for k in self.keys.values()
            if k.email == target.email and (not wanted or k.key_type in wanted)
        ]
        return 200, ({"keys": keys} if keys else {}), {}  # proto3 JSON omits an empty list

    def _get_key(self, req, project, account, key_id):
        # https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/get
        target, error = self._iam_target(req, project, account, "iam.serviceAccountKeys.get")
        if error:
            return error
        key = self.keys.get(key_id)
        if key is None or key.email != target.email:
            return api_error(404, f"Service account key {key_id} does not exist.")
        return 200, self._key_json(key, target.project), {}

    def _delete_key(self, req, project, account, key_id):
        # https://cloud.google.com/iam/docs/reference/rest/v1/projects.serviceAccounts.keys/delete
        target, error = self._iam_target(req, project, account, "iam.serviceAccountKeys.delete")
        if error:
            return error
        key = self.keys.get(key_id)
        if key_id in self.deleted_keys or (key and key.key_type == "SYSTEM_MANAGED"):
            # Field report (uc-cdis/fence#868): deleting an already-deleted key is FAILED_PRECONDITION.
            return api_error(400, "Precondition check failed.", "FAILED_PRECONDITION")
        if key is None or key.email != target.email:
            return api_error(404, f"Service account key {key_id} does not exist.")
        del self.keys[key_id]
        self.deleted_keys.add(key_id)
        return 200, {}, {}

    # -- IAM Service Account Credentials v1 -----------------------------------------------
    def _generate_access_token(self, req, project, account, _key_id):
        # https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/generateAccessToken
        token, error = self._authenticate(req, {CLOUD_PLATFORM})
        if error:
            return error
        if project != "-":
            return api_error(
                400, "The - wildcard character is required for the project; replacing it with a project ID is invalid."
            )
        try:
            body = req.json() if req.body else {}
        except ValueError:
            return api_error(400, "Invalid JSON payload received.")
        error = _unknown_fields(body, {"scope", "lifetime", "delegates"})
        if error:
            return error
        scopes = body.get("scope") or []
        if not scopes or not all(isinstance(s, str) and s for s in scopes):
            return api_error(400, "Scope required.")
        lifetime = body.get("lifetime") or "3600s"
        m = re.fullmatch(r"(\d+)(?:\.\d{1,9})?s", lifetime) if isinstance(lifetime, str) else None
        if m is None:
            return api_error(
                400, f"Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), \"{lifetime}\""
            )
        target = self._account("-", account)
        if target is None:
            # Field reports: an unknown account is this 404, whatever the caller may do.
            return api_error(404, f"Not found; Gaia id not found for email {account}")
        chain = [token.email] + [d.rsplit("/", 1)[-1] for d in body.get("delegates") or []] + [target.email]
        for caller, callee in itertools.pairwise(chain):
            permission = (
                "iam.serviceAccounts.getAccessToken"
                if callee == target.email
                else "iam.serviceAccounts.implicitDelegation"
            )
            if not self._allowed(caller, permission, self._account("-", callee)):
                return _denied(permission)
        seconds = int(m[1])
        limit = 43200 if target.email in self.extended_lifetime_accounts else 3600
        if not 0 < seconds <= limit:
            # The docs give the limit; the exact wording of Google's message is not documented.
            return api_error(
                400,
                f"The lifetime of the requested token must be between 1 and {limit} seconds "
                "(constraints/iam.allowServiceAccountCredentialLifetimeExtension).",
            )
        access_token = "ya29.c." + secrets.token_urlsafe(64)
        self.tokens[access_token] = Token(target.email, frozenset(scopes), time.time() + seconds)
        return 200, {"accessToken": access_token, "expireTime": _iso(time.time() + seconds)}, {}
