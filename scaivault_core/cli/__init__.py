"""The ``scaivault`` command line.

Every command runs against one small interface, the operations as methods (``VaultAPI``):
embedded, they run in-process on a local store (``--store`` / ``SCAIVAULT_STORE``) as the admin;
remote, ``ScaiVaultClient(...).json`` sends them to a server (``--address`` / ``SCAIVAULT_ADDR`` with
``SCAIVAULT_TOKEN``). Global flags and the server's are made from the operator's ``Settings``,
read once by the root command (``State``). The commands of operations are made from the operation table
(``operations``); the others are written out, one module per command group (``init``, ``server``,
``key``, ``plugins``, ``audit``); ``aliases`` holds the verbs of ``vault`` / ``bao`` that stand for
ours, ``complete`` the shell completion of engine, role and lease names. Errors become a message
naming the error code and exit status 1, in one place (``state.CLI.invoke``).
"""

from __future__ import annotations

from typing import Any

import attrs
import click

from ..logs import request_scope
from .aliases import read
from .audit import audit
from .init import init
from .key import key
from .operations import add_operation_commands, run_operation
from .output import HIDDEN, emit, emit_raw
from .plugins import plugins
from .server import parse_listen, server
from .settings_options import settings_options
from .state import CLI, State, output
from .store import migrate, snapshot, store_group

# ``output`` (a command's --format and --field), ``emit`` and ``emit_raw`` (its answer, as they ask) are for
# plugins' commands too, so that every command reads and prints alike; ``scaivault_core`` exports them to
# plugins, the decorator as ``command_output`` (a bare ``output`` would say nothing there).
command_output = output

__all__ = [
    "HIDDEN",
    "add_plugin_commands",
    "cli",
    "command_output",
    "emit",
    "emit_raw",
    "main",
    "output",
    "parse_listen",
    "run_operation",
]


@click.group(cls=CLI)
@click.option(
    "--config",
    metavar="FILE",
    help="A TOML file of settings (SCAIVAULT_CONFIG); the environment "
    "and flags win over it. See docs/configuration.md.",
)
@settings_options("cli")
@click.version_option(package_name="scaivault")
@click.pass_context
def cli(ctx: click.Context, /, config: str | None, **flags: Any) -> None:
    """ScaiVault: dynamic secrets. Embedded on a local store, or against a server with --address."""
    console = isinstance(ctx.obj, Console)
    pm = ctx.obj.pm if console else ctx.obj if ctx.obj is not None and not isinstance(ctx.obj, State) else None
    state = State(config, flags, plugin_manager=pm)
    ctx.obj = state
    ctx.call_on_close(state.close)
    if console:
        from ..logs import configure_logging

        configure_logging(state.settings.log_format, state.settings.log_level)
    if ctx.invoked_subcommand != "server":  # a command is one request; a server gives each of its own an id
        ctx.with_resource(request_scope())


@attrs.frozen
class Console:
    """What the console script hands the root command: its plugins, and that it owns the process's logging."""

    pm: Any


for _command in (init, server, key, plugins, audit, store_group, migrate, snapshot, read):
    cli.add_command(_command)
add_operation_commands(cli)


def main(argv: list[str] | None = None) -> None:
    """Console script: load plugins (which may add commands), then run (the root command sets logging up)."""
    from ..errors import ScaiVaultError
    from ..plugin_manager import make_plugin_manager

    try:
        pm = make_plugin_manager()
    except ScaiVaultError as exc:  # the operator's SCAIVAULT_CONFIG file, read before the command line
        raise SystemExit(f"Error ({exc.code}): {exc.message}") from None
    add_plugin_commands(pm)
    cli.main(args=argv, prog_name="scaivault", obj=Console(pm))


def add_plugin_commands(pm: Any) -> None:
    """Let plugins add commands through the ``register_commands`` hook."""
    try:
        pm.hook.register_commands(cli=cli)
    except Exception as exc:  # one broken plugin must not take the whole CLI down
        click.echo(f"Warning: a plugin failed to add its commands: {type(exc).__name__}", err=True)


if __name__ == "__main__":
    main()
