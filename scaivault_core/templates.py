"""Role templates: strict Jinja2 in the bounded sandbox (``sandbox.py``), checked at role creation
rather than at issue time.

Also generates the ``{{name}}`` of each credential: ``v_<role>_<random>``, unique, within the
target's length limit, from characters that need no quoting.
"""

from __future__ import annotations

import re
import string
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, pass_context

from . import sandbox
from .clock import iso
from .durations import MAX_SECONDS
from .engine import Engine
from .errors import InvalidConfig, ScaiVaultError
from .randomness import random_string
from .sandbox import TemplateRefused

CORE_VARIABLES = ("name", "password", "expiration", "ttl_seconds")
_RANDOM_ALPHABET = string.ascii_lowercase + string.digits
RANDOM_LENGTH = 12  # 62 bits: a collision among a million live users is about one in ten million
_SAMPLE_PASSWORD = "Sample-password.0123456~"  # the default generator's length and alphabet
_View = tuple[sandbox.RoleTemplateSandbox, Callable[[str], Template]]


class Templates:
    """One sandboxed environment per vault, with plugin filters; compiled templates are cached.

    Each engine class that offers ``quote`` (see ``Engine.quote``) gets its own view of that
    environment with the extra filter: ``render(..., engine=e)`` and ``validate(..., engine=e)``
    use it, so ``{{ x|quote }}`` calls ``e.quote(x)``, and is unknown in other engines' templates.
    """

    def __init__(self, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.env = sandbox.RoleTemplateSandbox(filters)
        self._base: _View = (self.env, _compiler(self.env))
        self._views: dict[type, _View] = {}
        self._views_lock = threading.Lock()

    def _view(self, engine: Engine | None) -> _View:
        """The environment (and its compile cache) for ``engine``'s templates."""
        if engine is None or not offers_quote(type(engine)):
            return self._base
        view = self._views.get(type(engine))
        if view is None:
            with self._views_lock:
                view = self._views.get(type(engine))
                if view is None:
                    env = self.env.overlay()
                    env.filters = {**self.env.filters, "quote": sandbox.bounded_filter(_quote)}  # overlay() shares it
                    view = self._views[type(engine)] = (env, _compiler(env))
        return view

    def validate(
        self, field: str, templates: Iterable[str], allowed: Iterable[str], engine: Engine | None = None
    ) -> None:
        """Each template's syntax, variables and constructs, then a trial render with sample values of every
        variable (the longest name, the largest TTL): what would fail at issue time fails now, as
        ``invalid_config`` naming the field and the reason, never a value."""
        allowed = set(allowed)
        env = self._view(engine)[0]
        samples: dict[str, Any] | None = None
        for index, text in enumerate(templates):
            where = f"{field}[{index}]"
            if not isinstance(text, str):
                raise InvalidConfig(f"{where} must be a string.", field=where)
            try:
                unknown = meta.find_undeclared_variables(sandbox.parse(env, text)) - allowed
                if unknown:
                    raise InvalidConfig(
                        f"{where} uses unknown template variable(s) {', '.join(sorted(unknown))}; "
                        f"available: {', '.join(sorted(allowed))}.",
                        field=where,
                        unknown=sorted(unknown),
                    )
                template = sandbox.compile_template(env, text)  # not cached: a refused template must not fill the cache
                samples = samples or sample_variables(allowed, engine)
                self._render(template, samples, engine)
            except TemplateSyntaxError as exc:
                raise InvalidConfig(
                    f"{where} is not a valid template: {(exc.message or '').rstrip('.')}.", field=where
                ) from None
            except TemplateRefused as exc:
                raise InvalidConfig(f"{where} is refused: it {exc.message}.", field=where) from None
            except InvalidConfig:
                raise
            except Exception as exc:  # 1/0, "a" - 1, a missing attribute: named by type, since messages quote values
                reason = exc.code if isinstance(exc, ScaiVaultError) else type(exc).__name__
                raise InvalidConfig(f"{where} fails to render with sample values ({reason}).", field=where) from None

    def render(self, text: str, variables: Mapping[str, Any], engine: Engine | None = None) -> str:
        """Render one template (in ``engine``'s view, if given); errors name the problem, never a value."""
        try:
            return self._render(self._view(engine)[1](text), variables, engine)
        except ScaiVaultError:
            raise
        except TemplateRefused as exc:
            raise InvalidConfig(f"A template failed to render: it {exc.message}.") from None
        except Exception as exc:
            raise InvalidConfig(f"A template failed to render: {type(exc).__name__}.") from None

    @staticmethod
    def _render(template: Template, variables: Mapping[str, Any], engine: Engine | None) -> str:
        token = _rendering_for.set(engine)
        try:
            return sandbox.render(template, variables)
        finally:
            _rendering_for.reset(token)


def _compiler(env: sandbox.RoleTemplateSandbox) -> Callable[[str], Template]:
    """A cached compile for ``env``: a role's templates compile once, not at every issue."""
    return lru_cache(maxsize=4096)(lambda text: sandbox.compile_template(env, text))


def sample_variables(allowed: Iterable[str], engine: Engine | None = None) -> dict[str, Any]:
    """Values for a trial render: the longest name the engine can be given, a password, the largest TTL
    and its expiration, and a short string for each variable a plugin adds."""
    max_length = type(engine).username_max_length if engine is not None else Engine.username_max_length
    expires_at = time.time() + MAX_SECONDS
    core = {
        "name": generate_username("sample" * 16, max_length),
        "password": _SAMPLE_PASSWORD,
        "expiration": engine.format_expiration(expires_at) if engine is not None else iso(expires_at),
        "ttl_seconds": MAX_SECONDS,
    }
    return {name: core.get(name, "sample") for name in allowed}


def offers_quote(cls: type[Engine]) -> bool:
    """Whether an engine class has a ``quote`` filter: it overrides ``Engine.quote``."""
    return getattr(cls, "quote", Engine.quote) is not Engine.quote


_rendering_for: ContextVar[Engine | None] = ContextVar("scaivault_rendering_for", default=None)


@pass_context  # never folded at compile time: the result depends on the engine rendering it
def _quote(context: Any, value: Any) -> str:
    engine = _rendering_for.get()
    if engine is None:
        raise TemplateRefused("uses quote outside an engine's own rendering")
    if not isinstance(value, str):
        raise TemplateRefused("quotes something other than a string")
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
