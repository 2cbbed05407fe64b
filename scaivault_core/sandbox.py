"""The sandbox templates run in: what a template may contain, and a bound on what it may cost.

Role templates come from API callers, so they are untrusted code running inside the server. Jinja's
immutable sandbox keeps them away from Python's internals; this module narrows it further, so that
validating or rendering one template costs bounded time and memory:

- **What a template may contain** is checked on the parsed template, before it is compiled:
  output (``{{ ... }}``) and ``{% if %}`` blocks; expressions over variables and literals with
  arithmetic, comparisons, ``and``/``or``/``not``, ``~``, conditional expressions, attribute and item
  access, slicing, the filters and tests of ``SAFE_FILTERS``/``SAFE_TESTS`` (plus the plugins' and
  the engine's), and calls of the string methods in ``SAFE_STRING_METHODS``. No loops, ``set``,
  macros, calls of anything else, includes, or names starting with ``_``; no globals (``range``,
  ``lipsum``, ...). Without loops, the number of operations a template runs is bounded by its length.
- **What each operation may make** is checked as it runs, before the expensive part where one
  operation could grow without bound (``**``, ``*`` of a string or list, ``center``, ``indent``,
  ``replace``, ``join``, ...) and on every result: no string or list longer than
  ``MAX_VALUE_LENGTH``, no integer wider than ``MAX_INTEGER_BITS``, no output longer than
  ``MAX_OUTPUT_LENGTH``, and, as the last resort, no render longer than ``MAX_RENDER_SECONDS``
  (checked at every operation, so no single step can hold the interpreter for long).

Jinja folds constant expressions when it compiles a template. Every arithmetic operator is
intercepted (``intercepted_binops``), and every filter and test is marked ``pass_context``, which
is what stops Jinja from folding them: compiling only ever evaluates literals from the template's
own text, and everything else runs, bounded, when the template renders.
"""

from __future__ import annotations

import time
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any, cast

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS
from jinja2.utils import _PassArg

MAX_TEMPLATE_LENGTH = 16_384  # characters of one template's text
MAX_VALUE_LENGTH = 16_384  # characters of a string, or items (and their characters) of a list, a step makes
MAX_OUTPUT_LENGTH = 65_536  # characters one render produces
MAX_INTEGER_BITS = 256  # about 77 decimal digits
MAX_RENDER_SECONDS = 1.0  # of one render; each step is far cheaper, so only a template of many steps gets near

SAFE_FILTERS = (
    "abs",
    "capitalize",
    "center",
    "count",
    "d",
    "default",
    "first",
    "float",
    "indent",
    "int",
    "join",
    "last",
    "length",
    "list",
    "lower",
    "max",
    "min",
    "replace",
    "reverse",
    "round",
    "sort",
    "string",
    "sum",
    "title",
    "trim",
    "truncate",
    "unique",
    "upper",
    "urlencode",
    "wordcount",
)
SAFE_TESTS = tuple(sorted(set(TESTS) - {"callable", "escaped", "filter", "test"}))
SAFE_STRING_METHODS = frozenset(
    {
        "capitalize",
        "casefold",
        "center",
        "count",
        "endswith",
        "find",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isspace",
        "istitle",
        "isupper",
        "join",
        "ljust",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "replace",
        "rfind",
        "rindex",
        "rjust",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
        "zfill",
    }
)

_ALLOWED_NODES = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.Name,
    nodes.Const,
    nodes.Concat,
    nodes.Compare,
    nodes.Operand,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Neg,
    nodes.Pos,
    nodes.Add,
    nodes.Sub,
    nodes.Mul,
    nodes.Div,
    nodes.FloorDiv,
    nodes.Mod,
    nodes.Pow,
    nodes.CondExpr,
    nodes.Filter,
    nodes.Test,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Call,
    nodes.Tuple,
    nodes.List,
    nodes.Dict,
    nodes.Pair,
    nodes.Keyword,
)
_CONSTRUCTS: dict[type[nodes.Node], str] = {  # how a refusal names what a template used
    nodes.For: "a for loop",
    nodes.Assign: "set",
    nodes.AssignBlock: "set",
    nodes.Macro: "a macro",
    nodes.CallBlock: "a call block",
    nodes.FilterBlock: "a filter block",
    nodes.With: "a with block",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
    nodes.Block: "a block",
    nodes.ScopedEvalContextModifier: "autoescape",
    nodes.ExprStmt: "do",
}

_deadline: ContextVar[float | None] = ContextVar("scaivault_template_deadline", default=None)


class TemplateRefused(SecurityError):
    """The sandbox refused a template. The message says why and never quotes a value."""


def check_template(env: RoleTemplateSandbox, tree: nodes.Template) -> None:
    """Refuse what the sandbox does not run: disallowed constructs, ``_`` names, unknown filters and tests."""
    for node in (tree, *tree.find_all(nodes.Node)):
        if not isinstance(node, _ALLOWED_NODES):
            construct = _CONSTRUCTS.get(type(node), type(node).__name__)
            raise TemplateRefused(f"uses {construct}, which templates may not (only {{{{ }}}} and {{% if %}})")
        if isinstance(node, nodes.Name) and (node.ctx != "load" or node.name.startswith("_")):
            raise TemplateRefused("uses a variable name starting with '_'")
        if (
            isinstance(node, nodes.Getattr)
            and node.attr.startswith("_")
            or isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and str(node.arg.value).startswith("_")
        ):
            raise TemplateRefused("uses an attribute starting with '_'")
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            raise TemplateRefused(f"uses the filter {node.name!r}, which is not available here")
        if isinstance(node, nodes.Test) and node.name not in env.tests:
            raise TemplateRefused(f"uses the test {node.name!r}, which is not available here")
        if isinstance(node, nodes.Call) and not isinstance(node.node, nodes.Getattr):
            raise TemplateRefused("calls something other than a string method")
        if isinstance(node, nodes.Const) and isinstance(node.value, int):
            _check_integer(node.value)


def compile_template(env: RoleTemplateSandbox, text: str) -> Template:
    """Check and compile one template; ``TemplateRefused`` or Jinja's ``TemplateSyntaxError`` if it cannot run."""
    tree = parse(env, text)
    try:
        check_template(env, tree)
        return env.from_string(tree)
    except (RecursionError, SyntaxError):  # a long chain of operators compiles to deeply nested Python
        raise TemplateRefused("is nested too deeply") from None


def parse(env: RoleTemplateSandbox, text: str) -> nodes.Template:
    """The parsed template; a template Jinja's parser chokes on (nesting, a huge literal) is refused, not a crash."""
    if len(text) > MAX_TEMPLATE_LENGTH:
        raise TemplateRefused(f"is longer than {MAX_TEMPLATE_LENGTH:,} characters")
    try:
        return env.parse(text)
    except TemplateSyntaxError:
        raise
    except (RecursionError, MemoryError):
        raise TemplateRefused("is nested too deeply") from None
    except Exception as exc:  # e.g. int() refusing a literal of more than 4,300 digits
        raise TemplateRefused(f"cannot be parsed ({type(exc).__name__})") from None


def render(template: Template, variables: Mapping[str, Any]) -> str:
    """Render within the limits: the output is counted as it is produced, and the clock checked at each step."""
    token = _deadline.set(time.monotonic() + MAX_RENDER_SECONDS)
    try:
        parts, size = [], 0
        for part in template.generate(variables):
            size += len(part)
            if size > MAX_OUTPUT_LENGTH:
                raise TemplateRefused(f"renders more than {MAX_OUTPUT_LENGTH:,} characters")
            parts.append(part)
        return "".join(parts)
    finally:
        _deadline.reset(token)


def tick() -> None:
    """Refuse the render in progress once it has run out of time."""
    deadline = _deadline.get()
    if deadline is not None and time.monotonic() > deadline:
        raise TemplateRefused(f"takes longer than {MAX_RENDER_SECONDS:g} s to render")


# -- sizes --------------------------------------------------------------------------------------------------


def _size(value: Any) -> int:
    """Characters of a string, items (at least one each) and their characters of a list, tuple or dict."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(max(1, _size(item)) for item in value)
    if isinstance(value, dict):
        return sum(max(1, _size(k)) + _size(v) for k, v in value.items())
    return 0


def _check_size(size: int) -> None:
    if size > MAX_VALUE_LENGTH:
        raise TemplateRefused(f"makes a string or list longer than {MAX_VALUE_LENGTH:,}")


def _check_integer(value: Any) -> None:
    if isinstance(value, int) and value.bit_length() > MAX_INTEGER_BITS:
        raise TemplateRefused(f"makes a number wider than {MAX_INTEGER_BITS} bits")


def checked(value: Any) -> Any:
    """``value`` once it is within the limits (an iterator becomes a list, so it can be measured)."""
    if isinstance(value, Iterator):
        value = list(value)
    _check_integer(value)
    _check_size(_size(value))
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


# -- what could grow beyond the limits in one step: checked before it runs -------------------------------------


def _repeat(sequence: Any, times: Any) -> None:
    if isinstance(times, int) and times > 0:
        _check_size(_size(sequence) * times)


def _power(base: Any, exponent: Any) -> None:
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and (abs(base).bit_length() - 1) * exponent > MAX_INTEGER_BITS
    ):
        raise TemplateRefused(f"makes a number wider than {MAX_INTEGER_BITS} bits")


def _binop_precheck(op: str, left: Any, right: Any) -> None:
    if op == "**":
        _power(left, right)
    elif op == "*":
        _repeat(left, right) if not isinstance(left, int) else _repeat(right, left)
    elif op == "+" and not isinstance(left, (int, float)):
        _check_size(_size(left) + _size(right))
    elif op == "%" and isinstance(left, (str, bytes)):
        raise TemplateRefused("formats a string with '%' (use ~ or filters)")


def _width(width: Any, text: Any = "") -> None:
    if isinstance(width, int):
        _check_size(max(width, len(_text(text))))


def _replacing(text: Any, old: Any, new: Any, count: Any = -1) -> None:
    text, old, new = _text(text), _text(old), _text(new)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    _check_size(len(text) + found * max(0, len(new) - len(old)))


def _joining(separator: Any, items: list[Any]) -> None:
    _check_size(sum(len(_text(item)) for item in items) + max(0, len(items) - 1) * len(_text(separator)))


def _indenting(text: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    indent = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    text = _text(text)
    _check_size(len(text) + (text.count("\n") + 1) * max(0, indent))


def _rounding(value: Any, precision: Any = 0, *args: Any, **kwargs: Any) -> None:
    if isinstance(precision, int) and abs(precision) > 64:
        raise TemplateRefused("rounds to more than 64 digits")


def _summing(items: Any, attribute: Any = None, start: Any = 0) -> None:
    if not isinstance(start, (int, float)):
        raise TemplateRefused("sums something other than numbers")


_FILTER_PRECHECKS: dict[str, Callable[..., None]] = {
    "center": lambda value, width=80: _width(width, value),
    "indent": _indenting,
    "replace": _replacing,
    "join": lambda items, d="", attribute=None: _joining(d, items),
    "round": _rounding,
    "sum": _summing,
}
_METHOD_PRECHECKS: dict[str, Callable[..., None]] = {
    "center": lambda text, width, *args: _width(width, text),
    "ljust": lambda text, width, *args: _width(width, text),
    "rjust": lambda text, width, *args: _width(width, text),
    "zfill": lambda text, width: _width(width, text),
    "replace": _replacing,
    "join": lambda text, items: _joining(text, list(items)),
}


def bounded_filter(function: Callable[..., Any], precheck: Callable[..., None] | None = None) -> Callable[..., Any]:
    """``function`` as a sandboxed filter: clock checked, arguments checked, result measured.

    Marked ``pass_context``, so Jinja never runs it while compiling; it passes on the context,
    eval context or environment as ``function`` asks for it, like Jinja does.
    """
    passes = _PassArg.from_obj(function)

    @pass_context
    def run(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        if isinstance(value, Iterator):
            value = list(value)
        if precheck is not None:
            precheck(value, *args, **kwargs)
        if passes is _PassArg.context:
            args = (context, value, *args)
        elif passes is _PassArg.eval_context:
            args = (context.eval_ctx, value, *args)
        elif passes is _PassArg.environment:
            args = (context.environment, value, *args)
        else:
            args = (value, *args)
        return checked(function(*args, **kwargs))

    run.__name__ = getattr(function, "__name__", "filter")
    return run


def _bounded_test(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    numeric = name in ("odd", "even", "divisibleby")  # value % n: on a string, that is %-formatting

    @pass_context
    def run(context: Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        if numeric and not isinstance(value, (int, float)):
            raise TemplateRefused(f"tests something other than a number with {name!r}")
        return function(value, *args, **kwargs)

    return run


class RoleTemplateSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, strict, with every arithmetic operator and call bounded."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def __init__(self, filters: Mapping[str, Callable[..., Any]] | None = None) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.globals.clear()  # range, lipsum, cycler, ...: nothing a statement needs
        self.filters = {name: bounded_filter(FILTERS[name], _FILTER_PRECHECKS.get(name)) for name in SAFE_FILTERS}
        self.filters.update({name: bounded_filter(fn) for name, fn in dict(filters or {}).items()})
        # Jinja's TESTS mixes signatures, which mypy joins to the bare `function` type.
        self.tests = {name: _bounded_test(name, cast(Callable[..., Any], TESTS[name])) for name in SAFE_TESTS}

    def _compile(self, source: str, filename: str) -> Any:
        # Jinja writes a folded slice as it is (``True[0:1]``), and Python's compiler warns about it
        # on stderr: a caller's template must not write into the server's log. (catch_warnings is
        # process-wide; at worst a warning elsewhere, during a compile, goes unshown.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            return super()._compile(source, filename)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        tick()
        _binop_precheck(operator, left, right)
        return checked(self.binop_table[operator](left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (Jinja's)
        tick()
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if not (isinstance(__obj, types.BuiltinMethodType) and isinstance(owner, str) and name in SAFE_STRING_METHODS):
            raise TemplateRefused("calls something other than a string method")
        precheck = _METHOD_PRECHECKS.get(name)
        if precheck is not None:
            if name == "join":  # measure the items without consuming an iterator twice
                args = (list(args[0]), *args[1:]) if args else args
            precheck(owner, *args, **kwargs)
        return checked(__obj(*args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)
