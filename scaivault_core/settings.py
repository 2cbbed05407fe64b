"""What only the operator decides: the settings of the process, never of the API.

Whoever starts the server, runs the CLI or embeds ``Vault`` writes these; no API caller, however
privileged, can change them. They say where the store and the key are, how the server listens, and
bound what the vault may do on this machine (which executables engines may run, which directories
they may touch, how long tokens live).

``Settings`` is the one place they are declared: each field carries its ``SCAIVAULT_*`` variable,
its flag (if any), how its text is read and its documentation. ``Settings.load()`` reads them once,
in increasing precedence, from a TOML file (``--config`` / ``SCAIVAULT_CONFIG``), the environment
and the flags; ``scripts/configuration-page`` writes docs/configuration.md.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from .durations import parse_duration
from .errors import InvalidConfig, InvalidRequest

DEFAULT_TOKEN_TTL = 768 * 3600  # 32 days, as Vault's default token TTL
CONFIG_VARIABLE = "SCAIVAULT_CONFIG"
SCOPES = {"cli": "Every command", "server": "`scaivault server`", "vault": "Every process that opens the vault"}


# -- reading one value: text from a variable or a flag, or a TOML value; errors name where it came from ----------


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidConfig(f"{name} takes text, not {value!r}.", field=name)
    return value


def _duration(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return parse_duration(_text(value, name), name)
    except InvalidRequest as exc:
        raise InvalidConfig(exc.message, field=name) from None


def _whole(value: Any, name: str) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 10:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise InvalidConfig(f"{name} must be a whole number, not {str(value)[:20]!r}.", field=name)


def _dir_list(value: Any, name: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(value.split(os.pathsep))
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InvalidConfig(f"{name} takes a list of directories.", field=name)


def _names(value: Any, name: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise InvalidConfig(f"{name} takes a list of names.", field=name)
    return tuple(item.strip() for item in items if item.strip())


def _switch(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    return bool(_text(value, name))  # as the variable always was: any non-empty value turns it on


def _choice(*options: str) -> Callable[[Any, str], str]:
    def read(value: Any, name: str) -> str:
        if _text(value, name).lower() not in options:
            raise InvalidConfig(f"{name} is one of {', '.join(options)}, not {value[:20]!r}.", field=name)
        return value.lower()

    read.options = options  # type: ignore[attr-defined]
    return read


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


def _at_least_one(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        spec = attribute.metadata["setting"]
        flag = f" ({spec.flag})" if spec.flag else ""
        raise InvalidConfig(f"{spec.variable}{flag} must be at least 1.", field=attribute.name)


@attrs.frozen
class Spec:
    """How one setting is given: its variable, its flag, how its text reads, and what it does."""

    variable: str
    doc: str
    read: Callable[[Any, str], Any] = _text
    flag: str | None = None
    scope: str = "vault"
    secret: bool = False  # never in a repr; in a config file only if that file is private
    multiple: bool = False  # a repeatable flag
    empty_means_unset: bool = True
    kind: str = "text"  # for the docs


def setting(default: Any, variable: str, doc: str, **spec: Any) -> Any:
    """A ``Settings`` field and its ``Spec``."""
    validator, converter = spec.pop("validator", None), spec.pop("converter", None)
    made = Spec(variable, " ".join(doc.split()), **spec)
    return attrs.field(
        default=default, validator=validator, converter=converter, repr=not made.secret, metadata={"setting": made}
    )


DURATION = dict(read=_duration, kind="duration")
DIRS = dict(read=_dir_list, converter=_dirs, kind="directories")
LEVELS = ("critical", "error", "warning", "info", "debug")


@attrs.frozen
class Settings:
    """The operator's settings; docs/configuration.md lists them all (generated from here)."""

    # -- where the vault is ----------------------------------------------------------------------------------
    store: str | None = setting(
        None,
        "SCAIVAULT_STORE",
        """The store: a SQLite file path or a
        ``postgresql://`` URL. Default: ``vault.db`` in the home directory.""",
        flag="--store",
        scope="cli",
    )
    home: str | None = setting(
        None,
        "SCAIVAULT_HOME",
        """Where the default store (``vault.db``) and its
        key file live. Default: ``~/.scaivault``.""",
    )
    key_file: str | None = setting(
        None,
        "SCAIVAULT_KEY_FILE",
        """The vault key file. Default: beside a
        SQLite store (``vault.key``); a PostgreSQL store needs this or ``SCAIVAULT_KEY``.""",
        flag="--key-file",
        scope="cli",
    )
    key: str | None = setting(
        None,
        "SCAIVAULT_KEY",
        """The vault keyring itself: base64 keys, newest first,
        separated by commas (``NEW,OLD`` during a key rotation). Wins over the key file. Secret: prefer a
        key file.""",
        secret=True,
    )

    # -- a client of a server ----------------------------------------------------------------------------------
    address: str | None = setting(
        None,
        "SCAIVAULT_ADDR",
        """A ScaiVault server to send commands to
        (``https://vault:8200``, for one) instead of opening the store.""",
        flag="--address",
        scope="cli",
    )
    token: str | None = setting(
        None,
        "SCAIVAULT_TOKEN",
        """The bearer token sent to ``--address``.
        Secret: prefer the variable to the flag, which other users can see in the process list.""",
        flag="--token",
        scope="cli",
        secret=True,
    )
    ca_cert: str | None = setting(
        None,
        "SCAIVAULT_CACERT",
        """The CA bundle that signed the server's
        certificate.""",
        flag="--ca-cert",
        scope="cli",
    )
    format: str | None = setting(
        None,
        "SCAIVAULT_FORMAT",
        """What commands print: ``table`` for people
        (the default) or ``json`` for scripts.""",
        flag="--format",
        scope="cli",
        read=_choice("table", "json"),
        kind="table or json",
    )
    debug: bool = setting(
        False,
        "SCAIVAULT_DEBUG",
        """Let an unexpected error's traceback through
        instead of a one-line message.""",
        scope="cli",
        read=_switch,
        kind="switch",
    )

    # -- the server ----------------------------------------------------------------------------------------------
    listen: str = setting(
        "127.0.0.1:8200",
        "SCAIVAULT_LISTEN",
        """``HOST:PORT`` the server listens on.""",
        flag="--listen",
        scope="server",
        kind="HOST:PORT",
    )
    front_end: str = setting(
        "threads",
        "SCAIVAULT_FRONT_END",
        """How the server takes requests: ``threads``
        (the default: a thread per connection that serves the API's operations itself) or ``asgi``
        (uvicorn and starlette on one event loop, about half as much CPU again per request;
        docs/deploy.md, "Front ends").""",
        flag="--front-end",
        scope="server",
        read=_choice("asgi", "threads"),
        kind="asgi or threads",
    )
    tls_cert: str | None = setting(
        None,
        "SCAIVAULT_TLS_CERT",
        """Serve HTTPS with this certificate
        (PEM; give ``tls_key`` too).""",
        flag="--tls-cert",
        scope="server",
        kind="file",
    )
    tls_key: str | None = setting(
        None,
        "SCAIVAULT_TLS_KEY",
        """The certificate's private key (PEM).""",
        flag="--tls-key",
        scope="server",
        kind="file",
    )
    # server limits: what one client may hold of the server (docs/security.md, "Slow and partial clients")
    header_timeout: int = setting(
        10,
        "SCAIVAULT_HEADER_TIMEOUT",
        """Time a request's headers may take to
        arrive, from the connection (or the request's first byte on a kept-alive one); then the connection
        is closed.""",
        flag="--header-timeout",
        scope="server",
        validator=_at_least_one,
        **DURATION,
    )
    body_timeout: int = setting(
        30,
        "SCAIVAULT_BODY_TIMEOUT",
        """Time a request's body may take to arrive
        once its headers are in; then it is answered 408 and the connection closed, and nothing of it is
        processed.""",
        flag="--body-timeout",
        scope="server",
        validator=_at_least_one,
        **DURATION,
    )
    keep_alive_timeout: int = setting(
        5,
        "SCAIVAULT_KEEP_ALIVE_TIMEOUT",
        """Time an idle connection is kept
        open for its next request.""",
        flag="--keep-alive-timeout",
        scope="server",
        validator=_at_least_one,
        **DURATION,
    )
    max_connections: int = setting(
        512,
        "SCAIVAULT_MAX_CONNECTIONS",
        """Open connections the server
        accepts; one more is answered 503 and closed.""",
        flag="--max-connections",
        scope="server",
        validator=_at_least_one,
        read=_whole,
        kind="number",
    )

    # -- what engines may do, and tokens -------------------------------------------------------------------
    command_dirs: tuple[str, ...] = setting(
        (),
        "SCAIVAULT_COMMAND_DIRS",
        """Directories whose executables
        engines may run (custom engine commands); absolute paths, separated by ``:`` in the variable.
        Empty (the default): no engine may run any command.""",
        flag="--command-dir",
        scope="server",
        multiple=True,
        **DIRS,
    )
    file_dirs: tuple[str, ...] = setting(
        (),
        "SCAIVAULT_FILE_DIRS",
        """Directories engines may read and
        write files in (an SSH engine's KRL, a CA bundle). Empty (the default): no engine config may name
        a file.""",
        flag="--file-dir",
        scope="server",
        multiple=True,
        **DIRS,
    )
    token_default_ttl: int = setting(
        DEFAULT_TOKEN_TTL,
        "SCAIVAULT_TOKEN_DEFAULT_TTL",
        """The TTL of a
        token created without one (at most ``token_max_ttl``).""",
        flag="--token-default-ttl",
        scope="server",
        **DURATION,
    )
    token_max_ttl: int = setting(
        DEFAULT_TOKEN_TTL,
        "SCAIVAULT_TOKEN_MAX_TTL",
        """The longest TTL a token
        may be created with.""",
        flag="--token-max-ttl",
        scope="server",
        **DURATION,
    )

    # -- leases, plugins and logs --------------------------------------------------------------------------
    claim_timeout: float = setting(
        60.0,
        "SCAIVAULT_CLAIM_TIMEOUT",
        """A revocation claim lapses after
        this, for another process to take over a dead one's work.""",
        validator=_at_least_one,
        **DURATION,
    )
    intent_timeout: float = setting(
        120.0,
        "SCAIVAULT_INTENT_TIMEOUT",
        """An issue still unfinished after
        this is presumed dead and undone.""",
        validator=_at_least_one,
        **DURATION,
    )
    load_plugins: tuple[str, ...] | None = setting(
        None,
        "SCAIVAULT_LOAD_PLUGINS",
        """Load only these
        installed plugins (distribution or entry-point names, separated by commas); empty loads none.
        Default: all. Plugins load before the command line is read, so this comes from the environment
        or the file named by ``SCAIVAULT_CONFIG``, not ``--config``.""",
        scope="cli",
        read=_names,
        empty_means_unset=False,
        kind="names",
    )
    log_format: str = setting(
        "text",
        "SCAIVAULT_LOG_FORMAT",
        """The ``scaivault`` loggers' lines:
        ``text`` for people or ``json`` (one object per line) for machines.""",
        scope="cli",
        read=_choice("text", "json"),
        kind="text or json",
    )
    log_level: str | None = setting(
        None,
        "SCAIVAULT_LOG_LEVEL",
        """How much the ``scaivault`` loggers (and
        the HTTP server's, in the same format) say. Unset: ``warning`` for commands, ``info`` for ``scaivault
        server`` (a line per request and per audit event). An unknown level is reported and the default used.""",
        flag="--log-level",
        scope="server",
        kind="level",
    )

    def __attrs_post_init__(self) -> None:
        if not 0 < self.token_default_ttl <= self.token_max_ttl:
            raise InvalidConfig(
                "The token default TTL must be positive and at most the token max TTL.", field="token_default_ttl"
            )

    @classmethod
    def load(
        cls,
        config: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        flags: Mapping[str, Any] | None = None,
    ) -> Settings:
        """The settings from ``config`` (else ``SCAIVAULT_CONFIG``), then the environment, then ``flags`` (by
        field name; None or empty means not given), each winning over the one before."""
        env = os.environ if environ is None else environ
        config = config or env.get(CONFIG_VARIABLE) or None
        values = read_config_file(Path(config)) if config else {}
        values.update(read_environment(env))
        for name, value in (flags or {}).items():
            if value is not None and value != ():
                spec = specs()[name]
                values[name] = spec.read(value, spec.flag or name) if isinstance(value, str) else value
        if "token_default_ttl" not in values and "token_max_ttl" in values:
            values["token_default_ttl"] = min(DEFAULT_TOKEN_TTL, int(values["token_max_ttl"]))
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """``load()`` with the flags given as keyword arguments (what older code called)."""
        return cls.load(environ=environ, flags=overrides)

    @staticmethod
    def within(path: str, directories: tuple[str, ...]) -> bool:
        """Is ``path`` (already resolved) inside one of ``directories``?"""
        return any(os.path.commonpath([path, d]) == d for d in directories)

    def require_outside(self, path: str | os.PathLike[str], what: str) -> None:
        """Refuse a vault file (its store, its key) inside a directory engines may write or run from:
        whoever configures an engine could otherwise overwrite it, or run it."""
        resolved = os.path.realpath(path)
        for variable, directories in (
            ("SCAIVAULT_FILE_DIRS", self.file_dirs),
            ("SCAIVAULT_COMMAND_DIRS", self.command_dirs),
        ):
            if self.within(resolved, directories):
                raise InvalidConfig(
                    f"The vault's {what} ({resolved}) is inside a directory of {variable}, where "
                    "engines may write files or run programs: keep the vault's own files apart.",
                    field=variable,
                )

    def store_url(self) -> str:
        """``store``, else ``vault.db`` in ``home`` (default ``~/.scaivault``)."""
        return self.store or str(Path(self.home or Path.home() / ".scaivault") / "vault.db")


def specs() -> dict[str, Spec]:
    """Each field's ``Spec``, by field name, in declaration order."""
    return {f.name: f.metadata["setting"] for f in attrs.fields(Settings)}


def read_environment(environ: Mapping[str, str], names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The settings (all, or ``names``) that ``environ`` gives, read but not yet checked together."""
    values = {}
    for name, spec in specs().items():
        raw = environ.get(spec.variable)
        if (names is None or name in names) and raw is not None and (raw or not spec.empty_means_unset):
            values[name] = spec.read(raw, spec.variable)
    return values


def read_config_file(path: Path) -> dict[str, Any]:
    """The settings a TOML file gives (keys are field names); an unknown key or a bad value is named.

    A secret (``key``, ``token``) is accepted only from a file no one else can read (mode 0600): the
    file would otherwise hand the vault key to every local user.
    """
    try:
        raw = path.read_bytes()
        parsed = tomllib.loads(raw.decode())
    except OSError as exc:
        raise InvalidConfig(f"Cannot read the config file {path}: {exc.strerror}.", field=CONFIG_VARIABLE) from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidConfig(f"The config file {path} is not valid TOML: {exc}.", field=CONFIG_VARIABLE) from None
    known = specs()
    values = {}
    for key, value in parsed.items():
        spec = known.get(key)
        if spec is None:
            raise InvalidConfig(
                f"The config file {path} has an unknown setting {key!r}; the settings are listed "
                "in docs/configuration.md.",
                field=key,
            )
        if spec.secret and stat.S_IMODE(path.stat().st_mode) & 0o077:
            raise InvalidConfig(
                f"The config file {path} holds the secret {key!r} but others may read it: "
                f"`chmod 600 {path}`, or give the secret another way (key_file for the key).",
                field=key,
            )
        values[key] = spec.read(value, f"{key} (in {path})")
    return values


def markdown() -> str:
    """docs/configuration.md: every setting, from the ``Settings`` class."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated by `scripts/configuration-page` from scaivault_core/settings.py;",
        "     tests/test_settings.py fails when this page and the code differ. Edit the code, not this page. -->",
        "",
        "Every setting of a ScaiVault process is read once, when the process starts, from three places; each",
        "wins over the one before:",
        "",
        "1. a TOML file named by `scaivault --config FILE` or `SCAIVAULT_CONFIG` (keys are the names below);",
        "2. the environment (`SCAIVAULT_*` variables);",
        "3. the command line's flags.",
        "",
        "An unknown key in the file, or a value that does not read, stops the process with an `invalid_config`",
        "error naming the key. Durations take `90`, `10s`, `5m`, `1h` or `7d`. A program that embeds the vault",
        "passes `Settings(...)` (or `Settings.load()`) to `Vault(settings=...)`.",
        "",
        "```toml",
        "# /etc/scaivault/scaivault.toml",
        'store = "/var/lib/scaivault/vault.db"',
        'key_file = "/etc/scaivault/vault.key"',
        'listen = "0.0.0.0:8200"',
        'tls_cert = "/etc/scaivault/tls/cert.pem"',
        'tls_key = "/etc/scaivault/tls/key.pem"',
        'command_dirs = ["/opt/scaivault/commands"]',
        'log_format = "json"',
        "```",
        "",
        "**Secrets.** `key` (the vault keyring) and `token` are never shown in a `repr`, a log line or this",
        "page. A config file may hold them only if no one but its owner can read it (mode `0600`); otherwise",
        "the process refuses to start and says so. Prefer `key_file` (a private file holding the key) over",
        "the key itself in the config file or the environment.",
        "",
    ]
    for scope, title in SCOPES.items():
        lines += [
            f"## {title}",
            "",
            "| Setting | Variable | Flag | Type | Default | What it does |",
            "|---|---|---|---|---|---|",
        ]
        for field in attrs.fields(Settings):
            spec = field.metadata["setting"]
            if spec.scope != scope:
                continue
            flag = f"`{spec.flag}`" + (" (repeatable)" if spec.multiple else "") if spec.flag else "—"
            lines.append(
                f"| `{field.name}` | `{spec.variable}` | {flag} | {spec.kind} | {_default(field)} | "
                f"{spec.doc.replace('``', '`').replace('|', '&#124;')} |"
            )
        lines.append("")
    return "\n".join(lines)


def _default(field: attrs.Attribute[Any]) -> str:
    value = field.default
    if value is None or value == ():
        return "—"
    if field.metadata["setting"].kind == "duration":
        from .durations import format_duration

        return f"`{format_duration(int(value))}`"
    if isinstance(value, bool):
        return "off" if not value else "on"
    return f"`{value}`"
