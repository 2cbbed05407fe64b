"""Keeping secret values out of messages: ``redact`` masks every known secret in any form it is written.

Drivers sometimes quote a statement back in an error (MySQL's "near '...'" does), so any message
that leaves an engine (``engine_calls``) has known secret values replaced before a user, a log or
the audit sees it, also where the target wrote them differently (URL-encoded, escaped,
case-folded, base64, hex).
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words

_known: set[str] = set()  # root credential values seen by this process
_known_lock = threading.Lock()


# Fields of root credentials that identify rather than authenticate: masking them would only
# make error messages unreadable ("app-runtime@***.iam...").
PUBLIC_FIELDS = frozenset(
    {
        "username",
        "user",
        "type",
        "client_id",
        "client_email",
        "project_id",
        "tenant_id",
        "access_key_id",
        "private_key_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
        "universe_domain",
        "region",
        "host",
        "port",
        "database",
    }
)


def remember_secrets(values: Iterable[Any]) -> None:
    """Mask these values in every later engine error (root credentials, for the process's life)."""
    with _known_lock:
        _known.update(v for v in _secret_fields(values) if len(v) >= _MIN_LENGTH)


def _secret_fields(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, dict):
            for key, item in value.items():
                if str(key).lower() not in PUBLIC_FIELDS:
                    yield from _secret_fields([item])
        elif isinstance(value, (list, tuple)):
            yield from _secret_fields(value)
        elif isinstance(value, str):
            yield value


def _flatten(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, dict):
            yield from _flatten(value.values())
        elif isinstance(value, (list, tuple)):
            yield from _flatten(value)
        elif isinstance(value, str):
            yield value


def redact(text: str, secrets: Iterable[Any] = ()) -> str:
    """``text`` with every known secret (and each of ``secrets``), in any form it is commonly written
    (URL-encoded, JSON- or SQL-escaped, base64, hex, any letter case), replaced by ``***``."""
    with _known_lock:
        candidates = set(_known)
    candidates.update(v for v in _flatten(secrets) if len(v) >= _MIN_LENGTH)
    forms = {form for value in candidates for form in _written_forms(value) if len(form) >= _MIN_LENGTH}
    if not forms:
        return text
    # One pass, longest first, case-insensitively: a target may fold case (a host name, an identifier).
    pattern = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.IGNORECASE)
    return pattern.sub(MASK, text)


@functools.lru_cache(maxsize=1024)
def _written_forms(value: str) -> frozenset[str]:
    """The ways a target or a driver may write ``value`` back in an error message."""
    raw = value.encode("utf-8", "surrogatepass")
    forms = {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote_plus(value, safe=""),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        value.replace("'", "''"),
        value.replace('"', '""'),  # SQL literals and identifiers
        value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"'),  # backslash-escaped
        repr(value)[1:-1],
        html.escape(value),
        raw.hex(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    return frozenset(forms)


def redact_details(details: Any, secrets: Iterable[Any] = ()) -> Any:
    """``details`` (an error's: strings, lists, dicts) with ``redact`` applied to every string in it."""
    if isinstance(details, str):
        return redact(details, secrets)
    if isinstance(details, dict):
        return {k: redact_details(v, secrets) for k, v in details.items()}
    if isinstance(details, list):
        return [redact_details(v, secrets) for v in details]
    return details
