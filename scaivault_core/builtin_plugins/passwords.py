"""Default password generation: long, mixed classes, from an alphabet that needs no quoting."""

from __future__ import annotations

import string

from ..hookspecs import hookimpl
from ..randomness import random_string

# No quotes, backslash, '%', '$', '{', '}', '@', ':', '/' or whitespace: safe inside single-quoted
# SQL, Redis ACL rules, shell arguments and (after URL-encoding, which we do anyway) DSNs.
SYMBOLS = "-_.~!*+=^"
ALPHABET = string.ascii_letters + string.digits + SYMBOLS
LENGTH = 24


def random_password(length: int = LENGTH) -> str:
    """A password with at least one lowercase, uppercase, digit and symbol."""
    classes = (string.ascii_lowercase, string.ascii_uppercase, string.digits, SYMBOLS)
    while True:
        candidate = random_string(ALPHABET, length)
        if all(any(c in cls for c in candidate) for cls in classes):
            return candidate


@hookimpl(trylast=True)
def generate_password(engine_type: str, plugin: str, role: str) -> str:
    return random_password()
