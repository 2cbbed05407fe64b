"""PostgreSQL store URLs: what is ours in them (schema, pool sizes), what goes to libpq, and masking.

Kept apart from the store itself so that looking at a URL needs no driver: the built-in store plugin
recognises one without importing psycopg.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, unquote_plus, urlencode, urlsplit, urlunsplit

from ..errors import InvalidConfig

DEFAULT_SCHEMA = "scaivault"
_SCHEMA = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL store."""
    return url.startswith(("postgresql://", "postgres://"))


def parse_url(url: str) -> tuple[str, str, dict[str, int], str]:
    """(libpq URL, schema, pool sizes, the URL with any password masked) from a store URL."""
    parts = urlsplit(url)
    ours = {"schema": DEFAULT_SCHEMA, "pool_min": "1", "pool_max": "10"}
    passed = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in ours:
            ours[key] = value
        else:
            passed.append((key, value))
    if not _SCHEMA.fullmatch(ours["schema"]):
        raise InvalidConfig("The store URL's schema= must be a plain identifier (letters, digits, _).", field="schema")
    try:
        pool = {"min_size": int(ours["pool_min"]), "max_size": int(ours["pool_max"])}
    except ValueError:
        raise InvalidConfig("pool_min and pool_max in the store URL are numbers.", field="pool_max") from None
    if not 0 <= pool["min_size"] <= pool["max_size"] or pool["max_size"] < 1:
        raise InvalidConfig("The store URL needs 0 <= pool_min <= pool_max and pool_max >= 1.", field="pool_max")
    # quote, not quote_plus: libpq decodes %20 but reads '+' as itself (options=-c%20... must survive)
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(passed, quote_via=quote)))
    return conninfo, ours["schema"], pool, mask_url(url)


# libpq parameters that carry a credential (the password, the client key's passphrase).
_CREDENTIAL_PARAMETERS = frozenset({"password", "sslpassword"})


def mask_url(url: str) -> str:
    """``url`` as it may be shown (repr, logs, errors, the CLI): every credential in it replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, at, hosts = netloc.rpartition("@")
        netloc = userinfo.split(":", 1)[0] + ":***" + at + hosts
    items = []
    for item in parts.query.split("&") if parts.query else []:
        key, sep, _ = item.partition("=")
        items.append(f"{key}=***" if sep and unquote_plus(key).lower() in _CREDENTIAL_PARAMETERS else item)
    return urlunsplit(parts._replace(netloc=netloc, query="&".join(items)))


def url_credentials(url: str) -> list[str]:
    """The credentials in ``url``, as written and decoded, to mask wherever a driver might quote them."""
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [
        value
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() in _CREDENTIAL_PARAMETERS and value
    ]
    return sorted({*found, *(unquote(v) for v in found)}, key=len, reverse=True)
