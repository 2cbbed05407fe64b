"""What only the operator decides: settings of the process, never of the API.

Whoever starts the server (or embeds ``Vault``) writes these; no API caller, however privileged,
can change them. They bound what the vault may do on this machine: which executables engines may
run, which directories engines may read or write files in, and how long tokens live.

Read once, from the environment (``Settings.from_env()``) or given to ``Vault(settings=...)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import attrs

from .durations import parse_duration
from .errors import InvalidConfig, InvalidRequest

DEFAULT_TOKEN_TTL = 768 * 3600  # 32 days, as Vault's default token TTL
# The server limits' variables; durations take "10s", "1m" or seconds, like every duration.
SERVER_LIMITS = {"header_timeout": "SCAIVAULT_HEADER_TIMEOUT", "body_timeout": "SCAIVAULT_BODY_TIMEOUT",
                 "keep_alive_timeout": "SCAIVAULT_KEEP_ALIVE_TIMEOUT", "max_connections": "SCAIVAULT_MAX_CONNECTIONS"}


def _dirs(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(os.pathsep) if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    resolved = []
    for item in items:
        if not item:
            continue
        path = Path(item)
        if not path.is_absolute():
            raise InvalidConfig(f"Operator directories must be absolute paths; {item!r} is not.", field="settings")
        resolved.append(os.path.realpath(path))
    return tuple(dict.fromkeys(resolved))


def _positive(_instance: object, attribute: "attrs.Attribute[int]", value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidConfig(f"{SERVER_LIMITS[attribute.name]} (--{attribute.name.replace('_', '-')}) must be at least 1.",
                            field=attribute.name)


def _server_limits(env: Mapping[str, str]) -> dict[str, int]:
    values: dict[str, int] = {}
    for field, variable in SERVER_LIMITS.items():
        raw = env.get(variable)
        if not raw:
            continue
        if field == "max_connections":
            if not (raw.isascii() and raw.isdigit() and len(raw) < 10):
                raise InvalidConfig(f"{variable} must be a whole number, not {raw[:20]!r}.", field=variable)
            values[field] = int(raw)
            continue
        try:
            values[field] = parse_duration(raw, variable)  # type: ignore[assignment]
        except InvalidRequest as exc:
            raise InvalidConfig(exc.message, field=variable) from None
    return values


@attrs.frozen
class Settings:
    """The operator's settings (each has a ``SCAIVAULT_*`` variable; see docs/security.md)."""

    command_dirs: tuple[str, ...] = attrs.field(default=(), converter=_dirs)
    """``SCAIVAULT_COMMAND_DIRS``: directories whose executables engines may run (custom engine
    commands). Empty (the default): no engine may run any command."""
    file_dirs: tuple[str, ...] = attrs.field(default=(), converter=_dirs)
    """``SCAIVAULT_FILE_DIRS``: directories engines may read and write files in (an SSH engine's KRL,
    a CA bundle). Empty (the default): no engine config may name a file."""
    token_default_ttl: int = DEFAULT_TOKEN_TTL
    """``SCAIVAULT_TOKEN_DEFAULT_TTL``: the TTL of a token created without one."""
    token_max_ttl: int = DEFAULT_TOKEN_TTL
    """``SCAIVAULT_TOKEN_MAX_TTL``: the longest TTL a token may be created with."""

    # server limits: what one client may hold of ``scaivault server`` (docs/security.md, "Slow and partial clients")
    header_timeout: int = attrs.field(default=10, validator=_positive)
    """``SCAIVAULT_HEADER_TIMEOUT``: seconds a request's headers may take to arrive, from the connection
    (or the request's first byte on a kept-alive one); then the connection is closed."""
    body_timeout: int = attrs.field(default=30, validator=_positive)
    """``SCAIVAULT_BODY_TIMEOUT``: seconds a request's body may take to arrive once its headers are
    in; then it is answered 408 and the connection closed, and nothing of it is processed."""
    keep_alive_timeout: int = attrs.field(default=5, validator=_positive)
    """``SCAIVAULT_KEEP_ALIVE_TIMEOUT``: seconds an idle connection is kept open for its next request."""
    max_connections: int = attrs.field(default=512, validator=_positive)
    """``SCAIVAULT_MAX_CONNECTIONS``: open connections the server accepts; one more is answered 503 and closed."""

    def __attrs_post_init__(self) -> None:
        if not 0 < self.token_default_ttl <= self.token_max_ttl:
            raise InvalidConfig("The token default TTL must be positive and at most the token max TTL.",
                                field="token_default_ttl")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> "Settings":
        """Settings from ``SCAIVAULT_*`` variables; ``overrides`` (e.g. the server's flags) win where not None."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field, variable in (("command_dirs", "SCAIVAULT_COMMAND_DIRS"), ("file_dirs", "SCAIVAULT_FILE_DIRS")):
            if env.get(variable):
                values[field] = env[variable]
        for field, variable in (("token_default_ttl", "SCAIVAULT_TOKEN_DEFAULT_TTL"),
                                ("token_max_ttl", "SCAIVAULT_TOKEN_MAX_TTL")):
            if env.get(variable):
                try:
                    values[field] = parse_duration(env[variable], variable)
                except InvalidRequest as exc:
                    raise InvalidConfig(exc.message, field=variable) from None
        values.update(_server_limits(env))
        values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
        if "token_default_ttl" not in values and "token_max_ttl" in values:
            values["token_default_ttl"] = min(DEFAULT_TOKEN_TTL, int(values["token_max_ttl"]))  # type: ignore[call-overload]
        return cls(**values)  # type: ignore[arg-type]

    @staticmethod
    def within(path: str, directories: tuple[str, ...]) -> bool:
        """Is ``path`` (already resolved) inside one of ``directories``?"""
        return any(os.path.commonpath([path, d]) == d for d in directories)

    def require_outside(self, path: str | os.PathLike[str], what: str) -> None:
        """Refuse a vault file (its store, its key) inside a directory engines may write or run from:
        whoever configures an engine could otherwise overwrite it, or run it."""
        resolved = os.path.realpath(path)
        for variable, directories in (("SCAIVAULT_FILE_DIRS", self.file_dirs),
                                      ("SCAIVAULT_COMMAND_DIRS", self.command_dirs)):
            if self.within(resolved, directories):
                raise InvalidConfig(f"The vault's {what} ({resolved}) is inside a directory of {variable}, where "
                                    "engines may write files or run programs: keep the vault's own files apart.",
                                    field=variable)
