"""The verbs people know from ``vault`` / ``bao``, as aliases of ours: one table, expanded in one place.

``CLI.resolve_command`` passes the words after the global options through ``expand`` before looking
the command up, so an alias takes exactly the options of the command it stands for (and completes
like it). docs/cli.md has the table.
"""

from __future__ import annotations

import re

import click

from ..errors import InvalidRequest
from .state import format_option

# `scaivault GROUP VERB ...` -> `scaivault GROUP OURS ...`
VERBS = {
    ("lease", "lookup"): ("lease", "show"),
    ("token", "lookup"): ("token", "self"),
    ("policy", "read"): ("policy", "show"),
}

# `scaivault read PATH ...` -> the command that reads PATH (the REST path without /v1/). Vault issues
# credentials with a read of their path, so `read dynamic/engines/E/creds/R` is `creds E R`.
READS = [
    (re.compile(r"dynamic/engines/([^/]+)/creds/([^/]+)"), ("creds", 1, 2)),
    (re.compile(r"dynamic/engines/([^/]+)/roles/([^/]+)"), ("role", "show", 1, 2)),
    (re.compile(r"dynamic/engines/([^/]+)"), ("engine", "show", 1)),
    (re.compile(r"dynamic/leases/([^/]+)"), ("lease", "show", 1)),
    (re.compile(r"secrets/(.+)"), ("secrets", "get", 1)),
    (re.compile(r"policies/([^/]+)"), ("policy", "show", 1)),
    (re.compile(r"auth/tokens/self"), ("token", "self")),
]


def expand(args: list[str]) -> list[str]:
    """The command line with a leading alias replaced by what it stands for; anything else unchanged."""
    if len(args) >= 2 and (args[0], args[1]) in VERBS:
        return [*VERBS[args[0], args[1]], *args[2:]]
    if len(args) >= 2 and args[0] == "read" and (words := read_words(args[1])) is not None:
        return [*words, *args[2:]]
    return args


def read_words(path: str) -> list[str] | None:
    """The command words ``read PATH`` stands for, or None."""
    path = path.strip("/").removeprefix("v1/")
    for pattern, words in READS:
        if match := pattern.fullmatch(path):
            return [match[w] if isinstance(w, int) else w for w in words]
    return None


def _shape(pattern: re.Pattern[str]) -> str:
    return re.sub(r"\(\.\+\)", "PATH", pattern.pattern.replace("([^/]+)", "NAME"))


@click.command(
    "read",
    context_settings={"ignore_unknown_options": True},
    params=[format_option()],
    help="Vault-style: run the command that reads PATH (`read dynamic/engines/E/creds/R` is "
    "`creds E R`). PATH is one of: " + ", ".join(_shape(p) for p, _ in READS) + ".",
)
@click.argument("path")
@click.argument("options", nargs=-1, type=click.UNPROCESSED)
def read(path: str, options: tuple[str, ...]) -> None:
    # Reached only for a PATH that stands for no command: `expand` turned every other one into its command.
    raise InvalidRequest(
        f"`read {path}` stands for no command; PATH is one of: " + ", ".join(_shape(p) for p, _ in READS) + ".",
        field="path",
    )
