"""One operation, declared once: how it is reached (method, path, query, body), what it answers, who
may call it, how the command line shows it, and what does it (the ``VaultAPI`` method it calls).

The REST routes and the OpenAPI document (``scaivault_core.rest``), the Python client's methods
(``scaivault_core.client``) and the CLI's commands (``scaivault_core.cli``) are all made from a
list of these, ``table.OPERATIONS``. A plugin adds its own through the ``register_routes`` hook,
with a handler ``(api, call)`` of its own instead of a ``VaultAPI`` method.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import attrs

from ..converter import converter
from ..errors import InvalidRequest
from .bodies import fields, parse
from .commands import Command
from .vault_api import VaultAPI

JSON = "application/json"
# "{name}" or "{name:convertor}"; values of these convertors may hold '/' (secret paths).
PATH_PARAMETER = re.compile(r"\{(\w+)(?::(\w+))?\}")
SLASHED = ("any_path", "secret_path")


@attrs.frozen
class Query:
    """One query parameter: its JSON-schema type and what it means."""

    name: str
    description: str
    type: str = "string"
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    default: Any = None
    encode: Callable[[Any], Any] | None = None  # how the client writes a Python value (a datetime) into the URL
    required: bool = False

    def parse(self, raw: str | None) -> Any:
        if raw is None:
            if self.required:
                raise InvalidRequest(f"The query parameter {self.name} is required.", field=self.name)
            return self.default
        if self.type == "integer":
            if not re.fullmatch(r"-?[0-9]{1,12}", raw):  # [0-9], not isdigit(): that takes "٣", "²" too
                raise InvalidRequest(f"{self.name} must be a whole number.", field=self.name)
            value: Any = int(raw)
            if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            ):
                raise InvalidRequest(f"{self.name} must be between {self.minimum} and {self.maximum}.", field=self.name)
            return value
        if self.enum and raw not in self.enum:
            raise InvalidRequest(f"{self.name} must be one of {', '.join(self.enum)}.", field=self.name)
        return raw

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type}
        for key, value in (
            ("enum", list(self.enum) or None),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("default", self.default),
        ):
            if value is not None:
                schema[key] = value
        return schema


@attrs.frozen
class Call:
    """What a handler gets besides the API: path parameters, parsed query parameters, parsed body."""

    path: dict[str, str]
    query: dict[str, Any]
    body: Any
    extra: dict[str, Any] = attrs.field(factory=dict)  # an open body's fields beyond those its class declares


class Method:
    """The handler of a core operation: the ``VaultAPI`` method ``name``, its arguments taken by name
    from the path, the query and the body.

    ``renames`` maps a path parameter to the argument it fills (``engine="name"``); a body field
    naming an argument the path fills already must agree with it (``PUT /v1/policies/{name}`` with
    ``{"name": ...}``); an open body's other fields go to the method's ``**fields``.
    """

    def __init__(self, name: str, **renames: str) -> None:
        self.name, self.renames = name, renames
        self.signature = inspect.signature(getattr(VaultAPI, name))
        self.positional = [
            p.name for p in self.signature.parameters.values() if p.kind is p.POSITIONAL_ONLY and p.name != "self"
        ]

    def __repr__(self) -> str:
        return f"<Method {self.name}>"

    def __call__(self, api: VaultAPI, call: Call) -> Any:
        values = {self.renames.get(key, key): value for key, value in call.path.items()}
        values.update(call.query)
        if call.body is not None:
            for key, value in converter.unstructure(call.body).items():  # plain data, as VaultAPI takes
                if key not in values:
                    values[key] = value
                elif value is not None and value != values[key]:
                    raise InvalidRequest(f"The {key} in the body differs from the {key} in the path.", field=key)
        return self.invoke(api, values, call.extra)

    def invoke(self, api: Any, values: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
        """Call the method of ``api`` (a ``VaultAPI``, or a client with the same methods) with ``values`` by
        name; ``extra`` (an open body's other fields) only ever reaches its ``**fields``, even as "engine"."""
        values = dict(values)
        args = [values.pop(name) for name in self.positional]
        return getattr(api, self.name)(*args, **values, **(extra or {}))


def method(name: str, **renames: str) -> Method:
    """The handler that calls ``VaultAPI.<name>``: ``method("get_engine", engine="name")``."""
    return Method(name, **renames)


@attrs.frozen
class Operation:
    """One endpoint. Plugins may append these to the ``register_routes`` hook's list too: they are then
    served exactly like the core's (token, body, errors) and listed in the OpenAPI document."""

    method: str
    path: str  # starlette syntax; ``{path:secret_path}`` / ``{path:any_path}`` are the parameters that may hold '/'
    handler: Callable[[VaultAPI, Call], Any]  # the core's: ``method(name)``, calling ``VaultAPI.<name>``
    summary: str
    operation_id: str
    status: int = 200
    body: Any = None  # an attrs class from ``bodies``, or ``dict`` for an engine-specific object
    body_schema: dict[str, Any] | None = None  # for ``dict`` bodies; attrs classes carry their own
    body_required: bool = True
    response: Any = None  # a class from ``results`` (a plugin's: an inline JSON schema); None for 204 or non-JSON
    query: tuple[Query, ...] = ()
    # The answer's list that comes a page at a time (``after``/``limit`` in the query, ``next`` beside it).
    items: str = ""
    # What the Python client makes of the JSON answer (of each item of ``items``, in a ``paging.Page``): the
    # model the ``Vault`` method answers, by its ``from_dict``. None: the body as it is (a dict, text, None).
    answer: Callable[[Any], Any] | None = None
    auth: bool = True
    errors: tuple[int, ...] = ()  # statuses beyond those every authenticated operation may answer
    tag: str = ""
    description: str = ""
    # Not JSON: the handler returns text or bytes, served with this type (e.g. Prometheus text, a KRL).
    media_type: str = JSON
    permission: str = ""  # what the caller needs, for the docs: "`read` on `sys/audit`"
    # Long work: a body with ``"sync": false`` is answered 202 with this (``results.Job``) and a Location.
    accepted: Any = None
    cli: Command | None = None  # how ``scaivault`` offers it, if it does

    @property
    def name(self) -> str | None:
        """The ``VaultAPI`` method a core operation calls (None for a plugin's own handler)."""
        return self.handler.name if isinstance(self.handler, Method) else None

    def path_names(self) -> list[str]:
        return [name for name, _ in PATH_PARAMETER.findall(self.path)]

    def url(self, path: dict[str, Any]) -> str:
        """The path with its parameters filled in from ``path``, each quoted as one segment (or a secret path)."""

        def fill(match: re.Match[str]) -> str:
            return quote(str(path[match[1]]), safe="/" if match[2] in SLASHED else "")

        return PATH_PARAMETER.sub(fill, self.path)

    def run(
        self, api: VaultAPI, path: dict[str, str] | None = None, query: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """The handler on plain values, in-process: what the route would answer (the CLI's embedded mode)."""
        values = {q.name: (query or {}).get(q.name, q.default) for q in self.query}
        parsed, extra = parse({} if body is None else body, self.body) if self.body is not None else (None, {})
        return self.handler(api, Call(dict(path or {}), values, parsed, extra))

    def request(self, arguments: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
        """(url, query, JSON body) of a call to a core operation's method, from its arguments by name."""
        assert isinstance(self.handler, Method), "only core operations have a method's arguments"
        arguments = dict(arguments)
        for name, parameter in self.handler.signature.parameters.items():
            if parameter.kind is parameter.VAR_KEYWORD:
                arguments.update(arguments.pop(name, {}))
        url = self.url({p: arguments.pop(self.handler.renames.get(p, p)) for p in self.path_names()})
        query = {
            q.name: q.encode(value) if q.encode else value
            for q in self.query
            if (value := arguments.pop(q.name, None)) is not None
        }
        if self.body is None:
            return url, query, None
        required = {a.name for a in fields(self.body) if a.default is attrs.NOTHING}
        return url, query, {key: value for key, value in arguments.items() if value is not None or key in required}
