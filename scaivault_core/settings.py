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
        values.update({k: v for k, v in overrides.items() if v is not None and v != ()})
        if "token_default_ttl" not in values and "token_max_ttl" in values:
            values["token_default_ttl"] = min(DEFAULT_TOKEN_TTL, int(values["token_max_ttl"]))  # type: ignore[call-overload]
        return cls(**values)  # type: ignore[arg-type]

    @staticmethod
    def within(path: str, directories: tuple[str, ...]) -> bool:
        """Is ``path`` (already resolved) inside one of ``directories``?"""
        return any(os.path.commonpath([path, d]) == d for d in directories)
