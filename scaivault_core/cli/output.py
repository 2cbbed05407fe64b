"""What commands print: JSON for scripts; for people, tables, ``key  value`` lines and short messages.

``show`` prints an operation's answer the way its table entry says (``api.commands``); the
presenters only one command has are in ``PRESENTERS``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import click

from ..api.commands import Done, Pages, Record, Rows, Shown, Text
from ..errors import InvalidRequest
from .state import current

HIDDEN = "<hidden: --reveal shows it>"


def emit(value: Any, columns: tuple[str, ...] = ()) -> None:
    """Print ``value`` as JSON, one ``--field`` of it raw, or as a table (a list of records) / key-value
    lines (one record)."""
    state = current()
    if state.field is not None:
        click.echo(raw(pick(value, state.field)))
    elif state.format == "json":
        click.echo(json.dumps(value, indent=2))
    elif isinstance(value, list):
        click.echo(_table(value, columns) if value else "(none)")
    elif isinstance(value, dict):
        width = max((len(k) for k in value), default=0)
        for key, item in value.items():
            click.echo(f"{key.ljust(width)}  {_cell(item)}")


def emit_raw(value: str | bytes, name: str) -> None:
    """A text or binary answer (the metrics, an ssh engine's CA keys or KRL): as it is for people and pipes;
    for scripts (``--format json``, ``--field``) ``{name: value}``, bytes as ``{name_base64: ...}``."""
    if not current().for_scripts:
        click.echo(value, nl=False)  # bytes go to stdout's binary buffer as they are
    elif isinstance(value, bytes):
        emit({f"{name}_base64": base64.b64encode(value).decode("ascii")})
    else:
        emit({name: value})


def emit_rows(body: dict[str, Any], key: str, columns: tuple[str, ...]) -> None:
    """A listing: the API's body as it is in json, its ``key`` rows as a table."""
    if current().for_scripts:
        emit(body)
    else:
        emit(body[key], columns)


def done(message: str) -> None:
    """Confirm an operation that answers nothing (scripts in json mode go by the exit status)."""
    if not current().for_scripts:
        click.echo(message)


def hide(data: Any, reveal: bool) -> Any:
    """Secret values stay off the terminal unless asked for."""
    if reveal:
        return data
    if isinstance(data, dict):
        return {key: HIDDEN for key in data}
    return HIDDEN


def pages(fetch: Callable[..., dict[str, Any]], key: str, columns: tuple[str, ...], all_pages: bool) -> None:
    """A paged listing: ``fetch(after=...)`` gives each page; ``--all`` follows ``next`` to the end."""
    first = page = fetch()
    items = list(page[key])
    while all_pages and page["next"] is not None:
        page = fetch(after=page["next"])
        items += page[key]
    if current().for_scripts:
        emit({**first, key: items, "next": page["next"]})
        return
    # A list of plain values (a policy's identities) is one column.
    emit([item if isinstance(item, dict) else {columns[0]: item} for item in items], columns)
    if page["next"] is not None:
        click.echo(f"(more: --after {page['next']})")


def show(how: Any, call: Callable[..., Any], arguments: dict[str, Any], flags: dict[str, Any]) -> None:
    """Run ``call`` (the operation, ``after=`` for another page) and print its answer as ``how`` says."""
    if isinstance(how, Done):
        call()
        done(how.message.format(**arguments))
    elif isinstance(how, Text):
        emit_raw(call(), "text")
    elif isinstance(how, Pages):
        pages(call, how.key, how.columns, flags["all_pages"])
    elif isinstance(how, Rows):
        emit_rows(call(), how.key, how.columns)
    elif isinstance(how, Shown):
        PRESENTERS[how.name](call())
    elif isinstance(how, Record):
        body = call()
        if how.reveal in body:
            body = {**body, how.reveal: hide(body[how.reveal], flags["reveal"])}
        emit(body)


def _reconcile(body: dict[str, Any]) -> None:
    """One row per user: orphan, revoked, failed (why), or skipped (why)."""
    if current().for_scripts:
        emit(body)
        return
    failed = {f["subject"]: f"failed ({f['code']}): {f['message']}" for f in body["failed"]}
    revoked = set(body["revoked"])
    rows = [
        {"subject": subject, "status": "revoked" if subject in revoked else failed.get(subject, "orphan")}
        for subject in body["orphans"]
    ]
    # A skipped name came from the target as it is: escaped, so it cannot write control characters to a terminal.
    rows += [
        {
            "subject": s["subject"] if s["subject"].isprintable() else json.dumps(s["subject"]),
            "status": f"skipped ({s['reason']})",
        }
        for s in body.get("skipped", [])
    ]
    emit(rows, ("subject", "status"))


def _explain(body: dict[str, Any]) -> None:
    """The answer in words, then the rules behind it, one line each."""
    if current().for_scripts:
        emit(body)
        return
    click.echo(body["message"])
    for verdict in body["principals"]:
        for grant in verdict["grants"]:
            click.echo(
                f"  {verdict['identity']}: rule {grant['rule']} of policy {grant['policy']} "
                f"({grant['path_pattern']}: {', '.join(grant['permissions'])})"
            )


PRESENTERS: dict[str, Callable[[Any], None]] = {"reconcile": _reconcile, "explain": _explain}


def pick(value: Any, name: str) -> Any:
    """The value ``name`` names in an answer: a key, or a dotted path of keys (``data.password``)."""
    found = value
    for key in name.split("."):
        if not isinstance(found, dict) or key not in found:
            keys = ", ".join(found) if isinstance(found, dict) else "none"
            raise InvalidRequest(f"The answer has no field {name!r} (fields here: {keys}).", field="field")
        found = found[key]
    if found == HIDDEN or (isinstance(found, dict) and HIDDEN in found.values()):
        raise InvalidRequest(f"{name} is a secret value: add --reveal to print it.", field="field")
    return found


def raw(value: Any) -> str:
    """A value as a script reads it: text as it is, null as nothing, anything else as JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    columns = columns or tuple(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
