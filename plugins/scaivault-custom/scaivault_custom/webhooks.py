"""The webhook form: the same JSON document POSTed to an operator's service, signed with HMAC-SHA256.

Signature header (the same scheme as Stripe's, so receivers know it)::

    X-ScaiVault-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>." + body)>

The receiver recomputes the HMAC over the raw body, compares in constant time, and refuses a
timestamp more than five minutes from its own clock (replays). ``verify_signature`` does exactly
that for receivers written in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig, redact
from scaivault_core.kits.service_urls import check_service_url

SIGNATURE_HEADER = "X-ScaiVault-Signature"
OPERATION_HEADER = "X-ScaiVault-Operation"
LEASE_HEADER = "X-ScaiVault-Lease"
TOLERANCE = 300  # seconds a receiver should accept between the signature's time and its own
BODY_IN_MESSAGE = 500
_UNAVAILABLE = {502, 503, 504}  # the service's gateway or the service itself is down: retry later


def sign(key: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The signature header's value for ``body``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    key: bytes, header: str | None, body: bytes, *, now: float | None = None, tolerance: int = TOLERANCE
) -> bool:
    """For receivers: whether ``header`` signs ``body`` with ``key`` within ``tolerance`` seconds of ``now``.

    ``key`` is the engine's ``hmac_key`` string as bytes (``root["hmac_key"].encode()``), ``header`` the
    request's ``X-ScaiVault-Signature`` value (``t=<unix time>,v1=<hex HMAC-SHA256>``), ``body`` the raw
    request body as received, before any JSON parsing. Returns True only for a valid, fresh
    signature; False for a missing, malformed, stale or wrong one (never raises for bad input).
    """
    if not header:
        return False
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(key, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, fields.get("v1", ""))


def check_url(url: str, field: str, allow_http: bool) -> None:
    """An absolute https URL (plain http only to a loopback host, or with ``allow_http``)."""
    check_service_url(url, field, allow_http=allow_http, allow_http_setting="allow_http")


def describe(url: str) -> str:
    """A URL as error messages show it: no query string or user info, which may carry tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"


class WebhookClient:
    """One pooled HTTP client per engine; each call is one signed POST with a timeout."""

    def __init__(self, timeout: float) -> None:
        import httpx  # imported at first use: start-up loads every installed plugin

        self._client = httpx.Client(
            timeout=timeout, follow_redirects=False, trust_env=False, headers={"User-Agent": "scaivault-custom"}
        )

    def close(self) -> None:
        self._client.close()

    def post(
        self,
        url: str,
        body: bytes,
        *,
        key: bytes,
        what: str,
        timeout: float,
        lease_id: str | None,
        secrets: Iterable[Any],
        refused: type[Exception] = EngineError,
        gone_ok: bool = False,
    ) -> bytes:
        """POST ``body``; the response body on 2xx, else the core's error for what the service answered."""
        import httpx

        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(key, body), OPERATION_HEADER: what}
        if lease_id:
            headers[LEASE_HEADER] = lease_id
            headers["Idempotency-Key"] = f"{lease_id}:{what}"
        label = f"The {what} webhook ({describe(url)})"
        try:
            response = self._client.post(url, content=body, headers=headers, timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:  # never reached the service
            raise EngineUnreachable(f"{label} cannot be reached: {type(exc).__name__}.", command=what) from None
        except httpx.TimeoutException:
            # Sent, and no answer: the service may still act on it, after the core has undone the issue.
            raise EngineUnreachable(
                f"{label} did not answer within {timeout:g}s.", command=what, may_still_apply=True
            ) from None
        except httpx.TransportError as exc:
            raise EngineUnreachable(
                f"{label} cannot be reached: {type(exc).__name__}.", command=what, may_still_apply=True
            ) from None
        status = response.status_code
        if 200 <= status < 300 or (gone_ok and status == 410):
            return response.content
        text = redact(response.text.strip()[:BODY_IN_MESSAGE], list(secrets)) or "(empty body)"
        if status in (401, 403):
            raise InvalidConfig(
                f"{label} refused the request (HTTP {status}): check that hmac_key in the engine's "
                f"root credentials matches the service's. It said: {text}",
                command=what,
            )
        if status in _UNAVAILABLE:
            raise EngineUnreachable(f"{label} is unavailable (HTTP {status}): {text}", command=what)
        raise refused(f"{label} answered HTTP {status}: {text}", command=what, status=status)
