"""The commands of operations, made from the operation table (``scaivault_core.api.table``).

For each operation with a ``Command``: positional arguments from the method's required parameters
(or the ones the entry names), an option per other parameter and per body or query field (type,
default and help from its declaration), the entry's input adapters, and ``--reveal``, ``--all``
``--format``, and ``--field`` where the answer has fields. Embedded or remote, the command
calls the same method: ``VaultAPI``'s, or the client's.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

import attrs
import click

from ..api import OPERATIONS, Method, Operation, Query, VaultAPI
from ..api.bodies import fields
from ..api.commands import AsJob, Command, Done, Pages, Record, Text
from ..api.schemas import description, type_schema
from ..errors import InvalidRequest
from .complete import completion
from .inputs import INPUTS, load_json
from .jobs import job_options, run_as_job
from .output import show
from .state import current, field_option, format_option

GROUPS = {
    "secrets": "Stored secrets (an engine's root credentials live here).",
    "policy": "Policies and their bindings to identities.",
    "engine": "Dynamic-secret engines.",
    "role": "Roles of an engine.",
    "lease": "Leases: renew, revoke, look up, list.",
    "token": "Bearer tokens (admin).",
    "job": "Long work (revoke-prefix, reconcile) running in the background.",
}


def add_operation_commands(cli: click.Group) -> None:
    """Every operation's command, in its group (made here) or at the top."""
    for op in OPERATIONS:
        if op.cli is None:
            continue
        group_name, _, verb = op.cli.name.rpartition(" ")
        group = cli
        if group_name:
            if group_name not in cli.commands:
                cli.add_command(click.Group(group_name, help=GROUPS[group_name]))
            found = cli.commands[group_name]
            assert isinstance(found, click.Group), f"{group_name!r} is a command, not a group of commands"
            group = found
        group.add_command(command(op), verb)


def command(op: Operation) -> click.Command:
    """The click command of ``op``: its parameters from the declarations, its callback the method call."""
    spec, method = op.cli, op.handler
    if spec is None or not isinstance(method, Method):
        raise ValueError(f"{op.operation_id} is no core operation with a command")
    inputs = [INPUTS[name] for name in spec.inputs]
    as_job = isinstance(spec.show, AsJob)
    filled = {adapter.fills for adapter in inputs} | ({"sync"} if as_job else set())
    arguments, options, named = _names(op, spec, method, filled)
    declared = {**{a.name: a for a in fields(op.body)}, **{q.name: q for q in op.query}}
    group = spec.name.rpartition(" ")[0]
    params: list[click.Parameter] = [click.Argument([name], **completion(group, name)) for name in arguments]
    params += [option(name, declared.get(name), spec.flags.get(name), **completion(group, name)) for name in options]
    for adapter in inputs:
        params += adapter.params()
    if isinstance(spec.show, Record) and spec.show.reveal:
        params.append(click.Option(["--reveal"], is_flag=True, help=spec.show.reveal_help))
    if isinstance(spec.show, Pages):
        params.append(click.Option(["--all", "all_pages"], is_flag=True, help="Follow pages to the end."))
    if as_job:
        params += job_options()
    params.append(format_option())
    if not isinstance(spec.show, (Done, Text)):
        params.append(field_option())

    def run(**given: Any) -> None:
        flags: dict[str, Any] = {
            name: given.pop(name) for name in ("reveal", "all_pages", "timeout", "no_wait") if name in given
        }
        extra: dict[str, Any] = {}  # for the method's **fields
        for adapter in inputs:
            value = adapter.read(**{name: given.pop(name) for name in adapter.names()})
            if adapter.fills == "**":
                extra.update(value)
            else:
                given[adapter.fills] = value
        for name in [name for name in given if name not in named]:  # body fields the method takes as **fields
            if (value := given.pop(name)) is not None:
                extra[name] = value
        check_field(op, current().field, flags.get("reveal", False))
        api = current().api()
        if as_job:
            run_as_job(
                spec.show,
                lambda: method.invoke(api, {**given, "sync": False}, extra),
                api,
                given,
                flags,
                flags["timeout"],
                flags["no_wait"],
            )
            return
        show(spec.show, lambda **more: method.invoke(api, {**given, **more}, extra), given, flags)

    return click.Command(None, callback=run, params=params, help=spec.help)


def check_field(op: Operation, field: str | None, reveal: bool) -> None:
    """Refuse a ``--field`` the answer cannot have, or a hidden one, before the operation runs: a typo
    in a script must not issue a credential it then cannot print."""
    if field is None:
        return
    top = field.split(".")[0]
    if attrs.has(op.response) and top not in attrs.fields_dict(op.response):
        raise InvalidRequest(
            f"The answer has no field {field!r} (fields here: {', '.join(attrs.fields_dict(op.response))}).",
            field="field",
        )
    show = op.cli.show if op.cli is not None else None
    if isinstance(show, Record) and top == show.reveal and not reveal:
        raise InvalidRequest(f"{field} is a secret value: add --reveal to print it.", field="field")


def _names(
    op: Operation, spec: Command, method: Method, filled: set[str]
) -> tuple[tuple[str, ...], list[str], list[str]]:
    """(positional arguments, options, the method's named parameters) of ``op``'s command.

    By default the arguments are the method's parameters without a default; every other parameter
    is an option, and so is every other body field of a method that takes ``**fields`` (a role's
    ``default_ttl``, say). Parameters an input adapter fills are neither.
    """
    parameters = [p for p in method.signature.parameters.values() if p.name != "self"]
    named = [p.name for p in parameters if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    arguments = (
        spec.arguments
        if spec.arguments is not None
        else tuple(p.name for p in parameters if p.name in named and p.default is p.empty and p.name not in filled)
    )
    options = [name for name in named if name not in arguments and name not in filled]
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        options += [a.name for a in fields(op.body) if a.name not in named and a.name not in filled]
    return arguments, options, named


def option(name: str, declared: Any, flag: str | None = None, **overrides: Any) -> click.Option:
    """The option for a parameter: its type, default and help from its body field or query parameter."""
    kind: type = str
    choices: tuple[str, ...] = ()
    default: Any = None
    help = ""
    if isinstance(declared, Query):
        kind = int if declared.type == "integer" else str
        choices, default, help = declared.enum, declared.default, declared.description.replace("`", "")
    elif isinstance(declared, attrs.Attribute):
        kind = _scalar(declared.type)
        choices = tuple(declared.metadata.get("schema", {}).get("enum", ()))
        default = None if declared.default is attrs.NOTHING else declared.default
        help = description(declared) or type_schema(declared.type).get("description", "")
    attributes: dict[str, Any] = {"help": help or None, "default": default}
    if kind is bool:
        attributes["is_flag"] = True
    elif kind is dict:  # a JSON object: inline, @FILE or -
        attributes["callback"] = lambda _ctx, _param, value: load_json(value, name) if value else None
    elif choices:
        attributes["type"] = click.Choice(list(choices))
    elif kind is int:
        attributes["type"] = int
    if isinstance(declared, attrs.Attribute) and declared.default is attrs.NOTHING:
        attributes["required"] = True
    attributes.update(overrides)
    if attributes["default"] not in (None, "", False):
        attributes["show_default"] = True
    return click.Option([flag or "--" + name.replace("_", "-"), name], **attributes)


def _scalar(tp: Any) -> type:
    """The Python type a CLI value is read as: ``int | None`` is ``int``; a JSON object is ``dict``."""
    if get_origin(tp) in (Union, types.UnionType):
        tp = next(a for a in get_args(tp) if a is not type(None))
    tp = get_origin(tp) or tp
    return tp if tp in (bool, int, dict) else str


def run_operation(
    op: Operation, path: dict[str, str] | None = None, query: dict[str, Any] | None = None, body: Any = None
) -> Any:
    """Run a plugin's ``Operation`` in either mode: its handler in-process, or its request to the server.

    A plugin command is written once with this, like the core's commands against ``VaultAPI``.
    The answer is the route's: JSON data, or text / bytes for a non-JSON media type.
    """
    api = current().api()
    if isinstance(api, VaultAPI):
        return op.run(api, path, query, body)
    return api._operation(op, dict(path or {}), query, body)
