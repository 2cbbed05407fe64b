"""Who is calling and what they may do: bearer tokens, identities, policy checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from .errors import PermissionDenied, Unauthenticated
from .models import Token
from .policies import allowed
from .store import Store

TOKEN_PREFIX = "svt."


def hash_token(token: str) -> str:
    # Tokens are 256-bit random, so a plain SHA-256 cannot be brute-forced; it is an index key.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (token, accessor): the token is shown once, the accessor names it afterwards."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32), "acc_" + secrets.token_hex(8)


class Authorizer:
    def __init__(self, store: Store, clock: Any) -> None:
        self._store, self._clock = store, clock

    def can(self, identity: str, path: str, permission: str) -> bool:
        """Deny by default: some policy bound to ``identity`` must grant ``permission`` on ``path``."""
        return any(allowed(p.rules, path, permission) for p in self._store.policies_for(identity))

    def require(self, identity: str, path: str, permission: str) -> None:
        if not self.can(identity, path, permission):
            raise PermissionDenied(
                f"{identity} has no policy granting {permission!r} on {path!r}; bind one with that grant.",
                identity=identity, path=path, permission=permission,
            )

    def authenticate(self, token: str | None) -> Token:
        """The token's record, if it is known, unrevoked and unexpired."""
        if not token:
            raise Unauthenticated()
        record = self._store.token_by_hash(hash_token(token))
        # The lookup is by hash, so timing reveals nothing of the token; compare anyway, in constant time.
        if record is None or not hmac.compare_digest(record.token_hash, hash_token(token)):
            raise Unauthenticated("The token is not valid.")
        if record.revoked or (record.expires_at is not None and record.expires_at <= self._clock.time()):
            raise Unauthenticated("The token has expired or was revoked.")
        return record
