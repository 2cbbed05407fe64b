"""MongoDB connection strings: the engine's template, the root URL, and the URL each new user gets.

Split by hand rather than with pymongo's parser, because that parser looks ``mongodb+srv`` names
up in DNS, and because each user's URL must keep the operator's hosts and options as written.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

import attrs

SCHEMES = ("mongodb", "mongodb+srv")
DEFAULT_PORT = 27017


@attrs.frozen
class MongoURL:
    """``scheme://[userinfo@]hosts[/database][?options]``; the userinfo never shows in a repr."""

    scheme: str
    userinfo: str = attrs.field(repr=False)
    hosts: str
    database: str = ""
    options: str = ""

    @property
    def srv(self) -> bool:
        return self.scheme == "mongodb+srv"

    def host_list(self) -> list[tuple[str, int | None]]:
        """Each host as (name, port or None)."""
        return [_split_host(item) for item in self.hosts.split(",")]

    def first_host(self) -> tuple[str, int | None]:
        """The first host and its port (27017 when unwritten; None for a ``mongodb+srv`` name)."""
        host, port = self.host_list()[0]
        return host, None if self.srv else (port or DEFAULT_PORT)

    def with_credentials(self, username: str, password: str) -> MongoURL:
        """This URL logging in as ``username``, both parts percent-encoded."""
        return attrs.evolve(self, userinfo=f"{quote(username, safe='')}:{quote(password, safe='')}")

    def without_credentials(self) -> MongoURL:
        return attrs.evolve(self, userinfo="")

    def option(self, name: str) -> str | None:
        """The value of option ``name`` as written (option names are case-insensitive), or None."""
        for part in re.split(r"[&;]", self.options):
            key, _, value = part.partition("=")
            if key.lower() == name.lower():
                return unquote(value)
        return None

    def with_option(self, name: str, value: str) -> MongoURL:
        """``name=value`` replacing any option of that name (option names are case-insensitive)."""
        kept = [
            part for part in re.split(r"[&;]", self.options) if part and part.split("=", 1)[0].lower() != name.lower()
        ]
        return attrs.evolve(self, options="&".join([*kept, f"{name}={quote(value, safe='')}"]))

    def __str__(self) -> str:
        auth = f"{self.userinfo}@" if self.userinfo else ""
        path = f"/{self.database}" if self.database or self.options else ""
        query = f"?{self.options}" if self.options else ""
        return f"{self.scheme}://{auth}{self.hosts}{path}{query}"


def parse_url(text: str) -> MongoURL:
    """Split a connection string; ``ValueError`` (naming the problem, never a value) if it is not one."""
    scheme, sep, rest = text.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError("must start with mongodb:// or mongodb+srv://")
    # The host list ends at the first '/' or '?'; credentials are percent-encoded, so hold neither.
    ends = [i for i in (rest.find("/"), rest.find("?")) if i >= 0]
    cut = min(ends) if ends else len(rest)
    userinfo, _, hosts = rest[:cut].rpartition("@")
    path, _, options = rest[cut:].partition("?")
    url = MongoURL(scheme, userinfo, hosts, path.lstrip("/"), options)
    if not hosts:
        raise ValueError("names no host")
    host_list = url.host_list()
    if url.srv and len(host_list) != 1:
        raise ValueError("mongodb+srv:// takes exactly one host name (its SRV record lists the servers)")
    if url.srv and host_list[0][1] is not None:
        raise ValueError("mongodb+srv:// takes no port (its SRV record gives the ports)")
    return url


def _split_host(item: str) -> tuple[str, int | None]:
    if item.startswith("["):  # IPv6 literal: [::1]:27017
        end = item.find("]")
        if end < 0:
            raise ValueError("has an IPv6 address without its closing ']'")
        host, rest = item[1:end], item[end + 1 :]
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ValueError("has an empty host name")
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("has a port that is not a number from 1 to 65535")
    return host, int(port_text)


def check_database_name(name: str) -> str | None:
    """Why ``name`` cannot be a MongoDB database name, or None if it can."""
    if not name:
        return "is empty"
    if len(name.encode()) >= 64:
        return "is 64 bytes or longer"
    bad = sorted(set(name) & set('/\\. "$*<>:|?\0'))
    if bad:
        return f"contains {' '.join(repr(c) for c in bad)}, which database names may not"
    return None
