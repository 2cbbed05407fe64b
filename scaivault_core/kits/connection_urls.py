"""Connection URLs of database engines: the root credential goes in as a value, and only where it belongs.

An engine's ``connection_url`` is written by whoever configures the engine, and the root
credential is put into it by the vault. So the URL may hold exactly ``{{username}}`` and
``{{password}}`` (spaces inside the braces allowed), each at most once, as the URL's user and
password; they are substituted as plain URL-encoded values, never through a template engine,
so no filter, expression or slice can copy the password into a database name or a host. Anything
else that looks like template syntax is refused.

Nor may the URL make the client library touch the server's files or use the server's own
credentials: options naming certificate, key, password or service files, Unix sockets, and
authentication mechanisms that take the server process's ambient credentials are refused. TLS
files come from the operator's environment. Every SQL and NoSQL plugin uses these functions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, unquote_plus

from ..errors import InvalidConfig

if TYPE_CHECKING:
    from ..engine import Engine

URL_FIELD = "config.connection_url"
_PLACEHOLDER = re.compile(r"\{\{\s*(username|password)\s*\}\}")
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#")
_USERINFO_FORMS = ("", "{{username}}", "{{username}}:{{password}}", ":{{password}}")

# Options (lower case, percent-decoded) that name a file or directory the client reads or writes, or
# make it use the server process's own credentials: libpq, pymongo, PyMySQL/mysqlclient, redis-py.
REFUSED_OPTIONS = frozenset(
    {
        "passfile",
        "service",
        "servicefile",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslcrldir",
        "sslkeylogfile",
        "gssdelegation",
        "gsslib",
        "tlscafile",
        "tlscertificatekeyfile",
        "tlscertificatekeyfilepassword",
        "tlscrlfile",
        "ssl_ca_certs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_crlfile",
        "ssl_pem_passphrase",
        "authmechanismproperties",
        "read_default_file",
        "read_default_group",
        "defaults_file",
        "ssl_ca",
        "ssl_capath",
        "ssl_cert",
        "ssl_key",
        "local_infile",
        "unix_socket",
        "plugin_dir",
        "ssl_ca_path",
        "ssl_password",
        "path",
        "unix_socket_path",
    }
)
_REFUSED_SUFFIXES = ("file", "dir", "path")
# MongoDB mechanisms that authenticate with the server process's own AWS, OIDC, Kerberos or X.509 identity.
_OWN_PASSWORD_MECHANISMS = frozenset({"default", "scram-sha-1", "scram-sha-256", "plain", "mongodb-cr"})


def check_connection_url(url: object, field: str = URL_FIELD, *, require_credentials: bool = False) -> None:
    """Refuse a ``connection_url`` that could send the root credential anywhere but its user and password,
    or make the client read the server's files; ``require_credentials``: it must take them as placeholders."""
    if not isinstance(url, str):
        raise InvalidConfig(f"{field} must be a string.", field=field)
    _check(url, field, require_credentials)


@lru_cache(maxsize=256)
def _check(url: str, field: str, require_credentials: bool) -> None:
    scheme, separator, rest = url.partition("://")
    if not separator or not scheme:
        raise InvalidConfig(
            f"{field} must be a URL: scheme://[{{{{username}}}}:{{{{password}}}}@]host[:port]/...", field=field
        )
    end = min([i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0] or [len(rest)])
    userinfo, _, hosts = rest[:end].rpartition("@")
    if _TEMPLATE_SYNTAX.search(scheme + " " + _PLACEHOLDER.sub("", userinfo) + " " + hosts + rest[end:]):
        raise InvalidConfig(
            f"{field} may use only {{{{username}}}} and {{{{password}}}}, as the user and password before the host: "
            "they are substituted as values, so filters, expressions and placeholders elsewhere are refused.",
            field=field,
        )
    normal = _PLACEHOLDER.sub(lambda m: "{{" + m.group(1) + "}}", userinfo)
    if _PLACEHOLDER.search(userinfo) and normal not in _USERINFO_FORMS:
        raise InvalidConfig(
            f"{field} takes the root credentials as {{{{username}}}}:{{{{password}}}}@ before the host and nowhere "
            "else, each at most once, with nothing else in the user part.",
            field=field,
        )
    if require_credentials and "{{password}}" not in normal and "{{username}}" not in normal:
        raise InvalidConfig(
            f"{field} must take the root credentials as {{{{username}}}} and {{{{password}}}}.", field=field
        )
    for host in hosts.split(","):
        _check_host(unquote(host), field)
    for option in re.split(r"[&;]", rest[end:].partition("?")[2].partition("#")[0]):
        key, _, value = option.partition("=")
        _check_option(unquote_plus(key).strip().lower(), unquote_plus(value), field)


def _check_host(host: str, field: str) -> None:
    if "/" in host or host.startswith("@"):
        raise InvalidConfig(
            f"{field} names a Unix socket (a file on the server); give a network host and port.", field=field
        )


def _check_option(key: str, value: str, field: str) -> None:
    if key in REFUSED_OPTIONS or key.endswith(_REFUSED_SUFFIXES):
        raise InvalidConfig(
            f"{field} may not set {key!r}: options that name files (certificates, keys, password or service files) "
            "or sockets would make the server read its own files. TLS files come from the operator's "
            "environment and settings.",
            field=field,
            option=key,
        )
    if key == "host":
        for host in value.split(","):
            _check_host(host.strip(), field)
    if key == "authmechanism" and value.strip().lower() not in _OWN_PASSWORD_MECHANISMS:
        raise InvalidConfig(
            f"{field} may not use authMechanism {value!r}: it would authenticate with the server's own identity "
            "(AWS, OIDC, Kerberos or a client certificate), not the engine's root credentials.",
            field=field,
        )


def render_connection_url(template: str, username: str, password: str) -> str:
    """``template`` with ``{{username}}`` and ``{{password}}`` replaced by their URL-encoded values."""
    check_connection_url(template)
    values = {"username": quote(username, safe=""), "password": quote(password, safe="")}
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def root_connection_url(engine: Engine) -> str:
    """``engine.config.connection_url`` with the root credentials, read at each call so a rotated secret is used."""
    root = engine.context.root_credentials()
    return render_connection_url(
        engine.config.connection_url, str(root.get("username", "")), str(root.get("password", ""))
    )
