"""Where commands run, embedded or remote, and the one place their errors are reported."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from ..errors import InvalidConfig, ScaiVaultError, Unauthenticated
from ..settings import Settings

FORMATS = click.Choice(["table", "json"])


class CLI(click.Group):
    """The root group: a ScaiVault error becomes ``Error (<code>): <message>`` and exit status 1; a
    reader that went away (``| head``) ends the command quietly; Vault-style aliases (``aliases``)
    become the command they stand for."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        from .aliases import expand

        return super().resolve_command(ctx, expand(args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _reader_gone(ctx)
        except ScaiVaultError as exc:
            _report(ctx, exc.to_dict()["error"])
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # a bug: say what kind, not its message, which could hold a secret
            state = ctx.find_object(State)
            if state is not None and state.settings.debug:
                raise
            _report(
                ctx,
                {
                    "code": "internal",
                    "message": f"Unexpected {type(exc).__name__}; rerun with SCAIVAULT_DEBUG=1 for the traceback.",
                    "details": {},
                },
            )


def _reader_gone(ctx: click.Context) -> None:
    """Standard output's reader closed it (``scaivault lease list | head -1``): stop without a word, as a
    Unix tool killed by SIGPIPE does (status 141), with stdout pointed at /dev/null so that nothing
    flushed at exit fails again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (click's test runner): nothing left to flush
        pass
    ctx.exit(141)


def _report(ctx: click.Context, error: dict[str, Any]) -> None:
    state = ctx.find_object(State)
    if state is not None and state.format == "json":
        click.echo(json.dumps({"error": error}), err=True)
    else:
        click.echo(f"Error ({error['code']}): {error['message']}", err=True)
    ctx.exit(1)


class State:
    """The operator's settings (read once), and the API the commands call (opened on first use, closed at exit)."""

    def __init__(self, config: str | None, flags: dict[str, Any], plugin_manager: Any = None) -> None:
        self.config, self.flags = config, flags
        self.settings = Settings.load(config, flags=flags)
        self.address, self.format, self.pm = self.settings.address, self.settings.format or "table", plugin_manager
        self.field: str | None = None  # --field NAME: print that one value of the answer, raw
        self._api: Any = None
        self._closers: list[Callable[[], None]] = []

    def with_flags(self, flags: dict[str, Any]) -> Settings:
        """The settings again, with a command's own flags (the server's) winning too."""
        self.settings = Settings.load(self.config, flags={**self.flags, **flags})
        return self.settings

    def store_url(self) -> str:
        return self.settings.store_url()

    def open_vault(self, *, create: bool = False, start_worker: bool = False, settings: Any = None) -> Any:
        """The local vault; a missing SQLite store is an error pointing at ``scaivault init``, unless creating."""
        from ..plugin_manager import make_plugin_manager
        from ..store.sqlite import is_sqlite_url, path_from_url
        from ..vault import Vault

        url = self.store_url()
        if not create and is_sqlite_url(url) and not path_from_url(url).exists():
            raise InvalidConfig(
                f"No vault at {path_from_url(url)}; run `scaivault init` first, or give --store "
                "(SCAIVAULT_STORE) or --address (SCAIVAULT_ADDR)."
            )
        self.pm = self.pm or make_plugin_manager()
        vault = Vault(
            url, plugin_manager=self.pm, create=create, start_worker=start_worker, settings=settings or self.settings
        )
        self._closers.append(vault.close)
        return vault

    def api(self) -> Any:
        """``VaultAPI`` over the local vault, or ``ScaiVaultClient(...).json`` for the server: the same methods
        and bodies."""
        if self._api is None:
            if self.address:
                from ..client import ScaiVaultClient

                if not self.settings.token:
                    raise Unauthenticated(
                        f"No token for {self.address}: set SCAIVAULT_TOKEN (or pass --token).", address=self.address
                    )
                client = ScaiVaultClient(self.address, self.settings.token, verify=self.settings.ca_cert or True)
                self._closers.append(client.close)
                self._api = client.json  # the JSON bodies, as VaultAPI answers them
            else:
                from ..api import VaultAPI

                self._api = VaultAPI(self.open_vault())
        return self._api

    @property
    def for_scripts(self) -> bool:
        """Whether the answer goes out as data (``--format json``, or one ``--field`` of it), not for people."""
        return self.format == "json" or self.field is not None

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def current() -> State:
    """The running command's ``State``."""
    return _state(click.get_current_context())


def _state(ctx: click.Context) -> State:
    state = ctx.find_object(State)
    if state is None:  # every command runs under the `scaivault` group, which makes it
        raise RuntimeError("the scaivault command's state is missing")
    return state


def output(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--format`` (it overrides the global one) and ``--field`` to a command."""
    return click.option("--field", **_FIELD)(click.option("--format", **_FORMAT)(fn))


def format_option() -> click.Option:
    """``--format``, for a command made without decorators."""
    return click.Option(["--format"], **_FORMAT)


def field_option() -> click.Option:
    """``--field NAME``, for a command made without decorators."""
    return click.Option(["--field"], **_FIELD)


def _remember(attribute: str) -> Callable[[click.Context, Any, Any], None]:
    def remember(ctx: click.Context, _param: Any, value: str | None) -> None:
        state = ctx.find_object(State)
        if value and state is not None:  # no State while the shell completes a word
            setattr(state, attribute, value)

    return remember


_FORMAT: dict[str, Any] = dict(
    type=FORMATS,
    default=None,
    expose_value=False,
    callback=_remember("format"),
    is_eager=True,
    help="table for people, json for scripts.",
)
_FIELD: dict[str, Any] = dict(
    default=None,
    expose_value=False,
    callback=_remember("field"),
    is_eager=True,
    metavar="NAME",
    help="Print only this value of the answer, raw (data.password: a nested one), for scripts.",
)
