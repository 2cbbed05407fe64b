"""Role templates: sandboxed, strict Jinja2, checked at role creation rather than at issue time.

Also generates the ``{{name}}`` of each credential: ``v_<role>_<random>``, unique, within the
target's length limit, from characters that need no quoting.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from jinja2 import StrictUndefined, TemplateError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .errors import InvalidConfig
from .randomness import random_string

CORE_VARIABLES = ("name", "password", "expiration", "ttl_seconds")
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits
RANDOM_LENGTH = 12  # 62 bits: a collision among a million live users is about one in ten million


class Templates:
    """One sandboxed environment per vault, with plugin filters; compiled templates are cached."""

    def __init__(self, filters: Mapping[str, Callable[..., Any]] = ()) -> None:
        self.env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.env.filters.update(dict(filters))
        self._compile = lru_cache(maxsize=4096)(self.env.from_string)

    def validate(self, field: str, templates: Iterable[str], allowed: Iterable[str]) -> None:
        """Syntax and variables of each template; ``invalid_config`` naming the field and the problem."""
        allowed = set(allowed)
        for index, text in enumerate(templates):
            where = f"{field}[{index}]"
            if not isinstance(text, str):
                raise InvalidConfig(f"{where} must be a string.", field=where)
            try:
                unknown = meta.find_undeclared_variables(self.env.parse(text)) - allowed
            except TemplateError as exc:
                raise InvalidConfig(f"{where} is not a valid template: {exc.message}.", field=where) from None
            if unknown:
                raise InvalidConfig(
                    f"{where} uses unknown template variable(s) {', '.join(sorted(unknown))}; "
                    f"available: {', '.join(sorted(allowed))}.",
                    field=where,
                    unknown=sorted(unknown),
                )

    def render(self, text: str, variables: Mapping[str, Any]) -> str:
        """Render one template; errors name the problem, never the variables' values."""
        try:
            return self._compile(text).render(variables)
        except TemplateError as exc:
            raise InvalidConfig(f"A template failed to render: {type(exc).__name__}.") from None


def generate_username(role: str, max_length: int, prefix: str = "v") -> str:
    """``v_<role>_<random>``: the role part is cut (never the random part) to fit ``max_length``.

    ``is_generated_username`` below recognises exactly these names: change both together.
    """
    random_part = random_string(_RANDOM_ALPHABET, RANDOM_LENGTH)
    role_part = re.sub(r"[^a-z0-9_]", "_", role.lower())
    room = max_length - len(prefix) - len(random_part) - 2
    if room < 1:
        return f"{prefix}_{random_part}"[:max_length]
    return f"{prefix}_{role_part[:room]}_{random_part}"


@lru_cache(maxsize=64)
def _generated_pattern(max_length: int, prefix: str) -> re.Pattern[str]:
    room = max_length - len(prefix) - RANDOM_LENGTH - 2
    if room < 1:  # a target too short for a role part: the random part, cut to fit
        kept = min(RANDOM_LENGTH, max_length - len(prefix) - 1)
        return re.compile(rf"{re.escape(prefix)}_[a-z0-9]{{{kept}}}" if kept > 0 else "(?!)")
    return re.compile(rf"{re.escape(prefix)}_[a-z0-9_]{{1,{room}}}_[a-z0-9]{{{RANDOM_LENGTH}}}")


def is_generated_username(name: object, max_length: int, prefix: str = "v") -> bool:
    """Whether ``name`` has the shape ``generate_username`` gives (``v_<role part>_<12 of a-z0-9>``).

    What a target lists is data: reconcile renders no name into a statement unless it passes this.
    """
    if not isinstance(name, str) or len(name) > max_length:
        return False
    return _generated_pattern(max_length, prefix).fullmatch(name) is not None


def template_list(value: str | list[str] | None) -> list[str]:
    """A role field that may hold one template or a list of them, as a list."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
