"""The ``scaivault`` command line.

Every command runs against one small interface, the operations as methods (``VaultAPI``):
embedded, they run in-process on a local store (``--store`` / ``SCAIVAULT_STORE``) as the admin;
remote, ``ScaiVaultClient`` sends them to a server (``--address`` / ``SCAIVAULT_ADDR`` with
``SCAIVAULT_TOKEN``). The commands of operations are made from the operation table
(``operations``); the others are written out, one module per command group (``init``, ``server``,
``key``, ``plugins``, ``audit``); ``aliases`` holds the verbs of ``vault`` / ``bao`` that stand for
ours, ``complete`` the shell completion of engine, role and lease names. Errors become a message naming the error code and exit status 1,
in one place (``state.CLI.invoke``).
"""

from __future__ import annotations

from typing import Any

import click

from .aliases import read
from .audit import audit
from .init import init
from .key import key
from .operations import add_operation_commands, run_operation
from .output import HIDDEN
from .plugins import plugins
from .server import parse_listen, server
from .state import CLI, FORMATS, State

__all__ = ["HIDDEN", "add_plugin_commands", "cli", "main", "parse_listen", "run_operation"]


@click.group(cls=CLI)
@click.option("--store", envvar="SCAIVAULT_STORE", help="Local store: a file path or a postgresql:// URL.")
@click.option("--key-file", envvar="SCAIVAULT_KEY_FILE", help="The vault key (default: beside a SQLite store).")
@click.option("--address", envvar="SCAIVAULT_ADDR", help="A ScaiVault server, e.g. https://vault:8200.")
@click.option("--token", envvar="SCAIVAULT_TOKEN", help="Bearer token for --address (prefer SCAIVAULT_TOKEN).")
@click.option("--ca-cert", envvar="SCAIVAULT_CACERT", help="CA bundle that signed the server's certificate.")
@click.option("--format", type=FORMATS, envvar="SCAIVAULT_FORMAT", help="table (default) or json.")
@click.version_option(package_name="scaivault")
@click.pass_context
def cli(ctx: click.Context, store: str | None, key_file: str | None, address: str | None, token: str | None,
        ca_cert: str | None, format: str | None) -> None:
    """ScaiVault: dynamic secrets. Embedded on a local store, or against a server with --address."""
    pm = ctx.obj if ctx.obj is not None and not isinstance(ctx.obj, State) else None
    state = State(store, key_file, address, token, ca_cert, format, plugin_manager=pm)
    ctx.obj = state
    ctx.call_on_close(state.close)


for _command in (init, server, key, plugins, audit, read):
    cli.add_command(_command)
add_operation_commands(cli)


def main(argv: list[str] | None = None) -> None:
    """Console script: set up logging, load plugins (which may add commands), then run."""
    from ..logs import configure_logging
    from ..plugin_manager import make_plugin_manager

    configure_logging()
    pm = make_plugin_manager()
    add_plugin_commands(pm)
    cli.main(args=argv, prog_name="scaivault", obj=pm)


def add_plugin_commands(pm: Any) -> None:
    """Let plugins add commands through the ``register_commands`` hook."""
    try:
        pm.hook.register_commands(cli=cli)
    except Exception as exc:  # one broken plugin must not take the whole CLI down
        click.echo(f"Warning: a plugin failed to add its commands: {type(exc).__name__}", err=True)


if __name__ == "__main__":
    main()
