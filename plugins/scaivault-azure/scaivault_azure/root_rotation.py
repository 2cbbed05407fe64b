"""Rotating the root client's own secret: a second secret now, the old one removed when its grace period ends.

Entra ID mints a client secret itself (``addPassword`` returns its only copy), so the new secret
exists in the directory before the core can record it. Each rotation therefore names its secret
``{name_prefix}root-{engine}-{generation}``, one generation past the current root secret's (kept in
the root credentials as ``generation``, beside the secret's ``key_id``). A process that dies between
``addPassword`` and the core sealing the answer leaves a secret of the next generation that no
version holds; the next rotation mints that same generation again and removes such a secret first.
Secrets of earlier generations are never touched there, since they may still be in a grace period.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scaivault_core import EngineError, InvalidConfig, ScaiVaultError

from .graph import Graph, by_app_id
from .settings import Config, Endpoints
from .tokens import RootCredentials, RootTokens, root_credentials

if TYPE_CHECKING:
    from scaivault_core.kits.http import ApiClient

POLL_INTERVAL = 1.0  # seconds between tries of a new secret at the token endpoint


def secret_name(config: Config, engine: str, generation: int) -> str:
    """The displayName of the root secret a rotation to ``generation`` adds."""
    return f"{config.name_prefix}root-{engine}-{generation}"


def _generation(data: dict[str, Any]) -> int:
    value = data.get("generation")
    return value if isinstance(value, int) and value >= 0 else 0


def _hint(secret: str) -> str:
    # Graph lists each secret's first three characters as its "hint", never the secret.
    return secret[:3]


class RootRotation:
    """The three rotation steps the core drives, for the root application (found by its appId)."""

    def __init__(
        self, graph: Graph, api: ApiClient, endpoints: Endpoints, config: Config, engine: str, log: logging.Logger
    ) -> None:
        self._graph, self._api, self._endpoints = graph, api, endpoints
        self._config, self._engine, self._log = config, engine, log

    def _creds(self, data: dict[str, Any]) -> RootCredentials:
        return root_credentials(data, self._config.tenant_id)

    def _passwords(self, client_id: str) -> list[dict[str, Any]]:
        app = self._graph.get_application(by_app_id(client_id))
        if app is None:
            raise InvalidConfig(
                f"Microsoft Graph has no application with the root client id {client_id}; the root "
                "credentials must be a client secret of an application in this tenant.",
                field="root_credentials.client_id",
            )
        return app.get("passwordCredentials") or []

    def new(self, current: dict[str, Any]) -> dict[str, Any]:
        """Add the next generation's secret to the root application; returns the new root credentials."""
        creds = self._creds(current)
        path = by_app_id(creds.client_id)
        passwords = self._passwords(creds.client_id)
        current_key = self._identify(current, passwords)
        generation = _generation(current) + 1
        name = secret_name(self._config, self._engine, generation)
        stale = {p["keyId"] for p in passwords if p.get("displayName") == name and p.get("keyId") != current_key}
        if stale:
            self._log.warning(
                "removing %d secret(s) of the root application left by an interrupted rotation: %s",
                len(stale),
                ", ".join(sorted(stale)),
            )
            self._graph.remove_passwords(path, stale, None)
        # No endDateTime: Graph's default (two years) or the tenant's app management policy applies.
        password = self._graph.add_password(path, name, None)
        self._log.info("added root secret %s (keyId %s) to application %s", name, password["keyId"], creds.client_id)
        return {
            **current,
            "client_secret": password["secretText"],
            "key_id": password["keyId"],
            "generation": generation,
        }

    def _identify(self, current: dict[str, Any], passwords: list[dict[str, Any]]) -> str:
        """The keyId of the current root secret: recorded, or the one secret whose hint matches it."""
        creds = self._creds(current)
        key_id = current.get("key_id")
        if isinstance(key_id, str) and key_id:
            listed = next((p for p in passwords if p.get("keyId") == key_id), None)
            if listed is not None and listed.get("hint") not in (None, _hint(creds.client_secret)):
                raise InvalidConfig(
                    f"key_id {key_id} in the root credentials names another secret of the root "
                    "application than client_secret; correct it before rotating.",
                    field="root_credentials.key_id",
                )
            return key_id
        matches = [p["keyId"] for p in passwords if p.get("hint") == _hint(creds.client_secret)]
        if len(matches) != 1:
            raise InvalidConfig(
                "The root application's secrets cannot tell which one the root credentials hold "
                f"({len(matches)} share its first characters); add its keyId to the root "
                "credentials as key_id before rotating.",
                field="root_credentials.key_id",
            )
        return matches[0]

    def wait_until_accepted(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """Wait (up to config.propagation_timeout) until the token endpoint takes the new secret, or undo it."""
        tokens = RootTokens(self._api, self._endpoints, lambda: self._creds(new))
        deadline = time.monotonic() + float(self._config.propagation_timeout)
        while True:
            try:
                tokens.token(self._endpoints.graph_scope)
                return
            except InvalidConfig as exc:  # refused: not replicated yet, or gone
                refusal = exc
            except ScaiVaultError:
                self._undo(new)
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._undo(new)
                raise EngineError(
                    f"Microsoft Entra ID still refused the new root secret after "
                    f"{self._config.propagation_timeout:g}s ({refusal.message}); it was removed again.",
                    key_id=new.get("key_id"),
                )
            time.sleep(min(POLL_INTERVAL, remaining))

    def _undo(self, new: dict[str, Any]) -> None:
        # The core keeps the old secret in force; a stray new one would only add to the application.
        try:
            self._graph.remove_passwords(by_app_id(self._creds(new).client_id), {new["key_id"]}, None)
        except ScaiVaultError as exc:
            self._log.warning(
                "could not remove the unused root secret %s (the next rotation will): %s",
                new.get("key_id"),
                exc.message,
            )

    def retire(self, old: dict[str, Any], current: dict[str, Any]) -> None:
        """Remove the previous root secret from the application (gone already is success)."""
        creds = self._creds(old)
        current_key = current.get("key_id")
        path = by_app_id(creds.client_id)
        app = self._graph.get_application(path)
        if app is None:
            return
        passwords = [p for p in app.get("passwordCredentials") or [] if p.get("keyId") != current_key]
        key_id = old.get("key_id")
        if isinstance(key_id, str) and key_id:
            listed = next((p for p in passwords if p.get("keyId") == key_id), None)
            if listed is None:
                return
            if listed.get("hint") not in (None, _hint(creds.client_secret)):
                raise EngineError(
                    f"The retired root credentials' key_id {key_id} names a secret they do not hold; "
                    "it is left on the application: remove the old secret by hand.",
                    key_id=key_id,
                )
        else:
            matches = [p["keyId"] for p in passwords if p.get("hint") == _hint(creds.client_secret)]
            if not matches:
                return
            if len(matches) > 1:
                raise EngineError(
                    "The retired root secret cannot be told apart from other secrets of the root "
                    f"application ({', '.join(matches)}); remove it by hand.",
                    candidate_key_ids=matches,
                )
            key_id = matches[0]
        self._graph.remove_passwords(path, {key_id}, None)
        self._log.info("removed the retired root secret %s from application %s", key_id, creds.client_id)
