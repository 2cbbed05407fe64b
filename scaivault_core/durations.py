"""Durations as the guide writes them: ``"30m"``, ``"2h"``, ``"1h30m"``, ``"0"``, or seconds."""

from __future__ import annotations

import re

from .errors import InvalidRequest

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)([dhms])")
_WHOLE = re.compile(r"(?:\d+[dhms])+")
# Far beyond any sane TTL, small enough that datetime arithmetic never overflows.
MAX_SECONDS = 100 * 365 * 86400


def parse_duration(value: str | int | float | None, field: str = "ttl") -> int | None:
    """Seconds in ``value``; None stays None; anything malformed is ``invalid_request`` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a duration such as '1h' or '30m'.", field=field)
    if isinstance(value, (int, float)):
        seconds = int(value)
        if seconds != value:
            raise InvalidRequest(f"{field} must be a whole number of seconds.", field=field)
    elif isinstance(value, str):
        text = value.strip().lower()
        if text.isdigit():
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
