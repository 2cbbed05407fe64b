"""Request bodies: read within a size limit, parsed as JSON, structured into small attrs classes.

Each class refuses unknown keys (the core's converter) and checks JSON types strictly (the
converter alone would turn ``123`` into ``"123"``). Its ``schema`` is the OpenAPI description of
the same body, kept beside the class so the two cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any, Callable, ClassVar

import attrs
from starlette.requests import Request

from ..converter import structure
from ..durations import MAX_LENGTH as MAX_DURATION_LENGTH
from ..errors import InvalidRequest
from .errors import PayloadTooLarge

MAX_BODY_BYTES = 1024 * 1024


EMPTY = object()  # no body at all, which optional bodies read as {} (unlike an explicit JSON null)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON (``EMPTY`` when there is none); too large is 413, malformed is 400."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):  # not "²"
        raise PayloadTooLarge(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(limit)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        return EMPTY
    try:
        return json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise InvalidRequest("The request body is not valid JSON.") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(data: Any, cls: type) -> Any:
    """``data`` as an instance of the body class ``cls``; no body at all counts as ``{}``."""
    if data is EMPTY:
        data = {}
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data if cls is dict else structure(data, cls, error=InvalidRequest, where="body")


# -- strict JSON type checks, as attrs validators -------------------------------------------------

def _expect(what: str, test: Callable[[Any], bool]) -> Callable[[Any, Any, Any], None]:
    def validator(_instance: Any, attribute: Any, value: Any) -> None:
        if not test(value):
            raise TypeError(f"{attribute.name} must be {what}")  # names the field, never the value
    return validator


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


STRING = _expect("a string", lambda v: isinstance(v, str))
OPTIONAL_STRING = _expect("a string or null", lambda v: v is None or isinstance(v, str))
DURATION = _expect("a duration ('1h', '30m') or a number of seconds",
                   lambda v: v is None or isinstance(v, str) or _is_int(v))
OBJECT = _expect("a JSON object", lambda v: isinstance(v, dict))
BOOLEAN = _expect("true or false", lambda v: isinstance(v, bool))
OPTIONAL_COUNT = _expect("a whole number or null", lambda v: v is None or _is_int(v))


def _rules(_instance: Any, attribute: Any, rules: Any) -> None:
    if not isinstance(rules, list):
        raise TypeError("rules must be a list of {path_pattern, permissions} objects")
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict) or set(rule) != {"path_pattern", "permissions"}:
            raise TypeError(f"rules[{i}] must be an object with exactly path_pattern and permissions")
        if not isinstance(rule["path_pattern"], str):
            raise TypeError(f"rules[{i}].path_pattern must be a string")
        perms = rule["permissions"]
        if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
            raise TypeError(f"rules[{i}].permissions must be a list of strings")


# -- JSON schema fragments ----------------------------------------------------------------------------

DURATION_SCHEMA = {"type": ["string", "integer", "null"], "maxLength": MAX_DURATION_LENGTH,
                   "description": "A duration: '30m', '2h', '1h30m', '30d', '0', or whole seconds (ASCII digits)."}
PERMISSIONS = ["read", "create", "update", "delete", "list", "rotate", "revoke"]
# The same rules the core applies (policies.check_name, check_identity, validate_policy), as JSON schema.
NAME_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"}
IDENTITY_SCHEMA = {"type": "string", "pattern": "^(sa|user|dynamic):[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$",
                   "description": "sa:<name>, user:<name> or dynamic:<engine>."}
_SEGMENT = r"(\*\*|\*|[A-Za-z0-9._@=+-]+)"
PATH_PATTERN_SCHEMA = {"type": "string", "pattern": f"^{_SEGMENT}(/{_SEGMENT})*$",
                       "description": "'/'-separated segments; '*' matches one segment, '**' any number."}
RULE_SCHEMA = {
    "type": "object",
    "required": ["path_pattern", "permissions"],
    "additionalProperties": False,
    "properties": {
        "path_pattern": PATH_PATTERN_SCHEMA,
        "permissions": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": PERMISSIONS}},
    },
}


def _object(properties: dict[str, Any], required: list[str], *, extra: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": extra}
    if required:
        schema["required"] = required
    return schema


# -- the bodies ---------------------------------------------------------------------------------------

@attrs.define
class SecretWrite:
    data: Any
    secret_type: Any = attrs.field(default="json", validator=STRING)
    schema: ClassVar[dict] = _object(
        {"data": {"type": ["object", "string"],
                  "description": "A JSON object (secret_type json) or a string (secret_type text)."},
         "secret_type": {"type": "string", "enum": ["json", "text"], "default": "json"}},
        ["data"])


@attrs.define
class Rotate:
    reason: Any = attrs.field(default=None, validator=OPTIONAL_STRING)
    grace_period: Any = attrs.field(default=None, validator=DURATION)
    schema: ClassVar[dict] = _object(
        {"reason": {"type": ["string", "null"]},
         "grace_period": {**DURATION_SCHEMA, "description": "How long the previous version stays valid; '0' retires it at once."}},
        [])


@attrs.define
class RotationPeriod:
    period: Any = attrs.field(validator=DURATION)
    grace_period: Any = attrs.field(default=None, validator=DURATION)
    schema: ClassVar[dict] = _object(
        {"period": {**DURATION_SCHEMA, "description": "Rotate this often, e.g. '30d'; null or '0' stops it."},
         "grace_period": {**DURATION_SCHEMA, "description": "How long each previous version stays valid."}},
        ["period"])


@attrs.define
class Reconcile:
    revoke: Any = attrs.field(default=False, validator=BOOLEAN)
    schema: ClassVar[dict] = _object(
        {"revoke": {"type": "boolean", "default": False, "description": "Also remove the orphans found."}}, [])


@attrs.define
class PolicyCreate:
    name: Any = attrs.field(validator=STRING)
    rules: Any = attrs.field(validator=_rules)
    description: Any = attrs.field(default="", validator=STRING)
    schema: ClassVar[dict] = _object(
        {"name": NAME_SCHEMA, "rules": {"type": "array", "minItems": 1, "items": RULE_SCHEMA},
         "description": {"type": "string"}},
        ["name", "rules"])


@attrs.define
class PolicyUpdate:
    rules: Any = attrs.field(validator=_rules)
    description: Any = attrs.field(default="", validator=STRING)
    name: Any = attrs.field(default=None, validator=OPTIONAL_STRING)
    schema: ClassVar[dict] = _object(
        {"rules": {"type": "array", "minItems": 1, "items": RULE_SCHEMA}, "description": {"type": "string"},
         "name": {"type": ["string", "null"], "description": "If given, must equal the name in the path."}},
        ["rules"])


@attrs.define
class BindingCreate:
    identity: Any = attrs.field(validator=STRING)
    schema: ClassVar[dict] = _object(
        {"identity": IDENTITY_SCHEMA}, ["identity"])


@attrs.define
class TokenCreate:
    identity: Any = attrs.field(validator=STRING)
    ttl: Any = attrs.field(default=None, validator=DURATION)
    display_name: Any = attrs.field(default="", validator=STRING)
    schema: ClassVar[dict] = _object(
        {"identity": IDENTITY_SCHEMA, "ttl": {**DURATION_SCHEMA, "description": "Lifetime; absent or '0' for the operator's "
                                                             "default, at most the operator's maximum."},
         "display_name": {"type": "string"}},
        ["identity"])


_ENGINE_PROPERTIES = {
    "type": {"type": "string", "description": "database, aws, azure, gcp, ssh or custom."},
    "config": {"type": "object", "description": "plugin (for type database), root_credentials_path, and the plugin's own fields."},
    "default_ttl": DURATION_SCHEMA,
    "max_ttl": DURATION_SCHEMA,
    "max_leases": {"type": ["integer", "null"], "minimum": 0},
    "max_leases_per_identity": {"type": ["integer", "null"], "minimum": 0,
                                "description": "At most this many live leases of the engine per calling identity."},
}


@attrs.define
class EngineCreate:
    name: Any = attrs.field(validator=STRING)
    type: Any = attrs.field(validator=STRING)
    config: Any = attrs.field(validator=OBJECT)
    default_ttl: Any = attrs.field(default=None, validator=DURATION)
    max_ttl: Any = attrs.field(default=None, validator=DURATION)
    max_leases: Any = attrs.field(default=None, validator=OPTIONAL_COUNT)
    max_leases_per_identity: Any = attrs.field(default=None, validator=OPTIONAL_COUNT)
    schema: ClassVar[dict] = _object({"name": NAME_SCHEMA, **_ENGINE_PROPERTIES}, ["name", "type", "config"])


@attrs.define
class EngineUpdate:
    type: Any = attrs.field(validator=STRING)
    config: Any = attrs.field(validator=OBJECT)
    default_ttl: Any = attrs.field(default=None, validator=DURATION)
    max_ttl: Any = attrs.field(default=None, validator=DURATION)
    max_leases: Any = attrs.field(default=None, validator=OPTIONAL_COUNT)
    max_leases_per_identity: Any = attrs.field(default=None, validator=OPTIONAL_COUNT)
    name: Any = attrs.field(default=None, validator=OPTIONAL_STRING)
    schema: ClassVar[dict] = _object(
        {**_ENGINE_PROPERTIES, "name": {"type": ["string", "null"], "description": "If given, must equal the name in the path."}},
        ["type", "config"])


@attrs.define
class Renew:
    increment: Any = attrs.field(default=None, validator=DURATION)
    schema: ClassVar[dict] = _object(
        {"increment": {**DURATION_SCHEMA, "description": "Added to the current expiry, capped at issue time + max_ttl."}}, [])


@attrs.define
class RevokePrefix:
    prefix: Any = attrs.field(validator=STRING)
    engine: Any = attrs.field(default=None, validator=OPTIONAL_STRING)
    schema: ClassVar[dict] = _object(
        {"prefix": {"type": "string", "pattern": "^lease_", "description": "Lease ids starting with this ('lease_' for all)."},
         "engine": {"type": ["string", "null"]}},
        ["prefix"])


# Engine-specific bodies: the core structures them into the engine's own classes and refuses unknown keys.
ROLE_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": True,
    "description": "name, default_ttl, max_ttl, max_leases, max_leases_per_identity, and the engine's own role "
                   "fields (e.g. creation_statements).",
    "properties": {"name": NAME_SCHEMA, "default_ttl": DURATION_SCHEMA, "max_ttl": DURATION_SCHEMA,
                   "max_leases": {"type": ["integer", "null"], "minimum": 0},
                   "max_leases_per_identity": {"type": ["integer", "null"], "minimum": 0,
                                               "description": "At most this many live leases of the role per calling identity."}},
}
ROLE_UPDATE_SCHEMA = {**ROLE_SCHEMA, "required": [],
                      "properties": {**ROLE_SCHEMA["properties"], "name": {"type": "string", "description": "If given, must equal the name in the path."}}}
ISSUE_SCHEMA = {
    "type": "object",
    "additionalProperties": True,
    "description": "ttl and metadata, plus any request fields the engine defines.",
    "properties": {"ttl": DURATION_SCHEMA, "metadata": {"type": ["object", "null"]}},
}


def role_fields(body: dict[str, Any], name: str | None = None) -> tuple[str, dict[str, Any]]:
    """(name, other fields) of a role body; a name in the body must match the one in the path."""
    fields = dict(body)
    given = fields.pop("name", None)
    if name is not None and given is not None and given != name:
        raise InvalidRequest("The name in the body differs from the name in the path.", field="name")
    name = name if name is not None else given
    if not isinstance(name, str):
        raise InvalidRequest("name must be a string.", field="name")
    return name, fields


def issue_fields(body: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """(ttl, metadata, engine request fields) of a credentials request."""
    params = dict(body)
    ttl, metadata = params.pop("ttl", None), params.pop("metadata", None)
    if not (ttl is None or isinstance(ttl, str) or _is_int(ttl)):
        raise InvalidRequest("ttl must be a duration ('1h', '30m') or a number of seconds.", field="ttl")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidRequest("metadata must be a JSON object.", field="metadata")
    return ttl, metadata, params


def same_name(given: Any, name: str) -> None:
    if given is not None and given != name:
        raise InvalidRequest("The name in the body differs from the name in the path.", field="name")
