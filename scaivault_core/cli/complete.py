"""Shell completion of names the vault knows: engines, roles, live leases.

click completes commands and options itself (``_SCAIVAULT_COMPLETE=bash_source scaivault``,
docs/cli.md#shell-completion); these callbacks add the values, asking the vault the command would
talk to (the embedded store or the server, from the same options and variables). Completion never
fails the shell: no store, no server or no token means no suggestions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .state import State

Lister = Callable[[Any, click.Context, str], list[str]]


def _engines(api: Any, ctx: click.Context, incomplete: str) -> list[str]:
    return [engine["name"] for engine in api.list_engines()["engines"]]


def _roles(api: Any, ctx: click.Context, incomplete: str) -> list[str]:
    engine = ctx.params.get("engine")
    return [role["name"] for role in api.list_roles(engine)["roles"]] if engine else []


def _leases(api: Any, ctx: click.Context, incomplete: str) -> list[str]:
    page = api.list_leases(state="live", prefix=incomplete or None, limit=200)
    return [lease["lease_id"] for lease in page["leases"]]


# (command group, parameter) -> what it names; "*" is any group. `engine show NAME` names an engine,
# `role show ENGINE NAME` a role.
COMPLETERS: dict[tuple[str, str], Lister] = {
    ("*", "engine"): _engines,
    ("engine", "name"): _engines,
    ("*", "role"): _roles,
    ("role", "name"): _roles,
    ("*", "lease_id"): _leases,
}


def completion(group: str, parameter: str) -> dict[str, Any]:
    """``shell_complete=`` for a parameter that names something the vault has, else nothing."""
    lister = COMPLETERS.get((group, parameter)) or COMPLETERS.get(("*", parameter))
    return {"shell_complete": _asking(lister)} if lister else {}


def _asking(lister: Lister) -> Callable[[click.Context, click.Parameter, str], list[str]]:
    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
        root = ctx.find_root()  # parsed, not run: its options are the settings the command would use
        flags = dict(root.params)
        config = flags.pop("config", None)
        pm = None if root.obj is None or isinstance(root.obj, State) else getattr(root.obj, "pm", root.obj)
        state = None
        try:
            state = State(config, flags, plugin_manager=pm)
            names = lister(state.api(), ctx, incomplete)
        except Exception:  # a completion that cannot ask offers nothing, and never a traceback in the shell
            return []
        finally:
            try:
                if state is not None:
                    state.close()
            except Exception:
                pass
        return sorted(name for name in names if name.startswith(incomplete))

    return complete
