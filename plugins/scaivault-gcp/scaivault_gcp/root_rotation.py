"""Rotating the root service account's key: a new key now, the old one deleted when its grace period ends.

Google mints the key (``keys.create`` returns the only copy of its private half), so the new key
exists before the core can record it. A process that dies in between leaves a key on the root
account that no version holds. Keys carry no name or label to find such a key by, and other keys
of the account may be anyone's, so it is not deleted automatically: it counts towards Google's
limit of 10 keys, and a rotation refused for that limit lists every key but the current one.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from scaivault_core import EngineError, InvalidConfig, ScaiVaultError

from .iam import Iam, decode_key_file, key_id_of
from .settings import MAX_USER_MANAGED_KEYS, Config, Endpoints
from .tokens import RootTokens, service_account_info

if TYPE_CHECKING:
    from scaivault_core.kits.http import ApiClient

POLL_INTERVAL = 1.0  # seconds between tries of a new key at the token endpoint


def with_key_file(current: dict[str, Any], key_file: dict[str, Any]) -> dict[str, Any]:
    """The root secret in the shape ``current`` has, holding ``key_file``: the key JSON itself or under credentials."""
    if current.get("type") == "service_account" or "credentials" not in current:
        return {**current, **key_file}
    if isinstance(current["credentials"], str):
        return {**current, "credentials": json.dumps(key_file, indent=2)}
    return {**current, "credentials": key_file}


class RootRotation:
    """The three rotation steps the core drives, for the account the root key belongs to."""

    def __init__(self, iam: Iam, api: ApiClient, endpoints: Endpoints, config: Config, log: logging.Logger) -> None:
        self._iam, self._api, self._endpoints, self._config, self._log = iam, api, endpoints, config, log

    def new(self, current: dict[str, Any]) -> dict[str, Any]:
        """Create a key for the root account (checking Google's limit first); returns the new root secret."""
        info = service_account_info(current)
        email, current_key = info["client_email"], info["private_key_id"]
        keys = [key_id_of(k["name"]) for k in self._iam.user_managed_keys(email)]
        if len(keys) >= MAX_USER_MANAGED_KEYS:
            others = sorted(k for k in keys if k != current_key)
            raise EngineError(
                f"Service account {email} already has {len(keys)} user-managed keys, Google's limit is "
                f"{MAX_USER_MANAGED_KEYS}, and rotating needs one more. Delete a key nobody uses (the account's "
                f"keys besides the root key {current_key}: {', '.join(others)}), then rotate again.",
                service_account=email,
                limit=MAX_USER_MANAGED_KEYS,
                other_key_ids=others,
            )
        key = self._iam.create_key(email, None)
        key_id = key_id_of(key["name"])
        try:
            key_file = service_account_info(decode_key_file(key["privateKeyData"]))
        except (KeyError, ValueError, InvalidConfig) as exc:
            self._delete(email, key_id)
            raise EngineError(
                f"Google returned key {key_id} of {email} without a usable key file "
                f"({type(exc).__name__}); it was deleted again.",
                key_id=key_id,
            ) from None
        self._log.info("created root key %s for %s", key_id, email)
        return with_key_file(current, key_file)

    def wait_until_accepted(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """Wait (up to config.propagation_timeout) until the token endpoint takes the new key, or delete it."""
        tokens = RootTokens(self._api, self._endpoints, lambda: new)
        info = service_account_info(new)
        deadline = time.monotonic() + float(self._config.propagation_timeout)
        while True:
            try:
                tokens.token()
                return
            except InvalidConfig as exc:  # refused: not propagated yet, or deleted
                refusal = exc
            except ScaiVaultError:
                self._delete(info["client_email"], info["private_key_id"])
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._delete(info["client_email"], info["private_key_id"])
                raise EngineError(
                    f"Google still refused the new root key {info['private_key_id']} after "
                    f"{self._config.propagation_timeout:g}s ({refusal.message}); it was deleted again.",
                    key_id=info["private_key_id"],
                )
            time.sleep(min(POLL_INTERVAL, remaining))

    def _delete(self, email: str, key_id: str) -> None:
        # The core keeps the old key in force; a stray new key would count towards the limit.
        try:
            self._iam.delete_key(email, key_id)
        except ScaiVaultError as exc:
            self._log.warning(
                "could not delete the unused root key %s of %s (delete it by hand): %s", key_id, email, exc.message
            )

    def retire(self, old: dict[str, Any], current: dict[str, Any]) -> None:
        """Delete the previous root key by its private_key_id (gone already is success)."""
        old_info, current_info = service_account_info(old), service_account_info(current)
        if old_info["private_key_id"] == current_info["private_key_id"]:
            return
        self._iam.delete_key(old_info["client_email"], old_info["private_key_id"])
        self._log.info("deleted the retired root key %s of %s", old_info["private_key_id"], old_info["client_email"])
