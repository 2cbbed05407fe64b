"""``scaivault plugins``: the installed engine plugins, and a new plugin from the template."""

from __future__ import annotations

from pathlib import Path

import click

from ..api.paging import follow
from .output import emit, emit_rows
from .state import current, output


@click.group(invoke_without_command=True)
@output
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List installed engine plugins (and their load errors)."""
    if ctx.invoked_subcommand is None:
        state = current()
        if state.address:
            body = {"plugins": list(follow(state.api().plugins, "plugins")), "next": None}
        else:  # what this installation has, which needs no store (and works before `scaivault init`)
            from ..api.vault_api import plugin_list
            from ..plugin_manager import EngineRegistry, make_plugin_manager, plugin_infos

            state.pm = state.pm or make_plugin_manager()
            body = plugin_list(plugin_infos(state.pm, EngineRegistry(state.pm)))
        emit_rows(body, "plugins", ("name", "version", "engines", "error"))


@plugins.command("new")
@click.argument("name")
@click.option(
    "--dest",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory to create the plugin distribution in.",
)
@output
def plugins_new(name: str, dest: Path) -> None:
    """Create a new engine plugin distribution from the template."""
    try:
        from ..plugin_scaffold import new_plugin
    except ImportError:
        raise click.ClickException(
            "This installation has no plugin template (scaivault_core.plugin_scaffold)."
        ) from None
    created = new_plugin(name, dest)
    if current().for_scripts:
        emit({"created": str(created)})
    else:
        click.echo(f"Created {created}")
