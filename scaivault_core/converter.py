"""The one cattrs converter: unknown keys are refused, so a typo is an error naming the field."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, TypeAlias, TypeVar, get_origin

import cattrs
from cattrs.errors import IterableValidationError, IterableValidationNote

from .durations import Duration
from .errors import InvalidConfig, ScaiVaultError

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


if TYPE_CHECKING:  # to a type checker, Unchecked[T] is T
    Unchecked: TypeAlias = Annotated[T, "unchecked"]
else:

    class Unchecked:
        """``Unchecked[T]``: a field typed ``T`` for its documentation (a JSON schema, a CLI option) whose
        value the converter passes through as it is, for the receiver to check (e.g. after the caller's
        permissions, so that a refused caller is audited rather than told about types)."""

        def __class_getitem__(cls, tp: Any) -> Any:
            return Annotated[tp, cls]


def is_unchecked(tp: Any) -> bool:
    return get_origin(tp) is Annotated and Unchecked in tp.__metadata__


# JSON has real booleans, numbers and lists: cattrs' defaults would read "false" as True, 2.7 as 2
# and "deploy" as ['d', 'e', ...]. A config that says something else is a mistake worth naming.
def _strict_bool(value: Any, _: type) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _strict_int(value: Any, _: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected a whole number")
    if not -(2**63) <= value < 2**63:  # no setting means more; a store or a driver would fail on it
        raise ValueError("expected a whole number within 64 bits")
    return value


def _strict_float(value: Any, _: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number")
    return float(value)


def _strict_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _is_sequence(cls: Any) -> bool:
    return getattr(cls, "__origin__", None) in (list, tuple, set, frozenset)


def _strict_duration(value: Any, _: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError("expected a duration ('1h', '30m') or a number of seconds")
    return value


def _strict_sequence(value: Any, cls: Any) -> Any:
    if not isinstance(value, (list, tuple)):
        raise ValueError("expected a list")
    args = [a for a in getattr(cls, "__args__", ()) if a is not Ellipsis] or [Any]
    items, errors = [], []
    for index, item in enumerate(value):
        try:
            items.append(converter.structure(item, args[0]))
        except Exception as exc:  # noted with its index, as cattrs does, so an error names "rules[2]"
            exc.__notes__ = [
                *getattr(exc, "__notes__", []),
                IterableValidationNote(f"Structuring {cls} @ index {index}", index, args[0]),
            ]
            errors.append(exc)
    if errors:
        raise IterableValidationError(f"While structuring {cls!r}", errors, cls)
    return cls.__origin__(items)


converter.register_structure_hook(bool, _strict_bool)
converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook(Duration, _strict_duration)
converter.register_structure_hook_func(is_unchecked, lambda value, _: value)
converter.register_structure_hook_func(_is_sequence, _strict_sequence)


def structure(data: Any, cls: type[T], *, error: type[ScaiVaultError] = InvalidConfig, where: str = "") -> T:
    """Build ``cls`` from plain data; a bad or unknown field raises ``error`` naming each field."""
    if not isinstance(data, dict):
        raise error(f"{where or cls.__name__} must be a JSON object.")
    try:
        return converter.structure(data, cls)
    except ScaiVaultError:
        raise
    except Exception as exc:  # cattrs raises ClassValidationError groups; flatten them to field names
        problems = _describe(exc, where)
        raise error(f"{'; '.join(problems)}.", fields=problems) from None


def unstructure(obj: Any) -> Any:
    """Plain data for an attrs object."""
    return converter.unstructure(obj)


def _describe(exc: BaseException, where: str) -> list[str]:
    prefix = f"{where}." if where else ""
    try:
        messages = cattrs.transform_error(exc, path=where or "$")
    except Exception:
        messages = [f"{prefix}{type(exc).__name__}"]
    # Values never enter these messages: cattrs names fields and expected types only,
    # except ValueErrors raised by our own validators, which never quote a value.
    return [m.replace("$.", prefix) for m in messages]
