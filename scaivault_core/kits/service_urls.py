"""Where an engine may send credentials over HTTP: https, or plain http only to this machine.

The one check every engine that calls a service by URL uses (webhooks, cloud API endpoints), so
plain http to another host is refused the same way everywhere.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ..errors import InvalidConfig


def check_service_url(url: str, field: str, *, allow_http: bool = False, allow_http_setting: str | None = None) -> None:
    """``url`` is an absolute https URL, or http to a loopback host (any host with ``allow_http``).

    Anything else is ``invalid_config``.
    ``allow_http_setting`` names the engine's own setting that accepts plain http, for the message.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfig(f"{field} must be an absolute https:// URL.", field=field)
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        how = f" Set {allow_http_setting} to accept plain http on a trusted network." if allow_http_setting else ""
        raise InvalidConfig(
            f"{field} must use https: credentials travel over it, so plain http is accepted only to "
            f"this machine (localhost or a loopback address).{how}",
            field=field,
        )


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
