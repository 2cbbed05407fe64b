"""Stored secrets: versioned, encrypted at rest, addressed by '/'-separated paths."""

from __future__ import annotations

import json
import re
from typing import Any

from .audit import Auditor
from .auth import Authorizer
from .crypto import Keyring
from .errors import InvalidRequest, NotFound
from .models import SecretVersion
from .observers import tell
from .store import Store

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._@=+-]{0,127}")
RESERVED_PREFIXES = ("dynamic", "sys")  # synthetic policy paths; a secret there would alias them
MAX_SECRET_BYTES = 64 * 1024
SECRET_TYPES = ("json", "text")


def check_path(path: str) -> str:
    """A secret path: segments of safe characters, no '.' or '..' segments, not under a reserved prefix."""
    if not isinstance(path, str) or not 0 < len(path) <= 512:
        raise InvalidRequest("A secret path is 1-512 characters.", field="path")
    segments = path.split("/")
    if not all(_SEGMENT.fullmatch(s) for s in segments):
        raise InvalidRequest(
            "A secret path is '/'-separated segments of letters, digits and . _ - @ = +, "
            "none empty or starting with '.'.",
            field="path",
        )
    if segments[0] in RESERVED_PREFIXES:
        raise InvalidRequest(
            f"Secret paths may not start with {segments[0]!r}/: that namespace is reserved.", field="path"
        )
    return path


class SecretStore:
    def __init__(self, store: Store, keyring: Keyring, authorizer: Authorizer, auditor: Auditor, clock: Any) -> None:
        self._store, self._keyring, self._auth, self._audit, self._clock = store, keyring, authorizer, auditor, clock

    def put(
        self,
        identity: str,
        path: str,
        data: Any,
        secret_type: str = "json",
        *,
        reason: str | None = None,
        permission: str | None = None,
    ) -> SecretVersion:
        """Write a new version (``create`` permission for a new path, ``update`` for an existing one)."""
        check_path(path)
        if secret_type not in SECRET_TYPES:
            raise InvalidRequest(f"secret_type must be one of {', '.join(SECRET_TYPES)}.", field="secret_type")
        if secret_type == "json" and not isinstance(data, dict):
            raise InvalidRequest("data must be a JSON object for secret_type 'json'.", field="data")
        if secret_type == "text" and not isinstance(data, str):
            raise InvalidRequest("data must be a string for secret_type 'text'.", field="data")
        if len(json.dumps(data)) > MAX_SECRET_BYTES:
            raise InvalidRequest(f"A secret holds at most {MAX_SECRET_BYTES} bytes.", field="data")
        if permission is None and not (
            self._auth.can(identity, path, "create") or self._auth.can(identity, path, "update")
        ):
            # Before looking: which of the two is missing would tell whether the secret exists.
            self._auth.refuse(
                identity,
                path,
                "update",
                f"{identity} has no policy granting 'create' or 'update' on {path!r}; bind one with that grant.",
            )
        exists = self._store.get_secret_version(path) is not None
        self._auth.require(identity, path, permission or ("update" if exists else "create"))
        return self.write(identity, path, data, secret_type, reason=reason)

    def write(
        self, identity: str, path: str, data: Any, secret_type: str = "json", *, reason: str | None = None
    ) -> SecretVersion:
        """Write a new version without a permission check (the caller has made its own)."""
        version = SecretVersion(path, 0, data, secret_type, self._clock.time(), identity, reason)
        version.version = self._store.add_secret_version(version, self._keyring.encrypt_json(data, f"secret:{path}"))
        self._audit.record(identity, "secret.write", path, version=version.version, secrets={"data": data})
        tell("secret", data)
        tell("shown", version)
        return version

    def get(self, identity: str, path: str, version: int | None = None, *, audit: bool = True) -> SecretVersion:
        """The newest version (or ``version``); retired versions have no data left to return."""
        check_path(path)
        self._auth.require(identity, path, "read")
        return self.read(path, version, identity=identity if audit else None)

    def read(self, path: str, version: int | None = None, *, identity: str | None = None) -> SecretVersion:
        """Read without a permission check (the caller has made its own)."""
        found = self._store.get_secret_version(path, version)
        if found is None:
            raise NotFound(f"No secret at {path!r}" + (f" version {version}" if version else "") + ".", path=path)
        record, sealed = found
        if sealed is None:
            raise NotFound(f"Version {record.version} of {path!r} was retired; its value is destroyed.", path=path)
        record.data = self._keyring.decrypt_json(sealed, f"secret:{path}")
        if identity is not None:
            self._audit.record(identity, "secret.read", path, version=record.version)
        return record

    def versions(self, identity: str, path: str) -> list[SecretVersion]:
        check_path(path)
        self._auth.require(identity, path, "read")
        versions = self._store.list_secret_versions(path)
        if not versions:
            raise NotFound(f"No secret at {path!r}.", path=path)
        return versions

    def delete(self, identity: str, path: str) -> None:
        check_path(path)
        self._auth.require(identity, path, "delete")
        if not self._store.delete_secret(path):
            raise NotFound(f"No secret at {path!r}.", path=path)
        self._audit.record(identity, "secret.delete", path)
