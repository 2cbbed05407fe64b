"""Policy path patterns: ``*`` matches one segment, ``**`` any number of them (none included).

A pattern is a list of '/'-separated segments, each a literal or a whole ``*`` / ``**``. Read it as
an automaton over segments: position ``i`` means "the first ``i`` pattern segments are matched".
Both questions asked of patterns are answered with the *set* of live positions (a bit mask), never
by backtracking:

- ``matches(pattern, path)`` steps that set once per path segment, so it costs
  O(len(path) x len(pattern)) whatever the pattern (the regular expression it replaced took
  seconds for ``**/**/**/**/x`` against a long path);
- ``covers(held, pattern)`` decides exactly whether every path ``pattern`` matches is matched by
  one of the ``held`` patterns, by walking pairs of live sets over an alphabet of the literals
  involved plus one symbol for "any other segment" (segments no pattern names all behave alike).
  Its cost is bounded by a ``Budget``: past it the answer is a refusal, never a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import attrs

from .errors import InvalidRequest

ONE, ANY = "*", "**"
OTHER = "\x00"  # stands for every segment no pattern in a question names; never a valid literal
DEFAULT_BUDGET = 100_000  # steps of one inclusion question: milliseconds for real policies


@attrs.frozen
class Glob:
    """A compiled pattern: for each kind of segment, the mask of the positions that hold it."""

    length: int
    literals: dict[str, int]  # literal -> positions holding it
    one: int  # positions holding '*'
    any: int  # positions holding '**'
    any_positions: tuple[int, ...]
    universal: int  # positions from which only '**' remain: every continuation matches

    @property
    def accept(self) -> int:
        return 1 << self.length

    @property
    def start(self) -> int:
        return self._closure(1)

    def _closure(self, live: int) -> int:
        # A live '**' at i may also match nothing, so i + 1 is live too; ascending order follows chains.
        for i in self.any_positions:
            if live >> i & 1:
                live |= 1 << (i + 1)
        return live

    def step(self, live: int, segment: str) -> int:
        """The positions live after one more path segment."""
        if not segment:  # an empty segment matches nothing, not even '*'
            return 0
        moved = (live & (self.one | self.literals.get(segment, 0))) << 1
        return self._closure(moved | (live & self.any))


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> Glob:
    segments = pattern.split("/")
    literals: dict[str, int] = {}
    one = any_ = 0
    for i, segment in enumerate(segments):
        if segment == ONE:
            one |= 1 << i
        elif segment == ANY:
            any_ |= 1 << i
        else:
            literals[segment] = literals.get(segment, 0) | 1 << i
    universal, i = 0, len(segments)
    while i > 0 and segments[i - 1] == ANY:
        i -= 1
        universal |= 1 << i
    return Glob(len(segments), literals, one, any_, tuple(i for i, s in enumerate(segments) if s == ANY), universal)


def matches(pattern: str, path: str) -> bool:
    """Does ``pattern`` cover ``path``?"""
    glob = compile_pattern(pattern)
    live = glob.start
    for segment in path.split("/"):
        live = glob.step(live, segment)
        if not live:
            return False
    return bool(live & glob.accept)


class Budget:
    """How many automaton steps some inclusion questions may take together."""

    def __init__(self, steps: int = DEFAULT_BUDGET) -> None:
        self.left = steps

    def spend(self, steps: int, pattern: str) -> None:
        self.left -= steps
        if self.left < 0:
            raise InvalidRequest(
                f"Deciding which grants cover {pattern!r} takes too long with these patterns; "
                "use fewer or simpler patterns (fewer '**' followed by '*').",
                path_pattern=pattern,
            )


def covers(held: Iterable[str], pattern: str, budget: Budget | None = None) -> bool:
    """Is every path ``pattern`` matches also matched by at least one pattern of ``held``?"""
    held = list(dict.fromkeys(held))
    if pattern in held:
        return True
    wanted = compile_pattern(pattern)
    globs = [compile_pattern(p) for p in held]
    if any(g.start & g.universal for g in globs):  # a held '**' (the root policy's) covers everything
        return True
    budget = budget or Budget()
    alphabet = [*sorted({*wanted.literals, *(s for g in globs for s in g.literals)}), OTHER]

    def successors(live: int, held_live: tuple[int, ...]) -> Iterator[tuple[int, tuple[int, ...]]]:
        if live & (wanted.one | wanted.any):
            symbols = alphabet
        else:  # only literal positions are live: only those literals move ``pattern`` on
            symbols = [s for s, mask in wanted.literals.items() if live & mask]
        budget.spend(len(symbols) * (len(globs) + 1), pattern)
        for symbol in symbols:
            after = wanted.step(live, symbol)
            if after:
                yield after, tuple(g.step(h, symbol) for h, g in zip(held_live, globs, strict=True))

    # The walk starts one segment in: no path is empty, so what the patterns say of "" does not count.
    todo = list(dict.fromkeys(successors(wanted.start, tuple(g.start for g in globs))))
    seen = set(todo)
    while todo:
        live, held_live = todo.pop()
        if live & wanted.accept and not any(h & g.accept for h, g in zip(held_live, globs, strict=True)):
            return False  # a path reaches here that ``pattern`` matches and nothing held does
        if any(h & g.universal for h, g in zip(held_live, globs, strict=True)):
            continue  # every continuation from here is covered
        for state in successors(live, held_live):
            if state not in seen:
                seen.add(state)
                todo.append(state)
    return True
