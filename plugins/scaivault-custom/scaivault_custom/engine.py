"""The custom engine: operators' own commands (or webhooks) create, renew and revoke each credential."""

from __future__ import annotations

import json
import threading
from typing import Any

import attrs

from scaivault_core import (
    Engine,
    EngineError,
    InvalidConfig,
    Issued,
    IssueRequest,
    Renewed,
    command_field,
    directory_field,
    environment_field,
)

from .commands import command_environment, parse_output, run_command
from .webhooks import WebhookClient, check_url

MAX_TIMEOUT = 600.0
HMAC_KEY = "hmac_key"  # the root credential field that signs webhook requests; never sent anywhere
MIN_HMAC_KEY = 16


# Commands and their working directory must lie in the operator's SCAIVAULT_COMMAND_DIRS, and the
# environment may not change how programs load: the core checks these marked fields (and resolves them).
@attrs.define
class Config:
    timeout: float = 30.0
    environment: dict[str, str] = environment_field(factory=dict)
    working_directory: str | None = directory_field(default=None)
    verify: list[str] | None = command_field(default=None)
    verify_url: str | None = None
    allow_http: bool = False


@attrs.define
class Role:
    create: list[str] | None = command_field(default=None)
    revoke: list[str] | None = command_field(default=None)
    renew: list[str] | None = command_field(default=None)
    create_url: str | None = None
    revoke_url: str | None = None
    renew_url: str | None = None
    pass_root_credentials: bool = False
    timeout: float | None = None


_COMMANDS = ("create", "revoke", "renew")


class CustomEngine(Engine):
    """``type: custom``: each lease is whatever the role's ``create`` step makes; ``revoke`` undoes it."""

    type = "custom"
    plugin = "custom"
    lease_prefix = "custom"
    Config = Config
    Role = Role
    username_max_length = 32  # fits most systems' user names (MySQL, Linux)
    needs_root_credentials = False  # only webhooks (hmac_key) and roles that opt in need one

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        config = self.config
        _check_timeout(config.timeout, "config.timeout")
        if config.verify_url is not None:
            check_url(config.verify_url, "config.verify_url", config.allow_http)
        self._env = command_environment(config.environment)
        self._webhooks: WebhookClient | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._webhooks is not None:
            self._webhooks.close()
            self._webhooks = None

    # -- configuration ----------------------------------------------------------------------------

    def verify(self) -> None:
        """Run ``config.verify`` / POST ``config.verify_url``; their refusal is ``invalid_config``."""
        root = self.context.root_credentials()
        if HMAC_KEY in root or self.config.verify_url:
            self._hmac_key(root, "root_credentials.hmac_key")
        document = {"operation": "verify", "engine": self.context.name}
        if root:
            document["root_credentials"] = _shareable(root)
        if self.config.verify is not None:
            run_command(
                self.config.verify,
                document,
                what="verify",
                timeout=self.config.timeout,
                env=self._env,
                cwd=self.config.working_directory,
                secrets=[root],
                failure=InvalidConfig,
            )
        if self.config.verify_url is not None:
            self._client().post(
                self.config.verify_url,
                json.dumps(document).encode(),
                key=self._hmac_key(root, "config.verify_url"),
                what="verify",
                timeout=self.config.timeout,
                lease_id=None,
                secrets=[root],
                refused=InvalidConfig,
            )

    def validate_role(self, role: Role) -> None:
        commands = [name for name in _COMMANDS if getattr(role, name) is not None]
        urls = [f"{name}_url" for name in _COMMANDS if getattr(role, f"{name}_url") is not None]
        if commands and urls:
            raise InvalidConfig(
                f"A role uses commands or webhooks, not both: it sets {', '.join(commands + urls)}.", field=urls[0]
            )
        if urls:
            for field in ("create_url", "revoke_url"):
                if getattr(role, field) is None:
                    raise InvalidConfig(f"A webhook role needs {field}.", field=field)
            for field in urls:
                check_url(getattr(role, field), field, self.config.allow_http)
            self._hmac_key(self.context.root_credentials(), "create_url")
        else:
            for field in ("create", "revoke"):
                if getattr(role, field) is None:
                    raise InvalidConfig(f"A role needs a {field} command (or {field}_url for a webhook).", field=field)
        if role.timeout is not None:
            _check_timeout(role.timeout, "timeout")
        if role.pass_root_credentials and not self.context.root_credentials():
            raise InvalidConfig(
                "pass_root_credentials needs the engine to have root_credentials_path.", field="pass_root_credentials"
            )

    def role_receives_root_credentials(self, role: Role) -> bool:
        """Its commands get the root credentials, or its webhooks get requests signed with them."""
        return role.pass_root_credentials or any(getattr(role, f"{name}_url") is not None for name in _COMMANDS)

    def _hmac_key(self, root: dict[str, Any], field: str) -> bytes:
        key = root.get(HMAC_KEY)
        if not isinstance(key, str) or len(key) < MIN_HMAC_KEY:
            raise InvalidConfig(
                f"Webhooks need the engine's root credentials to hold {HMAC_KEY!r}, a string of at "
                f"least {MIN_HMAC_KEY} characters (32 random bytes, hex, recommended).",
                field=field,
            )
        return key.encode()

    def _client(self) -> WebhookClient:
        with self._lock:
            if self._webhooks is None:
                self._webhooks = WebhookClient(self.config.timeout)
            return self._webhooks

    # -- leases -----------------------------------------------------------------------------------

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        """Revocation's commands are kept with the lease, so it stays revocable after the role changes."""
        role: Role = request.role
        return {
            "username": request.username,
            "lease_id": request.lease_id,
            "role": request.role_name,
            "metadata": dict(request.metadata),
            "revoke": role.revoke,
            "renew": role.renew,
            "revoke_url": role.revoke_url,
            "renew_url": role.renew_url,
            "pass_root_credentials": role.pass_root_credentials,
            "timeout": role.timeout,
        }

    def create(self, request: IssueRequest) -> Issued:
        role: Role = request.role
        handle = self.plan(request)
        document = self._document(
            "create",
            handle,
            expiration=request.variables["expiration"],
            ttl_seconds=request.ttl_seconds,
            password=request.password,
        )
        output = self._call("create", role.create, role.create_url, handle, document, [request.password])
        data = parse_output(output, what="create", secrets=[request.password], allow_empty=False)
        kept = data.pop("handle", None)
        if kept is not None and not isinstance(kept, dict):
            raise EngineError("The create step's 'handle' must be a JSON object.", command="create")
        username = data.get("username")
        return Issued(
            data=data,
            handle={"handle": kept or {}},
            subject=username if isinstance(username, str) and username else None,
        )

    def renew(self, handle: dict[str, Any], role: Role | None, expires_at: float) -> Renewed | None:
        """Runs ``renew`` if the lease has one; without it the lease is extended in the vault only."""
        if handle.get("renew") is None and handle.get("renew_url") is None:
            return None
        ttl = max(0, int(expires_at - self.context.clock.time()))
        document = self._document("renew", handle, expiration=self.format_expiration(expires_at), ttl_seconds=ttl)
        output = self._call("renew", handle.get("renew"), handle.get("renew_url"), handle, document, [])
        data = parse_output(output, what="renew", secrets=[], allow_empty=True)
        kept = data.pop("handle", None)
        if not data and kept is None:
            return None
        return Renewed(data=data, handle={"handle": {**handle.get("handle", {}), **(kept or {})}})

    def revoke(self, handle: dict[str, Any]) -> None:
        """Runs ``revoke``, which must succeed when the credential is already gone or was never made."""
        document = self._document("revoke", handle)
        self._call("revoke", handle.get("revoke"), handle.get("revoke_url"), handle, document, [])

    def _document(self, operation: str, handle: dict[str, Any], **fields: Any) -> dict[str, Any]:
        return {
            "operation": operation,
            "engine": self.context.name,
            "role": handle["role"],
            "lease_id": handle["lease_id"],
            "name": handle["username"],
            **fields,
            "metadata": handle.get("metadata", {}),
            "handle": handle.get("handle", {}),
        }

    def _call(
        self,
        what: str,
        argv: list[str] | None,
        url: str | None,
        handle: dict[str, Any],
        document: dict[str, Any],
        secrets: list[Any],
    ) -> bytes:
        timeout = handle.get("timeout") or self.config.timeout
        # Read once per call (each read is audited), for the signing key and for the document alike.
        root = self.context.root_credentials() if url or handle.get("pass_root_credentials") else {}
        if handle.get("pass_root_credentials"):
            document = {**document, "root_credentials": _shareable(root)}
        secrets = [*secrets, root]
        self.log.debug("custom engine %s: %s for lease %s", self.context.name, what, handle["lease_id"])
        if url is not None:
            client = self._client()
            body = json.dumps(document).encode()
            return client.post(
                url,
                body,
                key=self._hmac_key(root, f"{what}_url"),
                what=what,
                timeout=timeout,
                lease_id=handle["lease_id"],
                secrets=secrets,
                gone_ok=what == "revoke",
            )
        if argv is None:
            raise InvalidConfig(f"The lease has no {what} command.", field=what)
        # Kept in the lease since issue: the operator may have narrowed the allowed commands since.
        argv = self.context.check_command(argv, what)
        return run_command(
            argv,
            document,
            what=what,
            timeout=timeout,
            env=self._env,
            cwd=self.config.working_directory,
            secrets=secrets,
        )


def _shareable(root: dict[str, Any]) -> dict[str, Any]:
    """Root credentials as commands may see them: the webhook signing key stays in the vault."""
    return {k: v for k, v in root.items() if k != HMAC_KEY}


def _check_timeout(value: float, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise InvalidConfig(f"{field} must be a number of seconds between 0 and {MAX_TIMEOUT:g}.", field=field)
