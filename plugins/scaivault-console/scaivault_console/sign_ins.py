"""Who is signed in to the console: server-side, so the browser never holds the token.

The cookie carries only a random 256-bit id; the token it stands for stays in this process's memory,
found by the id's hash. A sign-in ends when it has been idle too long, at its lifetime, at sign-out,
or as soon as the token stops authenticating (checked at every request, by the vault).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import attrs

MAX_FLASHES = 5


@attrs.define
class Flash:
    """A message shown once, on the next page (what an action did, or why it was refused)."""

    kind: str  # "ok", "denied" or "error"
    text: str


@attrs.define
class SignIn:
    token: str = attrs.field(repr=False)
    identity: str
    csrf: str = attrs.field(repr=False)  # this sign-in's form token, in every form it is shown
    started: float
    seen: float
    flashes: list[Flash] = attrs.field(factory=list)

    def flash(self, kind: str, text: str) -> None:
        self.flashes = [*self.flashes, Flash(kind, text)][-MAX_FLASHES:]

    def take_flashes(self) -> list[Flash]:
        flashes, self.flashes = self.flashes, []
        return flashes


class SignIns:
    """The sign-ins of one console, bounded in time and in number, in all and per identity (the oldest go first)."""

    def __init__(
        self,
        *,
        idle_timeout: float,
        lifetime: float,
        limit: int = 10_000,
        per_identity: int = 20,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.idle_timeout, self.lifetime, self._clock = idle_timeout, lifetime, clock
        self.limit, self.per_identity = limit, per_identity
        self._by_hash: OrderedDict[str, SignIn] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, token: str, identity: str) -> tuple[str, SignIn]:
        """A new sign-in: (the cookie value, the record). Never reuses an id the browser sent."""
        cookie = secrets.token_urlsafe(32)
        now = self._clock()
        sign_in = SignIn(token, str(identity), secrets.token_urlsafe(32), now, now)
        with self._lock:
            # One identity's sign-ins cannot crowd out everyone else's: past its share, its oldest goes.
            own = [key for key, other in self._by_hash.items() if other.identity == sign_in.identity]
            for key in own[: max(0, len(own) - self.per_identity + 1)]:
                del self._by_hash[key]
            self._by_hash[_key(cookie)] = sign_in
            while len(self._by_hash) > self.limit:
                self._by_hash.popitem(last=False)
        return cookie, sign_in

    def get(self, cookie: str | None) -> SignIn | None:
        """The live sign-in for a cookie value, if any; using it keeps it from going idle."""
        if not cookie or len(cookie) > 128:
            return None
        key, now = _key(cookie), self._clock()
        with self._lock:
            sign_in = self._by_hash.get(key)
            if sign_in is None:
                return None
            if now - sign_in.seen > self.idle_timeout or now - sign_in.started > self.lifetime:
                del self._by_hash[key]
                return None
            sign_in.seen = now
            return sign_in

    def end(self, cookie: str | None) -> None:
        if cookie:
            with self._lock:
                self._by_hash.pop(_key(cookie), None)

    def __len__(self) -> int:
        return len(self._by_hash)


def _key(cookie: str) -> str:
    # Looked up by hash: the table never holds the cookie value itself.
    return hashlib.sha256(cookie.encode()).hexdigest()


class SignInForms:
    """CSRF tokens for the sign-in form, which no sign-in exists for yet.

    The page sets a random pre-sign-in cookie and puts an HMAC of it (under a key only this process
    knows) in the form; a forged form can neither read the cookie nor compute the HMAC.
    """

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(32)

    def token_for(self, cookie: str) -> str:
        return hmac.new(self._key, cookie.encode(), hashlib.sha256).hexdigest()

    def check(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token or len(cookie) > 128:
            return False
        return hmac.compare_digest(self.token_for(cookie), token)


def same_token(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a sign-in's CSRF token with the one a form sent."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())
