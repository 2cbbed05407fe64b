"""The GCP engine: a service-account key per lease, or a short-lived access token of the account.

Crash safety of keys. Google picks a key's id and tells it only in the keys.create response, so
``plan`` cannot record it. ``plan`` records instead which user-managed keys the account had just
before (it lists them anyway, to check Google's limit of 10). While the process lives, it
remembers each create's outcome by lease id (the key id, or "refused"), so the core's immediate
rollback of a failed issue deletes exactly the key made, or nothing. After a crash, revoking an
intent whose create never reported back deletes nothing it cannot attribute: if the account has
no key beyond that list, nothing was made and the rollback succeeds; if it has, the rollback
fails with the candidate key ids, so the intent stays queued, is retried (and succeeds once those
keys are gone), and ends ``irrevocable`` for an operator rather than silently dropped.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from scaivault_core import Engine, EngineError, InvalidConfig, Issued, IssueRequest, LeaseLimits, ScaiVaultError

from .iam import Iam, decode_key_file, key_id_of, limit_error
from .root_rotation import RootRotation
from .settings import (
    ACCESS_TOKEN,
    MAX_TOKEN_LIFETIME,
    MAX_USER_MANAGED_KEYS,
    SERVICE_ACCOUNT_KEY,
    Config,
    Role,
    check_role,
    endpoints,
)
from .tokens import RootTokens

_REMEMBER = 3600.0  # seconds an outcome is kept: far past the core's intent timeout


class _Outcomes:
    """What keys.create did, by lease id, until the lease is recorded or undone (this process only)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def note(self, lease_id: str, key_id: str | None) -> None:
        """``key_id`` None: Google refused, nothing was made."""
        now = time.monotonic()
        with self._lock:
            for stale in [k for k, (at, _) in self._items.items() if now - at > _REMEMBER]:
                del self._items[stale]
            self._items[lease_id] = (now, key_id)

    def take(self, lease_id: str | None) -> tuple[bool, str | None]:
        """(known, key id) for a lease, forgotten once taken."""
        with self._lock:
            found = self._items.pop(lease_id, None) if lease_id else None
        return (False, None) if found is None else (True, found[1])


class GcpEngine(Engine):
    """A lease is a service-account key (deleted on revocation) or an access token (left to expire)."""

    type = "gcp"
    plugin = "gcp"
    lease_prefix = "gcp"
    Config = Config
    Role = Role

    def __init__(self, context) -> None:
        super().__init__(context)
        self._endpoints = endpoints(self.config)
        # imported at first use: start-up loads every installed plugin
        from scaivault_core.kits.http import ApiClient, RetryPolicy

        self._api = ApiClient(
            logger="scaivault.gcp.http",
            ca_bundle=self.config.ca_bundle,
            timeout=self.config.timeout,
            retry=RetryPolicy(max_retries=self.config.max_retries),
        )
        self._tokens = RootTokens(self._api, self._endpoints, self.context.root_credentials)
        self._iam = Iam(self._tokens, self._endpoints.iam, self._endpoints.iamcredentials)
        self._outcomes = _Outcomes()
        self._rotation = RootRotation(self._iam, self._api, self._endpoints, self.config, self.log)

    def close(self) -> None:
        self._api.close()

    def verify(self) -> None:
        """Get a token with the root key (a refusal is ``InvalidConfig``)."""
        self._tokens.forget()
        self._tokens.token()

    # -- roles ------------------------------------------------------------------------------

    def validate_role(self, role: Role) -> None:
        """Shape first; for keys, the root account must be able to list the account's keys."""
        check_role(role)
        if role.secret_type == SERVICE_ACCOUNT_KEY:
            try:
                self._iam.user_managed_keys(role.service_account_email)
            except EngineError as exc:
                raise InvalidConfig(
                    f"service_account_email: {exc.message}", field="service_account_email", **exc.details
                ) from None

    def limits(self, role: Role) -> LeaseLimits:
        if role.secret_type == ACCESS_TOKEN:
            return LeaseLimits(
                renewable=False, max_ttl=MAX_TOKEN_LIFETIME, reason="Google's generateAccessToken allows at most 1h"
            )
        return LeaseLimits()

    # -- leases -----------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        role: Role = request.role
        email = role.service_account_email
        if role.secret_type == ACCESS_TOKEN:
            return {"kind": ACCESS_TOKEN, "service_account_email": email}
        keys = self._iam.user_managed_keys(email)
        if len(keys) >= MAX_USER_MANAGED_KEYS:
            raise limit_error(email)  # before an intent exists: nothing to undo
        return {
            "kind": SERVICE_ACCOUNT_KEY,
            "service_account_email": email,
            "lease_id": request.lease_id,
            "keys_before": sorted(key_id_of(k["name"]) for k in keys),
        }

    def create(self, request: IssueRequest) -> Issued:
        role: Role = request.role
        email = role.service_account_email
        if role.secret_type == ACCESS_TOKEN:
            token = self._iam.generate_access_token(email, list(role.token_scopes), request.ttl_seconds)
            return Issued(
                data={
                    "token": token["accessToken"],
                    "expires_at": token["expireTime"],
                    "token_type": "Bearer",
                    "service_account_email": email,
                },
                subject=email,
            )
        try:
            key = self._iam.create_key(email, role.key_algorithm)
        except ScaiVaultError as exc:
            status = exc.details.get("api_status")
            if status is not None and (status < 500 or status == 503):  # refused, so certainly not created
                self._outcomes.note(request.lease_id, None)
            raise
        key_id = key_id_of(key["name"])
        self._outcomes.note(request.lease_id, key_id)
        try:
            key_file = decode_key_file(key["privateKeyData"])
        except (KeyError, ValueError) as exc:  # the core's rollback deletes the key (noted above)
            raise EngineError(
                f"Google returned key {key_id} of {email} without a readable key file "
                f"({type(exc).__name__}); the key is deleted again.",
                key_id=key_id,
            ) from None
        self.log.info("created key %s for %s", key_id, email)
        return Issued(
            data={
                "private_key_data": key["privateKeyData"],
                "key_json": key_file,
                "key_id": key_id,
                "service_account_email": email,
            },
            handle={"key_id": key_id},
            subject=f"{email}/keys/{key_id}",
        )

    def revoke(self, handle: dict[str, Any]) -> None:
        """Delete the key (gone is success); access tokens cannot be revoked and expire on their own."""
        if handle["kind"] == ACCESS_TOKEN:
            return
        email = handle["service_account_email"]
        if handle.get("key_id"):
            self._iam.delete_key(email, handle["key_id"])
            return
        # An intent whose keys.create never reported back to the core: see the module docstring.
        known, key_id = self._outcomes.take(handle.get("lease_id"))
        if known:
            if key_id is not None:
                self._iam.delete_key(email, key_id)
            return
        before = set(handle.get("keys_before", []))
        unknown = sorted(
            key_id_of(k["name"]) for k in self._iam.user_managed_keys(email) if key_id_of(k["name"]) not in before
        )
        if unknown:
            raise EngineError(
                f"The key this lease may have created was never recorded. Service account {email} has "
                f"user-managed key(s) created since the lease was planned: {', '.join(unknown)}; one may be this "
                "lease's, others may belong to other leases. Delete the one no lease owns; this rollback is "
                "retried and succeeds once none of them is left.",
                service_account=email,
                candidate_key_ids=unknown,
            )

    # -- root credential rotation -----------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        """A new key of the root service account (Google mints it, so it exists from here on)."""
        return self._rotation.new(current)

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """The new key exists already: wait until the token endpoint takes it, or delete it again."""
        self._rotation.wait_until_accepted(current, new)

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        """Delete the previous root key (by its private_key_id)."""
        self._rotation.retire(old, self.context.root_credentials())
