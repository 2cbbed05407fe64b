"""Role templates: sandboxed, strict Jinja2, checked at role creation rather than at issue time.

Also generates the ``{{name}}`` of each credential: ``v_<role>_<random>``, unique, within the
target's length limit, from characters that need no quoting.
"""

from __future__ import annotations

import re
import string
import threading
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

from jinja2 import Environment, StrictUndefined, Template, TemplateError, meta, pass_context
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .engine import Engine
from .errors import InvalidConfig
from .randomness import random_string

CORE_VARIABLES = ("name", "password", "expiration", "ttl_seconds")
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits
RANDOM_LENGTH = 12  # 62 bits: a collision among a million live users is about one in ten million


class Templates:
    """One sandboxed environment per vault, with plugin filters; compiled templates are cached.

    Each engine class that offers ``quote`` (see ``Engine.quote``) gets its own view of that
    environment with the extra filter: ``render(..., engine=e)`` and ``validate(..., engine=e)``
    use it, so ``{{ x|quote }}`` calls ``e.quote(x)``, and is unknown in other engines' templates.
    """

    def __init__(self, filters: Mapping[str, Callable[..., Any]] = ()) -> None:
        self.env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.env.filters.update(dict(filters))
        self._compile = lru_cache(maxsize=4096)(self.env.from_string)
        self._views: dict[type, tuple[Environment, Callable[[str], Template]]] = {}
        self._views_lock = threading.Lock()

    def _view(self, engine: Engine | None) -> tuple[Environment, Callable[[str], Template]]:
        """The environment (and its compile cache) for ``engine``'s templates."""
        cls = type(engine)
        if engine is None or not offers_quote(cls):
            return self.env, self._compile
        with self._views_lock:
            view = self._views.get(cls)
            if view is None:
                env = self.env.overlay()
                env.filters = {**self.env.filters, "quote": _quote}  # overlay() shares the dict: copy it
                view = self._views[cls] = (env, lru_cache(maxsize=4096)(env.from_string))
            return view

    def validate(self, field: str, templates: Iterable[str], allowed: Iterable[str], engine: Engine | None = None) -> None:
        """Syntax and variables of each template; ``invalid_config`` naming the field and the problem."""
        allowed = set(allowed)
        env, compile_ = self._view(engine)
        for index, text in enumerate(templates):
            where = f"{field}[{index}]"
            if not isinstance(text, str):
                raise InvalidConfig(f"{where} must be a string.", field=where)
            try:
                unknown = meta.find_undeclared_variables(env.parse(text)) - allowed
                if not unknown:
                    compile_(text)  # unknown filters are found here
            except TemplateError as exc:
                raise InvalidConfig(f"{where} is not a valid template: {exc.message}.", field=where) from None
            if unknown:
                raise InvalidConfig(
                    f"{where} uses unknown template variable(s) {', '.join(sorted(unknown))}; "
                    f"available: {', '.join(sorted(allowed))}.",
                    field=where,
                    unknown=sorted(unknown),
                )

    def render(self, text: str, variables: Mapping[str, Any], engine: Engine | None = None) -> str:
        """Render one template (in ``engine``'s view, if given); errors name the problem, never the variables' values."""
        token = _rendering_for.set(engine)
        try:
            return self._view(engine)[1](text).render(variables)
        except TemplateError as exc:
            raise InvalidConfig(f"A template failed to render: {type(exc).__name__}.") from None
        finally:
            _rendering_for.reset(token)


def offers_quote(cls: type[Engine]) -> bool:
    """Whether an engine class has a ``quote`` filter: it overrides ``Engine.quote``."""
    return getattr(cls, "quote", Engine.quote) is not Engine.quote


_rendering_for: ContextVar[Engine | None] = ContextVar("scaivault_rendering_for", default=None)


@pass_context  # never folded at compile time: the result depends on the engine rendering it
def _quote(context: Any, value: Any) -> str:
    engine = _rendering_for.get()
    if engine is None:
        raise SecurityError("quote is only available while an engine renders its templates")
    if not isinstance(value, str):
        raise SecurityError("quote takes a string")
    return engine.quote(value)


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
    return re.compile(rf"{re.escape(prefix)}_[a-z0-9_]{{0,{room}}}_[a-z0-9]{{{RANDOM_LENGTH}}}")


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
