"""Pagination, one shape for every list: ``after`` (the ``next`` of the page before), ``limit``, ``next``.

A list answers one page: at most ``limit`` items in a stable order (by a unique key), and ``next``,
the key of its last item while there are more (null at the end). The Python client answers a page as a
``Page``: a list of the items (as models) with its ``next``. Leases and the audit log, which
grow with traffic, are paged by the store itself; the other lists (engines, roles, policies,
bindings, tokens, secret versions, plugins) hold what operators configure, so ``page`` cuts them
from the whole ordered list. ``follow`` walks the pages of any of them, for the client and the CLI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..errors import InvalidRequest

MAX_PAGE = 1000
DEFAULT_PAGE = 100

T = TypeVar("T")


class Page(list[T]):
    """One page of a list, as the Python client answers it: the items, and ``next`` (pass it as ``after`` for
    the following page; None on the last)."""

    def __init__(self, items: Iterable[T] = (), next: Any = None) -> None:
        super().__init__(items)
        self.next = next

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, next={self.next!r})"


def check_limit(limit: Any) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}.", field="limit")


def page(items: Iterable[T], key: Callable[[T], Any], after: Any, limit: int) -> tuple[list[T], Any]:
    """(the items after ``after`` in ``key`` order, at most ``limit`` of them; the ``next`` after them, or None)."""
    check_limit(limit)
    ordered = sorted(items, key=key)
    if after is not None:
        try:
            ordered = [item for item in ordered if key(item) > after]
        except TypeError:  # a version number's list given a name, say, from Python (REST types its query)
            raise InvalidRequest("after must be the next value of a page of this list.", field="after") from None
    chosen = ordered[:limit]
    return chosen, key(chosen[-1]) if len(ordered) > limit else None


def follow(fetch: Callable[..., dict[str, Any]], key: str) -> Iterator[Any]:
    """Every item of the list ``key`` across pages: ``fetch(after=...)`` gives a page, until ``next`` is null."""
    body = fetch()
    while True:
        yield from body[key]
        if body.get("next") is None:
            return
        body = fetch(after=body["next"])


async def follow_async(fetch: Callable[..., Awaitable[dict[str, Any]]], key: str) -> AsyncIterator[Any]:
    """``follow`` for an asyncio ``fetch``."""
    body = await fetch()
    while True:
        for item in body[key]:
            yield item
        if body.get("next") is None:
            return
        body = await fetch(after=body["next"])
