"""Values that take special handling on the command line, as small named adapters.

An operation's table entry names the adapters its command uses (``Command.inputs``): each adds its
own click parameters and makes one argument of the method from them (``"**"``: its ``**fields``).
JSON comes inline, from ``@file`` or from ``-`` (stdin), so secrets need not be in argv.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import click

from ..errors import InvalidRequest


@attrs.frozen
class Input:
    """Fills the method's argument ``fills`` from the click parameters ``params()`` make, with ``read``."""

    fills: str
    params: Callable[[], list[click.Parameter]]
    read: Callable[..., Any]  # called with this adapter's own click values, by parameter name

    def names(self) -> list[str]:
        return [param.name for param in self.params()]


def load_json(text: str, what: str) -> Any:
    """JSON from an option: inline, ``@file``, or ``-`` for stdin (so secrets need not be in argv)."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            raise InvalidRequest(f"Cannot read {what} from {text[1:]}: {exc.strerror}.") from None
    try:
        return json.loads(text)
    except ValueError:
        raise InvalidRequest(f"{what} is not valid JSON.", field=what) from None


def pairs(items: tuple[str, ...], what: str) -> dict[str, Any]:
    """``KEY=VALUE`` arguments; a value that parses as JSON (a list, a number) is taken as that."""
    result: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"{what} takes KEY=VALUE, not {item.split('=')[0]!r}.", field=what)
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def _object(text: str | None, what: str) -> dict[str, Any]:
    value = load_json(text, what) if text else {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"--{what} must be a JSON object.", field=what)
    return value


def _secret_data(fields: tuple[str, ...], data: str | None) -> Any:
    if data is not None and fields:
        raise InvalidRequest("Give --data or KEY=VALUE arguments, not both.")
    return load_json(data, "data") if data is not None else pairs(fields, "secrets put")


def _rules(rule: tuple[str, ...], rules: str | None) -> list[dict[str, Any]]:
    parsed = list(load_json(rules, "rules")) if rules else []
    for item in rule:
        pattern, sep, perms = item.rpartition("=")
        if not sep or not pattern:
            raise InvalidRequest(f"--rule takes PATTERN=PERM[,PERM], e.g. 'infra/**=read,list', not {item!r}.")
        parsed.append({"path_pattern": pattern, "permissions": [p.strip() for p in perms.split(",") if p.strip()]})
    return parsed


def _role_fields(body: str | None, settings: tuple[str, ...]) -> dict[str, Any]:
    fields = {**_object(body, "body"), **pairs(settings, "--set")}
    fields.pop("name", None)  # NAME is the command's argument
    return fields


def _settings(help: str) -> click.Option:
    return click.Option(["--set", "settings"], multiple=True, help=help)


INPUTS = {
    "secret_data": Input(
        "data",
        lambda: [
            click.Argument(["fields"], nargs=-1),
            click.Option(["--data"], help="The value as JSON, @FILE or - (stdin); or give KEY=VALUE arguments."),
        ],
        _secret_data,
    ),
    "rules": Input(
        "rules",
        lambda: [
            click.Option(["--rule"], multiple=True, help="PATTERN=PERM[,PERM] (repeatable)."),
            click.Option(["--rules"], help="The rules as JSON, @FILE or -."),
        ],
        _rules,
    ),
    "engine_config": Input(
        "config",
        lambda: [
            click.Option(["--config"], help="The engine config as JSON, @FILE or -."),
            _settings("One config field, KEY=VALUE (repeatable)."),
        ],
        lambda config, settings: {**_object(config, "config"), **pairs(settings, "--set")},
    ),
    "role_fields": Input(
        "**",
        lambda: [
            click.Option(["--body"], help="The role's fields as JSON, @FILE or -."),
            _settings("One role field, KEY=VALUE; JSON values allowed."),
        ],
        _role_fields,
    ),
    "request_params": Input(
        "**",
        lambda: [
            click.Option(["--param", "params"], multiple=True, help="An engine-specific request field, KEY=VALUE.")
        ],
        lambda params: pairs(params, "--param"),
    ),
}
