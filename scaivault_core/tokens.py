"""Minting bearer tokens: the operator's TTLs, the minter's ceiling, and a child that never outlives its parent.

Nobody hands out more than they hold: a token minted by an identity that does not hold the
``root`` policy is bounded by that identity (its *ceiling*), and by the ceilings of the token the
minter used, so ``create`` on ``sys/tokens`` mints only tokens that can do what their minter can.
The token the minter used becomes the new token's ``parent``: revoking it revokes the new one, and
the new one expires no later.
"""

from __future__ import annotations

from typing import Any

from .auth import Authorizer, hash_token, new_token, principals
from .durations import format_duration, parse_duration
from .errors import InvalidRequest, TTLExceedsMax, Unauthenticated
from .models import Token
from .observers import tell
from .policies import check_identity
from .settings import Settings
from .store import Store


def mint(
    store: Store,
    authorizer: Authorizer,
    clock: Any,
    settings: Settings,
    minter: str,
    identity: str,
    ttl: Any = None,
    display_name: str = "",
    *,
    forever: bool = False,
) -> tuple[str, Token]:
    """A new (token, record) for ``identity``, made by ``minter`` (a ``Caller`` when it used a token).

    ``forever`` is for the operator's first admin token only (``Vault.create_admin_token``): it
    does not expire and is not held to the operator's maximum TTL.
    """
    check_identity(identity)
    if identity.startswith("dynamic:"):
        raise InvalidRequest(
            f"{identity} is an engine's own identity: it reads its root credential inside the vault and never "
            "gets a token. Mint one for an sa: or user: identity.",
            field="identity",
        )
    now = clock.time()
    expires_at = None if forever else now + _ttl(settings, ttl)
    parent: Token | None = getattr(minter, "token", None)
    if parent is not None and parent.expires_at is not None:  # a child never outlives its parent
        expires_at = parent.expires_at if expires_at is None else min(expires_at, parent.expires_at)
    ceilings = [p for p in principals(minter) if p != identity and not authorizer.holds_root(p)]
    token, accessor = new_token()
    tell("secret", {"token": token})
    record = Token(
        accessor,
        identity,
        hash_token(token),
        now,
        expires_at,
        False,
        display_name,
        parent.accessor if parent else None,
        ceilings,
    )
    store.insert_token(record)
    if parent is not None:
        current = store.token_by_hash(parent.token_hash)
        if current is None or current.revoked:
            # The parent was revoked while this one was being minted, after its descendants were.
            store.revoke_token(accessor)
            raise Unauthenticated("The token has expired or was revoked.")
    return token, record


def _ttl(settings: Settings, requested: Any) -> int:
    seconds = parse_duration(requested, "ttl") or settings.token_default_ttl  # "0" or absent: the default
    if seconds > settings.token_max_ttl:
        raise TTLExceedsMax(
            f"ttl {format_duration(seconds)} is above the longest a token may live here "
            f"({format_duration(settings.token_max_ttl)}, the operator's SCAIVAULT_TOKEN_MAX_TTL); "
            "ask for at most that.",
            ttl=format_duration(seconds),
            max_ttl=format_duration(settings.token_max_ttl),
        )
    return seconds


def renewal_limit(store: Store, settings: Settings, token: Token) -> float | None:
    """The latest a token may be renewed to: its creation + the operator's maximum, and never past its parent.

    ``None`` for a token that does not expire (nothing to renew).
    """
    if token.expires_at is None:
        return None
    limit = token.created_at + settings.token_max_ttl
    if token.parent is not None:
        parent = store.token_by_accessor(token.parent)
        if parent is None or parent.revoked:
            raise Unauthenticated("The token has expired or was revoked.")
        if parent.expires_at is not None:  # a parent's expiry is within its own parent's, so one level suffices
            limit = min(limit, parent.expires_at)
    return limit


def renew(
    store: Store, clock: Any, settings: Settings, token: Token | None, increment: Any = None
) -> tuple[Token, bool]:
    """Renew ``token`` by its holder (Vault's ``renew-self``): ``increment`` (default: the operator's default TTL)
    counted from now, capped at ``renewal_limit``. Returns the renewed record and whether the cap applied."""
    if token is None:
        raise InvalidRequest("Only a caller that authenticated with a token can renew it.")
    limit = renewal_limit(store, settings, token)
    if limit is None:
        raise InvalidRequest("This token does not expire, so there is nothing to renew.")
    wanted = clock.time() + (parse_duration(increment, "increment") or settings.token_default_ttl)
    expires_at = min(wanted, limit)
    if not store.set_token_expiry(token.accessor, expires_at):
        raise Unauthenticated("The token has expired or was revoked.")
    return Token(
        token.accessor,
        token.identity,
        token.token_hash,
        token.created_at,
        expires_at,
        False,
        token.display_name,
        token.parent,
        list(token.ceilings),
    ), wanted > limit
