"""Who is calling and what they may do: bearer tokens, identities, policy checks.

A token minted by anyone but a holder of the ``root`` policy carries *ceilings*: the identities
that minted it (and their own tokens' ceilings). Such a token can do only what its identity AND
every ceiling identity may, so a token desk cannot mint its way past its own grants. The caller a
token authenticates is a ``Caller``: a plain ``str`` (the identity) everywhere the code passes
identities around, lease records and audit entries included, that also carries those ceilings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from .errors import PermissionDenied, Unauthenticated
from .models import Rule, Token
from .path_patterns import Budget, covers
from .policies import ROOT_POLICY, Explanation, allowed, check_concrete_path, check_identity, check_permission, verdict
from .store import Store

TOKEN_PREFIX = "svt."
log = logging.getLogger("scaivault.auth")


def hash_token(token: str) -> str:
    # Tokens are 256-bit random, so a plain SHA-256 cannot be brute-forced; it is an index key.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh (token, accessor): the token is shown once, the accessor names it afterwards."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32), "acc_" + secrets.token_hex(8)


class Caller(str):
    """An identity as a token presents it: the identity string, plus ``ceilings`` (identities that
    must allow everything it does) and the ``token`` record it came with."""

    ceilings: tuple[str, ...]
    token: Token | None

    def __new__(cls, identity: str, ceilings: Iterable[str] = (), token: Token | None = None) -> Caller:
        caller = super().__new__(cls, identity)
        caller.ceilings = tuple(c for c in dict.fromkeys(ceilings) if c != identity)
        caller.token = token
        return caller


def principals(identity: str) -> tuple[str, ...]:
    """Every identity that must allow what ``identity`` does: itself, then its token's ceilings."""
    return (str(identity), *getattr(identity, "ceilings", ()))


class Authorizer:
    """Deny by default. ``on_denied(identity, path, permission)`` hears of every refusal (for the audit log)."""

    def __init__(self, store: Store, clock: Any, on_denied: Callable[[str, str, str], None] | None = None) -> None:
        self._store, self._clock, self._on_denied = store, clock, on_denied

    def _granted(self, principal: str, path: str, permission: str) -> bool:
        return any(allowed(p.rules, path, permission) for p in self._store.policies_for(principal))

    def can(self, identity: str, path: str, permission: str, *, owner: str | None = None) -> bool:
        """Some policy bound to ``identity`` (and to each of its ceilings) grants ``permission`` on ``path``;
        ``owner``, where given, is an identity that needs no grant (the one that issued a lease)."""
        return all(p == owner or self._granted(p, path, permission) for p in principals(identity))

    def require(self, identity: str, path: str, permission: str) -> None:
        for principal in principals(identity):
            if not self._granted(principal, path, permission):
                self.refuse(
                    identity,
                    path,
                    permission,
                    _lacks(identity, principal, f"{permission!r} on {path!r}") + "; bind one with that grant.",
                )

    def holds_root(self, identity: str) -> bool:
        """Is the ``root`` policy bound to this (plain) identity?"""
        return any(p.name == ROOT_POLICY for p in self._store.policies_for(identity))

    def holds(self, identity: str, pattern: str, permission: str, budget: Budget | None = None) -> bool:
        """Does ``identity`` (with its ceilings) hold ``permission`` on every path ``pattern`` matches?"""
        return all(covers(self._patterns(p, permission), pattern, budget) for p in principals(identity))

    def require_holds(self, identity: str, rules: Iterable[Rule], what: str) -> None:
        """Refuse ``what`` (e.g. "grant policy 'x'") unless ``identity`` holds every permission ``rules`` grant."""
        budget = Budget()
        for principal in principals(identity):
            for rule in rules:
                for permission in rule.permissions:
                    if not covers(self._patterns(principal, permission), rule.path_pattern, budget):
                        self.refuse(
                            identity,
                            rule.path_pattern,
                            permission,
                            _lacks(identity, principal, f"{permission!r} on all of {rule.path_pattern!r}")
                            + f", so it may not {what}: nobody hands out more than they hold.",
                        )

    def explain(self, caller: str, identity: str, permission: str, path: str) -> Explanation:
        """Why ``identity`` may or may not do ``permission`` on ``path``, rule by rule, for it and each ceiling.

        Anyone may ask about their own access, as their token has it (its ceilings counted). The answer
        about another identity quotes the policies bound to it, so asking needs ``read`` on every policy.
        """
        check_permission(permission)
        check_concrete_path(path)
        if identity == str(caller):
            subject: str = caller  # keeps the token's ceilings: its own access is what the token may do
        else:
            check_identity(identity)
            for principal in principals(caller):
                if not covers(self._patterns(principal, "read"), "sys/policies/*"):
                    self.refuse(
                        caller,
                        "sys/policies/*",
                        "read",
                        _lacks(caller, principal, "'read' on every policy (sys/policies/*)")
                        + f", so it may explain only its own access, not {identity}'s: the answer quotes "
                        "the policies bound to it.",
                    )
            subject = identity
        verdicts = [
            verdict(p, self._store.policies_for(p), path, permission, ceiling=i > 0)
            for i, p in enumerate(principals(subject))
        ]
        return Explanation(str(subject), permission, path, all(v.allowed for v in verdicts), verdicts)

    def _patterns(self, principal: str, permission: str) -> list[str]:
        return [
            r.path_pattern for p in self._store.policies_for(principal) for r in p.rules if permission in r.permissions
        ]

    def refuse(self, identity: str, path: str, permission: str, message: str) -> None:
        """Report the refusal, then raise ``permission_denied`` with ``message``."""
        self.denied(identity, path, permission)
        raise PermissionDenied(message, identity=str(identity), path=path, permission=permission)

    def denied(self, identity: str, path: str, permission: str) -> None:
        """Tell ``on_denied`` of a refusal (also of one answered as "not found")."""
        if self._on_denied is None:
            return
        try:
            self._on_denied(identity, path, permission)
        except Exception:
            # A failing sink must not change the answer: an error here only for objects that exist
            # would tell a denied caller what "not found" hides.
            log.exception("the on_denied hook failed")

    def authenticate(self, token: str | None) -> Caller:
        """The caller a token stands for, if it is known, unrevoked and unexpired."""
        if not token:
            self._unauthenticated(None)
        record = self._store.token_by_hash(hash_token(token))
        # The lookup is by hash, so timing reveals nothing of the token; compare anyway, in constant time.
        if record is None or not hmac.compare_digest(record.token_hash, hash_token(token)):
            self._unauthenticated("The token is not valid.")
        if not self._usable(record):
            self._unauthenticated("The token has expired or was revoked.")
        return Caller(record.identity, record.ceilings, record)

    def authenticate_remembered(self, token: str | None) -> Caller | None:
        """``authenticate`` answered at once from what the store remembers, for a valid token only: None
        when that would need a query or a wait, and for every refusal (which ``authenticate`` then makes,
        with its audit entry). It never blocks, so the REST server calls it on its event loop."""
        if not token:
            return None
        digest = hash_token(token)
        record = self._store.token_if_remembered(digest)
        if record is None or not hmac.compare_digest(record.token_hash, digest) or not self._usable(record):
            return None
        return Caller(record.identity, record.ceilings, record)

    def _usable(self, record: Token) -> bool:
        return not record.revoked and (record.expires_at is None or record.expires_at > self._clock.time())

    def _unauthenticated(self, message: str | None) -> NoReturn:
        self.denied("anonymous", "sys/auth", "authenticate")
        raise Unauthenticated(message)


def _lacks(identity: str, principal: str, grant: str) -> str:
    if principal == identity:
        return f"{identity} has no policy granting {grant}"
    return (
        f"this token of {identity} may do only what {principal} (who minted it) may, "
        f"and {principal} has no policy granting {grant}"
    )
