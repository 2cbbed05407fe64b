"""JSON schemas generated from attrs classes: the request bodies, the results, and their fields.

A field's type gives its JSON type (``str | None`` is ``["string", "null"]``, ``list[Rule]`` an
array of rule objects), its default decides whether it is required, and ``field(...)`` adds the
JSON-schema keywords the type cannot say (a description, a pattern, an enum, a minimum).
"""

from __future__ import annotations

import inspect
import types
from typing import Annotated, Any, Literal, NewType, Union, get_args, get_origin

import attrs

from ..durations import MAX_LENGTH as MAX_DURATION_LENGTH
from ..durations import Duration

Time = NewType("Time", str)  # an ISO 8601 date-time, as answers carry them: 2026-04-23T16:00:00Z

DURATION = {
    "type": ["string", "integer"],
    "maxLength": MAX_DURATION_LENGTH,
    "description": "A duration: '30m', '2h', '1h30m', '30d', '0', or whole seconds (ASCII digits).",
}
_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    bool: {"type": "boolean"},
    float: {"type": "number"},
    dict: {"type": "object"},
    Any: {},
    Duration: DURATION,
    Time: {"type": "string", "format": "date-time"},
}


def field(
    default: Any = attrs.NOTHING, *, description: str | None = None, kw_only: bool = False, **keywords: Any
) -> Any:
    """An attrs field with JSON-schema keywords: ``description``, ``pattern``, ``enum``, ``minimum``, ..."""
    schema = {key: value for key, value in {"description": description, **keywords}.items() if value is not None}
    return attrs.field(default=default, kw_only=kw_only, metadata={"schema": schema})


def description(attribute: attrs.Attribute) -> str:
    """A field's description (the CLI's option help), without the Markdown backticks."""
    return attribute.metadata.get("schema", {}).get("description", "").replace("`", "")


def schema_of(cls: type, *, closed: bool | None, components: frozenset[type] = frozenset()) -> dict[str, Any]:
    """The object schema of attrs class ``cls``.

    ``closed``: True for request bodies (``additionalProperties: false``, but true for an open body,
    whose class says so with ``open = True``), None for results (extra properties may come later).
    A nested class in ``components`` is a ``$ref``; any other is written inline.
    """
    properties: dict[str, Any] = {}
    required = []
    for attribute in attrs.fields(cls):
        schema = {**type_schema(attribute.type, closed, components), **attribute.metadata.get("schema", {})}
        if attribute.default is attrs.NOTHING:
            required.append(attribute.name)
        elif isinstance(attribute.default, (str, int, bool)) and "default" not in schema:
            schema["default"] = attribute.default
        properties[attribute.name] = schema
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    if closed is not None:
        result["additionalProperties"] = bool(getattr(cls, "open", False)) or not closed
    doc = inspect.getdoc(cls)  # a subclass's is its base's
    if doc:
        result["description"] = " ".join(doc.split())
    return result


def type_schema(tp: Any, closed: bool | None = None, components: frozenset[type] = frozenset()) -> dict[str, Any]:
    """The JSON schema of one annotation."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:  # Unchecked[T] is documented as T
        return type_schema(args[0], closed, components)
    if origin in (Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        if len(members) != 1:
            raise TypeError(f"no JSON schema for {tp!r}: only T | None unions")
        schema = dict(type_schema(members[0], closed, components))
        if len(members) < len(args):
            kind = schema.get("type", [])
            schema["type"] = [*(kind if isinstance(kind, list) else [kind]), "null"]
        return schema
    if origin is Literal:
        return {**_PRIMITIVES[type(args[0])], "enum": list(args)}
    if origin is list or tp is list:
        return {"type": "array", **({"items": type_schema(args[0], closed, components)} if args else {})}
    if origin is dict:
        return {"type": "object"}
    if attrs.has(tp):
        if tp in components:
            return {"$ref": f"#/components/schemas/{tp.__name__}"}
        return schema_of(tp, closed=closed, components=components)
    return dict(_PRIMITIVES[tp])
