"""The flags of the operator's settings, made from the ``Settings`` fields (their one declaration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import click

from ..settings import Settings


def settings_options(scope: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add a flag for each setting of ``scope`` that has one; each arrives by field name, None when not given."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        for field in reversed(attrs.fields(Settings)):
            spec = field.metadata["setting"]
            if spec.scope != scope or spec.flag is None:
                continue
            options = getattr(spec.read, "options", None)
            summary = spec.doc.split(". ")[0].rstrip(".").replace("``", "")
            fn = click.option(
                spec.flag,
                field.name,
                multiple=spec.multiple,
                default=None,
                type=click.Choice(options) if options else None,
                metavar=None if options else _metavar(spec),
                help=f"{summary} ({spec.variable}).",
            )(fn)
        return fn

    return add


def _metavar(spec: Any) -> str | None:
    if spec.multiple:
        return "DIR"  # one per flag
    return None if spec.kind == "text" else spec.kind.upper()
