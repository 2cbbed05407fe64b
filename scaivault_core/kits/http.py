"""An HTTPS client for engines whose target is a REST API: TLS trust, bounded retries, error mapping,
and the root token that authorises each call (``RootBearer``).

Cloud APIs answer throttling with 429 and a ``Retry-After`` header and transient faults with 5xx.
429 and 503 mean the request was turned away before it did anything, so every request is
retried on them. 500/502/504 and a connection lost after sending may hide a request that took
effect, so only requests the caller marks ``idempotent`` are retried on those; a POST that
creates something is not, and its error reaches the core, which undoes the planned lease.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs
import httpx

from ..errors import EngineError, EngineUnreachable, InvalidConfig

RETRY_ALWAYS = frozenset({429, 503})
RETRY_IF_IDEMPOTENT = frozenset({500, 502, 504})


@attrs.frozen
class RetryPolicy:
    """How hard one call tries: attempts, backoff, and a ceiling on the whole call's waiting."""

    max_retries: int = 4
    base_delay: float = 0.5  # doubled per retry, with jitter
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After is not waited out; the call fails instead
    deadline: float = 60.0  # total seconds one call may spend waiting between attempts

    def backoff(self, retry: int) -> float:
        """Seconds before retry number ``retry`` (0-based) when the server gave no Retry-After."""
        return min(self.base_delay * 2**retry, self.max_delay) * random.uniform(0.5, 1.0)


def tls_context(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What httpx verifies servers with: a private CA bundle if configured, else the system's."""
    if not ca_bundle:
        return True
    path = Path(ca_bundle)
    if not path.is_file():
        raise InvalidConfig(f"config.ca_bundle {ca_bundle!r} is not a readable file.", field="config.ca_bundle")
    try:
        return ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError) as exc:
        raise InvalidConfig(f"config.ca_bundle could not be loaded: {exc}.", field="config.ca_bundle") from None


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ApiClient:
    """A pooled httpx client shared by every call of one engine (thread-safe)."""

    def __init__(
        self,
        *,
        ca_bundle: str | None,
        timeout: float,
        retry: RetryPolicy,
        sleep: Callable[[float], None] = time.sleep,
        logger: str = "scaivault.http",
    ) -> None:
        self._http = httpx.Client(verify=tls_context(ca_bundle), timeout=timeout, follow_redirects=False)
        self._log = logging.getLogger(logger)
        self.retry = retry
        self._sleep = sleep
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        self._http.close()

    def send(
        self,
        method: str,
        url: str,
        *,
        service: str,
        idempotent: bool,
        final: Callable[[httpx.Response], bool] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request, retrying what is safe to retry; the last response is returned as is.

        ``final(response)`` true means "do not retry this one" (a 429 that is a hard limit).
        Raises ``EngineUnreachable`` when no response could be had at all.
        """
        waited, retry = 0.0, 0
        while True:
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                # A refused or failed connection never reached the server; anything later might have.
                safe = idempotent or isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                delay = self.retry.backoff(retry)
                if (
                    not safe
                    or retry >= self.retry.max_retries
                    or waited + delay > self.retry.deadline
                    or self._closed.is_set()
                ):
                    raise EngineUnreachable(
                        f"Cannot reach {service} at {urlsplit(url).netloc}: {type(exc).__name__}"
                        f"{': ' + str(exc) if str(exc) else ''}.",
                        service=service,
                    ) from None
                self._log.info("%s %s: %s, retrying in %.1fs", method, service, type(exc).__name__, delay)
            else:
                status = response.status_code
                if (
                    status not in RETRY_ALWAYS
                    and not (idempotent and status in RETRY_IF_IDEMPOTENT)
                    or final is not None
                    and final(response)
                ):
                    return response
                hinted = retry_after(response)
                delay = self.retry.backoff(retry) if hinted is None else hinted
                if (
                    retry >= self.retry.max_retries
                    or hinted is not None
                    and hinted > self.retry.max_retry_after
                    or waited + delay > self.retry.deadline
                    or self._closed.is_set()
                ):
                    return response
                self._log.info("%s %s answered %d, retrying in %.1fs", method, service, status, delay)
            self._sleep(delay)
            waited += delay
            retry += 1


def error_parts(response: httpx.Response) -> tuple[str, str]:
    """(code, message) from an API's error body; never the request body.

    Google (https://cloud.google.com/apis/design/errors#http_mapping) answers ``{"error": {code,
    message, status}}``, Graph and ARM ``{"error": {code, message}}``, OAuth 2.0 token endpoints
    ``{"error", "error_description"}`` (the identity platform's spans lines; the first one says it).
    """
    try:
        body = response.json()
    except ValueError:
        return str(response.status_code), response.reason_phrase or "no error body"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("status") or error.get("code") or response.status_code), str(
            error.get("message") or ""
        ).strip()
    if isinstance(error, str):
        description = str(body.get("error_description") or "")
        return error, description.splitlines()[0].strip() if description else ""
    return str(response.status_code), response.reason_phrase or ""


def response_error(response: httpx.Response, service: str, action: str) -> Exception:
    """The core's error for a response that was not a success."""
    code, message = error_parts(response)
    text = f"{code}: {message}" if message else code
    if response.status_code in RETRY_ALWAYS or response.status_code >= 500:
        return EngineUnreachable(
            f"{service} answered {response.status_code} ({text}) to {action}; try again later.",
            service=service,
            api_status=response.status_code,
            api_code=code,
        )
    return EngineError(
        f"{service} refused to {action}: {response.status_code} {text}",
        service=service,
        api_status=response.status_code,
        api_code=code,
    )


class RootBearer(httpx.Auth):
    """Bearer auth with the engine's root token: the cached one, and after a 401 once more with a fresh one.

    ``token(fresh)`` returns the token, a new one when ``fresh``. A cached token may have been
    revoked or have expired early behind the engine's back, so one retry with a new token tells a
    stale token from refused credentials; a second 401 is ``InvalidConfig`` on the root credentials,
    in ``service``'s words. Pass it as ``auth=`` to ``ApiClient.send``: its retries wrap the whole flow.
    """

    requires_response_body = True  # the refusal's body says why

    def __init__(self, token: Callable[[bool], str], *, service: str, holder: str) -> None:
        self._token, self._service, self._holder = token, service, holder

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token(False)}"
        response = yield request
        if response.status_code != 401:
            return
        request.headers["Authorization"] = f"Bearer {self._token(True)}"
        response = yield request
        if response.status_code == 401:
            code, message = error_parts(response)
            raise InvalidConfig(
                f"{self._service} does not accept {self._holder}'s token: {code}: {message}",
                field="root_credentials",
                api_code=code,
            )
