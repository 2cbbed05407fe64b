"""How an operation appears on the command line, declared as data beside it in the table.

``scaivault_core.cli`` makes each command from its operation: positional arguments and options
from the method's parameters and the body and query fields (their types, defaults and
descriptions), an input adapter where a value takes special handling on the command line (JSON
from ``@file`` or ``-``, ``KEY=VALUE`` pairs, ``--rule PATTERN=PERMS``), and one of the ways of
showing an answer below.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Record:
    """One record, as ``key  value`` lines; ``reveal`` names a field whose values stay hidden unless
    ``--reveal`` is given (``reveal_help`` is that flag's help)."""

    reveal: str = ""
    reveal_help: str = ""


@attrs.frozen
class Rows:
    """The answer's list ``key`` as a table with ``columns`` (the whole answer with ``--format json``)."""

    key: str
    columns: tuple[str, ...]


@attrs.frozen
class Pages(Rows):
    """Rows a page at a time: ``--all`` follows ``next`` to the end, else the table says how to go on."""


@attrs.frozen
class Done:
    """The operation answers nothing: say ``message``, formatted with the command's arguments."""

    message: str


@attrs.frozen
class Text:
    """The answer is text: printed as it is, with no ``--format``."""


@attrs.frozen
class Shown:
    """A way of showing the answer that only this command has: ``cli.output.PRESENTERS[name]``."""

    name: str


@attrs.frozen
class AsJob:
    """Long work: run as a job (``sync: false``) and waited for, its progress shown on a terminal, then the
    outcome shown as ``show`` (as the synchronous call's). ``--timeout`` bounds the wait; ``--no-wait``
    prints the job to follow instead."""

    show: Any = Record()


@attrs.frozen
class Command:
    """``scaivault <group> <verb>`` (or a top-level ``scaivault <verb>``): its help and how it shows the answer.

    ``arguments`` are the positional ones, by parameter name (by default the method's parameters
    without a default); ``inputs`` name the CLI's input adapters (``cli.inputs.INPUTS``) that fill
    parameters in their own way; ``flags`` spell an option otherwise than its field
    (``{"secret_type": "--type"}``).
    """

    name: str
    help: str
    show: Any = Record()
    arguments: tuple[str, ...] | None = None
    inputs: tuple[str, ...] = ()
    flags: dict[str, str] = attrs.field(factory=dict, hash=False)
