"""Request bodies: attrs classes with real types, structured and checked by the one converter.

Each class is what one operation accepts; its JSON schema is generated from it (``schemas``).
Unknown keys are refused, except by an open body (``open = True``), whose other fields are the
engine's own and reach the operation as keyword arguments. A field typed ``Unchecked[T]`` is
documented as ``T`` but checked by the operation itself, after the caller's permissions.
"""

# No "from __future__ import annotations": the field types are read at run time (schemas, the converter).
import functools
import types
from typing import Any, ClassVar, Union, get_args, get_origin

import attrs
from cattrs.errors import (
    AttributeValidationNote,
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)

from ..converter import Unchecked, converter, is_unchecked
from ..durations import Duration
from ..errors import InvalidRequest
from .schemas import field

# The same rules the core applies (policies.check_name, check_identity, validate_policy), as patterns.
NAME = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
IDENTITY = "^(sa|user|dynamic):[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$"
_SEGMENT = r"(\*\*|\*|[A-Za-z0-9._@=+-]+)"
PERMISSIONS = ["read", "create", "update", "delete", "list", "rotate", "revoke"]
SAME_AS_PATH = "If given, must equal the name in the path."


def parse(data: Any, cls: Any) -> tuple[Any, dict[str, Any]]:
    """``data`` as an instance of the body class ``cls``, and the fields an open body does not declare."""
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if cls is dict:  # a plugin's engine-specific object, taken as it is
        return data, {}
    extra: dict[str, Any] = {}
    if data and getattr(cls, "open", False):
        names = _names(cls)
        extra = {key: value for key, value in data.items() if key not in names}
        data = {key: value for key, value in data.items() if key in names}
    try:
        return converter.structure(data, cls), extra
    except Exception as exc:  # cattrs' groups of errors, flattened to one line per field; never a value
        problems = _problems(exc, "body", None)
        raise InvalidRequest(f"{'; '.join(problems)}.", fields=problems) from None


@functools.cache
def _names(cls: type) -> frozenset[str]:
    return frozenset(attrs.fields_dict(cls))


def _problems(exc: BaseException, path: str, tp: Any) -> list[str]:
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        noted, plain = exc.group_exceptions()
        found = []
        for inner, note in noted:
            where = f"{path}.{note.name}" if isinstance(note, AttributeValidationNote) else f"{path}[{note.index}]"
            found += _problems(inner, where, note.type)
        return found + [problem for inner in plain for problem in _problems(inner, path, None)]
    if isinstance(exc, KeyError):
        return [f"required field missing @ {path}"]
    if isinstance(exc, ForbiddenExtraKeysError):
        return [f"extra fields found ({', '.join(sorted(exc.extra_fields))}) @ {path}"]
    return [f"invalid type ({path.removeprefix('body.')} must be {_what(tp)}) @ body"]


_WHAT = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    dict: "a JSON object",
    list: "a list",
    Duration: "a duration ('1h', '30m') or a number of seconds",
}


def _what(tp: Any) -> str:
    """What a value of type ``tp`` must be, in words."""
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        nullable = len(members) < len(get_args(tp)) and members[0] is not Duration  # null is "no duration"
        return _what(members[0]) + (" or null" if nullable else "")
    if attrs.has(tp):
        return "a JSON object"
    return _WHAT.get(get_origin(tp) or tp, "valid")


def fields(cls: type) -> tuple[attrs.Attribute, ...]:
    """The fields of a body class (none for a plugin's ``dict``), ``Unchecked`` ones as the type they document."""
    if not attrs.has(cls):
        return ()
    return tuple(a.evolve(type=get_args(a.type)[0]) if is_unchecked(a.type) else a for a in attrs.fields(cls))


# -- the bodies ---------------------------------------------------------------------------------------


@attrs.define
class Rule:
    path_pattern: str = field(
        pattern=f"^{_SEGMENT}(/{_SEGMENT})*$",
        description="'/'-separated segments; '*' matches one segment, '**' any number.",
    )
    permissions: list[str] = field(minItems=1, items={"type": "string", "enum": PERMISSIONS})


@attrs.define
class SecretWrite:
    # Which JSON type data must be depends on secret_type: the core checks the two together.
    data: Any = field(
        type=["object", "string"], description="A JSON object (secret_type json) or a string (secret_type text)."
    )
    secret_type: str = field("json", enum=["json", "text"])


@attrs.define
class Rotate:
    reason: str | None = None
    grace_period: Duration | None = field(
        None, description="How long the previous version stays valid; '0' retires it at once."
    )


@attrs.define
class RotationPeriod:
    period: Duration | None = field(description="Rotate this often, e.g. '30d'; null or '0' stops it.")
    grace_period: Duration | None = field(None, description="How long each previous version stays valid.")


@attrs.define
class PolicyCreate:
    name: str = field(pattern=NAME)
    rules: list[Rule] = field(minItems=1)
    description: str = ""


@attrs.define
class PolicyUpdate:
    rules: list[Rule] = field(minItems=1)
    description: str = ""
    name: str | None = field(None, description=SAME_AS_PATH)


@attrs.define
class BindingCreate:
    identity: str = field(pattern=IDENTITY, description="sa:<name>, user:<name> or dynamic:<engine>.")


@attrs.define
class TokenCreate:
    identity: str = field(pattern=IDENTITY, description="sa:<name>, user:<name> or dynamic:<engine>.")
    ttl: Duration | None = field(
        None, description="Lifetime; absent or '0' for the operator's default, at most the operator's maximum."
    )
    display_name: str = ""


@attrs.define
class EngineSettings:
    type: str = field(description="database, aws, azure, gcp, ssh or custom.")
    config: dict[str, Any] = field(
        description="plugin (for type database), root_credentials_path, and the plugin's own fields."
    )
    default_ttl: Duration | None = None
    max_ttl: Duration | None = None
    max_leases: int | None = field(None, minimum=0, description="At most this many live leases.")
    max_leases_per_identity: int | None = field(
        None, minimum=0, description="At most this many live leases of the engine per calling identity."
    )


@attrs.define
class EngineCreate(EngineSettings):
    name: str = field(pattern=NAME, kw_only=True)


@attrs.define
class EngineUpdate(EngineSettings):
    name: str | None = field(None, description=SAME_AS_PATH)


@attrs.define
class RoleSettings:
    """name, default_ttl, max_ttl, max_leases, max_leases_per_identity, and the engine's own role fields
    (e.g. creation_statements)."""

    open: ClassVar[bool] = True
    # Checked by the core with the engine's own fields, after the caller's permission on the role.
    default_ttl: Unchecked[Duration | None] = None
    max_ttl: Unchecked[Duration | None] = None
    max_leases: Unchecked[int | None] = field(None, minimum=0, description="At most this many live leases.")
    max_leases_per_identity: Unchecked[int | None] = field(
        None, minimum=0, description="At most this many live leases of the role per calling identity."
    )


@attrs.define
class RoleCreate(RoleSettings):
    name: str = field(pattern=NAME, kw_only=True)


@attrs.define
class RoleUpdate(RoleSettings):
    name: str | None = field(None, description=SAME_AS_PATH)


@attrs.define
class Issue:
    """ttl and metadata, plus any request fields the engine defines."""

    open: ClassVar[bool] = True
    ttl: Duration | None = None
    metadata: dict[str, Any] | None = field(None, description="A JSON object recorded with the lease.")


@attrs.define
class Renew:
    increment: Duration | None = field(None, description="Added to the current expiry, capped at issue time + max_ttl.")


SYNC = (
    "false: answer 202 at once with a job to follow at GET /v1/sys/jobs/{job_id}, for work that may outlast "
    "a client's timeout."
)


@attrs.define
class RevokePrefix:
    prefix: str = field(pattern="^lease_", description="Lease ids starting with this ('lease_' for all).")
    engine: str | None = field(None, description="Only leases of this engine.")
    role: str | None = field(None, description="Only leases of this role of the engine (needs `engine`).")
    sync: bool = field(True, description=SYNC)


@attrs.define
class Reconcile:
    revoke: bool = field(False, description="Also remove the orphans found.")
    sync: bool = field(True, description=SYNC)
