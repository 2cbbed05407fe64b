"""The `aws` engine: IAM users with an access key, assumed-role sessions and federation tokens."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions

from scaivault_core import (
    Engine,
    InvalidConfig,
    InvalidRequest,
    Issued,
    IssueRequest,
    LeaseLimits,
)

from .clients import AwsClients, AwsTarget, make_clients
from .clients import verify as verify_clients
from .credentials import AwsCredentials
from .errors import ROOT_FIELD, AwsError, InvalidField, as_core_error, aws_code, core_errors, translate_errors
from .iam_users import create_iam_user, revoke_iam_user
from .log_redaction import install as mask_botocore_logs
from .propagation import wait_for_propagation
from .settings import (
    ASSUMED_ROLE,
    ENGINE_TAG,
    FEDERATION_TOKEN,
    IAM_USER,
    LEASE_TAG,
    Config,
    Request,
    Role,
    check_role,
    listed,
)
from .sts import (
    TtlLimit,
    assume_role,
    assume_role_ttl_limit,
    federation_token_ttl_limit,
    get_federation_token,
)
from .validation import IAM_USER_NAME_MAX

__all__ = ["AwsEngine"]

# A role's MaxSessionDuration rarely changes; asking IAM once per issue would double the calls.
ROLE_LIMIT_CACHE_SECONDS = 300.0
USER_PREFIX = "v_"  # the core's generated user names
MAX_ACCESS_KEYS = 2  # per IAM user, an AWS limit
# IAM throttles per account; a few revocations at once are faster without provoking it.
REVOKE_CONCURRENCY = 4


class AwsEngine(Engine):
    """A lease is an IAM user with an access key, or an STS session (which AWS cannot revoke)."""

    type = "aws"
    plugin = "aws"
    lease_prefix = "aws"
    Config = Config
    Role = Role
    Request = Request
    username_max_length = IAM_USER_NAME_MAX
    marks_subjects = True  # each IAM user is tagged with its engine when it is created

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        mask_botocore_logs()
        try:
            self.config.check()
            self.target = AwsTarget(
                region=self.config.region,
                iam_endpoint=self.config.iam_endpoint,
                sts_endpoint=self.config.sts_endpoint,
            )
        except InvalidField as exc:
            raise InvalidConfig(f"config.{exc.field}: {exc.problem}.", field=f"config.{exc.field}") from None
        self._lock = threading.Lock()
        self._clients_for: AwsCredentials | None = None
        self._clients: AwsClients | None = None
        self._role_limits: dict[str, tuple[float, TtlLimit]] = {}

    # -- connection ----------------------------------------------------------------------------

    def clients(self) -> AwsClients:
        """The engine's IAM/STS clients, rebuilt only when the stored root key pair changed."""
        root = _root_key_pair(self.context.root_credentials())
        with self._lock:
            if self._clients is None or self._clients_for != root:
                self._close_clients()
                self._clients = make_clients(self.target, root)
                self._clients_for = root
                # Who the engine acts as may have changed, and with it the STS limits.
                self._role_limits.clear()
            return self._clients

    def verify(self) -> None:
        """sts:GetCallerIdentity with the root key pair (it needs no IAM permission)."""
        with core_errors():
            identity = verify_clients(self.clients())
        self.log.info("aws engine %s acts as %s", self.context.name, identity.arn)

    def close(self) -> None:
        with self._lock:
            self._close_clients()

    def _close_clients(self) -> None:
        if self._clients is not None:
            for client in (self._clients.iam, self._clients.sts):
                client.close()
        self._clients = self._clients_for = None

    # -- roles ---------------------------------------------------------------------------------

    def validate_role(self, role: Role) -> None:
        """Field syntax for the credential type; for assumed_role, that each role exists."""
        with core_errors():
            check_role(role)
            if role.credential_type == ASSUMED_ROLE:
                for i, arn in enumerate(role.role_arns):
                    self._role_limit(arn, f"role_arns[{i}]")

    def limits(self, role: Role) -> LeaseLimits:
        """IAM users renew freely; STS sessions are bounded by STS and cannot be renewed."""
        if role.credential_type == IAM_USER:
            return LeaseLimits()
        with core_errors():
            if role.credential_type == FEDERATION_TOKEN:
                limit = federation_token_ttl_limit(self.clients())
            else:
                # The request may pick any of the role ARNs, so the tightest limit applies.
                limit = min(
                    (self._role_limit(arn, "role_arns") for arn in role.role_arns),
                    key=lambda found: found.maximum,
                )
        return LeaseLimits(
            renewable=False,
            max_ttl=limit.maximum,
            min_ttl=limit.minimum,
            reason=f"the STS limit: {limit.source}",
        )

    def _role_limit(self, role_arn: str, field: str) -> TtlLimit:
        now = time.monotonic()
        with self._lock:
            cached = self._role_limits.get(role_arn)
        if cached and cached[0] > now:
            return cached[1]
        try:
            limit = assume_role_ttl_limit(self.clients(), role_arn)
        except InvalidField as exc:
            raise InvalidField(field, exc.problem) from None
        with self._lock:
            self._role_limits[role_arn] = (now + ROLE_LIMIT_CACHE_SECONDS, limit)
        return limit

    # -- leases --------------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        """The IAM user's name and the lease it belongs to, recorded before CreateUser."""
        role, params = request.role, request.params
        if params.role_arn is not None and role.credential_type != ASSUMED_ROLE:
            raise InvalidRequest("role_arn applies only to assumed_role roles.", field="role_arn")
        handle: dict[str, Any] = {"credential_type": role.credential_type, "lease_id": request.lease_id}
        if role.credential_type == IAM_USER:
            handle["user_name"] = request.username
        elif role.credential_type == ASSUMED_ROLE:
            handle["role_arn"] = _pick_role_arn(role, params)
        return handle

    def create(self, request: IssueRequest) -> Issued:
        """Create the IAM user or STS session; optionally wait until AWS accepts its key."""
        role = request.role
        with core_errors():
            clients = self.clients()
            if role.credential_type == IAM_USER:
                credentials = self._create_user(clients, request)
            elif role.credential_type == ASSUMED_ROLE:
                # The lease id as session name: CloudTrail then names the lease behind each call.
                credentials = assume_role(
                    clients,
                    _pick_role_arn(role, request.params),
                    request.lease_id,
                    duration_seconds=request.ttl_seconds,
                    policy=role.policy_document,
                    policy_arns=listed(role.policy_arns, "policy_arns"),
                )
            else:
                credentials = get_federation_token(
                    clients,
                    request.lease_id,
                    duration_seconds=request.ttl_seconds,
                    policy=role.policy_document,
                    policy_arns=listed(role.policy_arns, "policy_arns"),
                )
        data: dict[str, Any] = {**credentials.lease_data(), "arn": credentials.principal_arn}
        if request.params.wait_for_propagation:
            data.update(self._wait_for_propagation(credentials))
        subject = None if role.credential_type == IAM_USER else credentials.principal_arn
        return Issued(data=data, subject=subject)

    def _create_user(self, clients: AwsClients, request: IssueRequest) -> AwsCredentials:
        role = request.role
        tags = {**(role.tags or {}), LEASE_TAG: request.lease_id, ENGINE_TAG: self.context.name}
        return create_iam_user(
            clients,
            request.username,
            policy_document=role.policy_document,
            policy_arns=listed(role.policy_arns, "policy_arns"),
            groups=listed(role.groups, "groups"),
            permissions_boundary=role.permissions_boundary,
            path=role.path or "/",
            tags=tags,
        )

    def _wait_for_propagation(self, credentials: AwsCredentials) -> dict[str, Any]:
        # A key AWS has not accepted yet is still a valid, recorded credential: the caller gets it
        # with a warning rather than an error, which would revoke a key that works a moment later.
        timeout = float(self.config.propagation_timeout)
        try:
            waited = wait_for_propagation(self.target, credentials, timeout=timeout)
        except AwsError as exc:
            self.log.warning("aws engine %s: new key not confirmed: %s", self.context.name, exc)
            return {
                "propagated": False,
                "warning": f"AWS had not confirmed the new key when the wait ended ({exc}); it is "
                "issued and leased, and usually works within seconds: retry on first use.",
            }
        return {"propagated": True, "propagation_seconds": round(waited, 1)}

    def revoke(self, handle: dict[str, Any]) -> None:
        """Delete the lease's IAM user; STS sessions cannot be revoked and expire on their own."""
        if handle.get("credential_type") != IAM_USER:
            return
        self._revoke_user(self.clients(), handle)

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """Revoke several leases, a few at a time (each IAM user takes about ten calls)."""
        users = [h for h in handles if h.get("credential_type") == IAM_USER]
        if len(users) <= 1:
            return super().revoke_many(handles)
        try:
            clients = self.clients()  # read once here: the store is not for the pool's threads
        except Exception as exc:
            return [exc] * len(handles)

        def one(handle: dict[str, Any]) -> BaseException | None:
            if handle.get("credential_type") != IAM_USER:
                return None
            try:
                self._revoke_user(clients, handle)
            except Exception as exc:  # each lease succeeds or fails on its own
                return exc
            return None

        with ThreadPoolExecutor(min(REVOKE_CONCURRENCY, len(users))) as pool:
            return list(pool.map(one, handles))

    def _revoke_user(self, clients: AwsClients, handle: dict[str, Any]) -> None:
        with core_errors():
            if self._is_leased_user(clients, handle["user_name"], handle["lease_id"]):
                revoke_iam_user(clients, handle["user_name"])

    def _is_leased_user(self, clients: AwsClients, user_name: str, lease_id: str) -> bool:
        """Whether `user_name` exists and is this lease's user (CreateUser tagged it atomically)."""
        with translate_errors():
            try:
                user = clients.iam.get_user(UserName=user_name)["User"]
            except botocore.exceptions.ClientError as exc:
                if aws_code(exc) == "NoSuchEntity":
                    return False  # never created, or already deleted: revoked either way
                raise
        tags = {tag["Key"]: tag["Value"] for tag in user.get("Tags", [])}
        if tags.get(LEASE_TAG) != lease_id:
            # CreateUser failed with EntityAlreadyExists: the name belongs to someone else.
            self.log.warning(
                "aws engine %s: IAM user %s is not lease %s's user; left alone",
                self.context.name,
                user_name,
                lease_id,
            )
            return False
        return True

    # -- reconcile -----------------------------------------------------------------------------

    def list_subjects(self) -> list[str]:
        """IAM users this engine created (named v_..., tagged with this engine's name)."""
        clients = self.clients()
        with core_errors(), translate_errors():
            candidates = [
                user["UserName"]
                for page in clients.iam.get_paginator("list_users").paginate()
                for user in page["Users"]
                if user["UserName"].startswith(USER_PREFIX)
            ]
            mine = self.context.name
            return [name for name in candidates if self._user_tags(clients, name).get(ENGINE_TAG) == mine]

    def revoke_subject(self, subject: str) -> None:
        """Delete an IAM user of this engine that belongs to no lease."""
        clients = self.clients()
        with core_errors():
            with translate_errors():
                tags = self._user_tags(clients, subject)
            if tags.get(ENGINE_TAG) != self.context.name:
                raise InvalidRequest(f"IAM user {subject} was not created by engine {self.context.name}.")
            revoke_iam_user(clients, subject)

    @staticmethod
    def _user_tags(clients: AwsClients, user_name: str) -> dict[str, str]:
        try:
            pages = clients.iam.get_paginator("list_user_tags").paginate(UserName=user_name)
            return {tag["Key"]: tag["Value"] for page in pages for tag in page["Tags"]}
        except botocore.exceptions.ClientError as exc:
            if aws_code(exc) == "NoSuchEntity":
                return {}  # deleted since it was listed
            raise

    # -- root key rotation -----------------------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any] | None:
        """A second access key for the engine's IAM user, created now (AWS mints keys itself)."""
        clients = self.clients()
        with core_errors():
            identity = clients.identity()
            if identity.kind not in ("user", "root"):
                return None  # session credentials have no access key of their own to replace
            with translate_errors():
                keys = clients.iam.list_access_keys()["AccessKeyMetadata"]
                if len(keys) >= MAX_ACCESS_KEYS:
                    others = [k["AccessKeyId"] for k in keys if k["AccessKeyId"] != current.get("access_key_id")]
                    raise InvalidConfig(
                        f"{identity.arn} already has {MAX_ACCESS_KEYS} access keys, AWS's limit; delete the one "
                        f"not in use ({', '.join(others)}) before rotating.",
                        field=ROOT_FIELD,
                    )
                # Without UserName, AWS acts on the signing key's own user.
                key = clients.iam.create_access_key()["AccessKey"]
        return {**current, "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """The new key exists already; wait until AWS accepts it, or delete it again."""
        try:
            wait_for_propagation(self.target, _root_key_pair(new), timeout=float(self.config.propagation_timeout))
        except AwsError as exc:
            # The core keeps the old key in force; a stray second key would block the next rotation.
            self._delete_own_key(new["access_key_id"])
            raise as_core_error(exc) from None

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        """Delete the previous access key (the store, and so the engine, has the new one by now)."""
        current = _root_key_pair(self.context.root_credentials())
        if old.get("access_key_id") and old["access_key_id"] != current.access_key_id:
            self._delete_own_key(old["access_key_id"])

    def _delete_own_key(self, access_key_id: str) -> None:
        iam = self.clients().iam  # signed with the key pair the store holds now
        with core_errors(), translate_errors():
            try:
                iam.delete_access_key(AccessKeyId=access_key_id)
            except botocore.exceptions.ClientError as exc:
                if aws_code(exc) != "NoSuchEntity":
                    raise


def _root_key_pair(root: dict[str, Any]) -> AwsCredentials:
    for key in ("access_key_id", "secret_access_key"):
        if not isinstance(root.get(key), str) or not root[key]:
            raise InvalidConfig(f"The root credentials secret needs a non-empty {key!r}.", field=ROOT_FIELD)
    token = root.get("session_token")
    if token is not None and not isinstance(token, str):
        raise InvalidConfig("session_token in the root credentials must be a string.", field=ROOT_FIELD)
    return AwsCredentials(root["access_key_id"], root["secret_access_key"], session_token=token)


def _pick_role_arn(role: Role, params: Request) -> str:
    arns = role.role_arns
    if params.role_arn is None:
        if len(arns) > 1:
            raise InvalidRequest(
                f"This role allows {len(arns)} role ARNs; say which one with role_arn.",
                field="role_arn",
                allowed=arns,
            )
        return arns[0]
    if params.role_arn not in arns:
        raise InvalidRequest("role_arn is not one of the role's role_arns.", field="role_arn", allowed=arns)
    return params.role_arn
