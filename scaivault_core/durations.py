"""Durations as the guide writes them: ``"30m"``, ``"2h"``, ``"1h30m"``, ``"0"``, or seconds."""

from __future__ import annotations

import math
import re
from typing import NewType, overload

from .errors import InvalidRequest

# A duration as a caller writes it, "1h" or whole seconds, before parse_duration reads it: the type
# of request fields such as ``ttl``. The converter takes a string or a whole number for it.
Duration = NewType("Duration", object)

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
# [0-9], not \d or str.isdigit(): those also take "٣" or "５", which int() reads as numbers.
_SECONDS = re.compile(r"[0-9]+")
_PART = re.compile(r"([0-9]+)([dhms])")
_WHOLE = re.compile(r"(?:[0-9]+[dhms])+")
MAX_LENGTH = 32  # characters: far more than any real duration, few enough that int() costs nothing
# Far beyond any sane TTL, small enough that datetime arithmetic never overflows.
MAX_SECONDS = 100 * 365 * 86400


@overload
def parse_duration(value: None, field: str = "ttl") -> None: ...
@overload
def parse_duration(value: str | int | float, field: str = "ttl") -> int: ...


def parse_duration(value: str | int | float | None, field: str = "ttl") -> int | None:
    """Seconds in ``value``; None stays None; anything malformed is ``invalid_request`` naming ``field``.

    A string is ASCII digits with optional units and at most ``MAX_LENGTH`` characters.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a duration such as '1h' or '30m'.", field=field)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or int(value) != value:
            raise InvalidRequest(f"{field} must be a whole number of seconds.", field=field)
        seconds = int(value)
    elif isinstance(value, str):
        if len(value) > MAX_LENGTH:
            raise InvalidRequest(
                f"{field} is longer than {MAX_LENGTH} characters; write it as '1h', '30m' or a number of seconds.",
                field=field,
            )
        text = value.strip().lower() if value.isascii() else ""
        if _SECONDS.fullmatch(text):
            seconds = int(text)
        elif _WHOLE.fullmatch(text):
            seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            raise InvalidRequest(
                f"{field} must be a duration such as '1h', '30m', '1h30m' or a number of seconds.",
                field=field,
            )
    else:
        raise InvalidRequest(f"{field} must be a duration string or seconds.", field=field)
    if seconds < 0 or seconds > MAX_SECONDS:
        raise InvalidRequest(f"{field} is out of range.", field=field)
    return seconds


def format_duration(seconds: int) -> str:
    """The compact form the guide prints: 7200 -> ``"2h"``, 5400 -> ``"1h30m"``, 0 -> ``"0"``."""
    if seconds <= 0:
        return "0"
    parts = []
    for unit in ("h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
