"""The one cattrs converter: unknown keys are refused, so a typo is an error naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

import cattrs

from .errors import InvalidConfig, ScaiVaultError

T = TypeVar("T")

converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


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
