"""Redis ACL rules: what a role may grant, checked before the server sees them.

A role describes what the user may touch (key and channel patterns, commands, categories); the
engine itself owns the user's state and password (``reset on >password``), so rules that change
those are refused. Command and category names are checked against the server at role creation.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

# Rules the engine sets on every user; a role giving them would disable the user, drop its
# password, or let it in without one.
RESERVED = {"on", "off", "reset", "nopass", "resetpass"}
PASSWORD_PREFIXES = (">", "<", "#", "!")
KEYWORDS = {"allkeys", "resetkeys", "allchannels", "resetchannels", "allcommands", "nocommands"}
_KEY = re.compile(r"^(?:~|%(?:R|W|RW)~)(\S+)$", re.IGNORECASE)
_CHANNEL = re.compile(r"^&(\S+)$")
# +get, -flushall, +@read, +config|get, +json.get (module commands have dots)
_COMMAND = re.compile(r"^[+-](?:@(?P<category>[A-Za-z0-9_-]+)|(?P<command>[A-Za-z][A-Za-z0-9_.-]*(?:\|\S+)?))$")


class RuleError(ValueError):
    """A rule that is not valid; the message says why and never repeats a password."""


@attrs.frozen
class Rules:
    """One role's rules in ``ACL SETUSER`` order, with what the server must know of them."""

    rules: tuple[str, ...]
    commands: frozenset[str]  # as written, lowercased: "+get", "-config|set", "+select|0"
    categories: frozenset[str]  # without the sign or "@"
    grants: bool  # whether any rule lets the user run something


def _parse(rule: str, *, in_selector: bool = False) -> tuple[set[str], set[str], bool]:
    """(command names, category names, grants anything) of one rule; ``RuleError`` if it is not valid."""
    lowered = rule.lower()
    if not rule or rule != rule.strip():
        raise RuleError("is empty or has surrounding spaces")
    if lowered in RESERVED or rule.startswith(PASSWORD_PREFIXES):
        raise RuleError("sets the user's state or password, which the engine manages")
    if lowered in KEYWORDS:
        return set(), set(), lowered == "allcommands"
    if lowered == "clearselectors" and not in_selector:
        return set(), set(), False
    if rule.startswith("(") and rule.endswith(")") and not in_selector:
        return _parse_selector(rule[1:-1])
    if _KEY.match(rule) or _CHANNEL.match(rule):
        return set(), set(), False
    match = _COMMAND.match(rule)
    if match:
        if match["category"]:
            return set(), {match["category"].lower()}, rule.startswith("+")
        if match["command"].count("|") > 1:
            raise RuleError("gives a subcommand an argument, which Redis does not support")
        return {rule.lower()}, set(), rule.startswith("+")
    if any(c.isspace() for c in rule):
        raise RuleError("has a space (only a selector, in parentheses, holds several rules)")
    raise RuleError("is not an ACL rule (~pattern, &pattern, +command, -command, +@category, ...)")


def _parse_selector(body: str) -> tuple[set[str], set[str], bool]:
    commands: set[str] = set()
    categories: set[str] = set()
    grants = False
    parts = body.split()
    if not parts:
        raise RuleError("is an empty selector")
    for part in parts:
        c, k, g = _parse(part, in_selector=True)
        commands |= c
        categories |= k
        grants = grants or g
    return commands, categories, grants


def build(
    keys: Iterable[str], channels: Iterable[str], commands: Iterable[str], acl_rules: Iterable[str]
) -> tuple[Rules, list[tuple[str, str]]]:
    """The role's fields as ACL rules, and a list of (field, problem) for the ones that are not valid."""
    rules: list[str] = []
    names: set[str] = set()
    categories: set[str] = set()
    grants = False
    problems: list[tuple[str, str]] = []

    def add(field: str, rule: str) -> None:
        nonlocal grants
        try:
            c, k, g = _parse(rule)
        except RuleError as exc:
            problems.append((field, f"{field} {_show(rule)} {exc}"))
            return
        names.update(c)
        categories.update(k)
        grants = grants or g
        rules.append(rule)

    for i, pattern in enumerate(keys):
        field = f"keys[{i}]"
        if not pattern or any(c.isspace() for c in pattern):
            problems.append((field, f"{field} {_show(pattern)} must be a pattern without spaces"))
        elif _KEY.match(pattern) or pattern.startswith("~"):
            problems.append(
                (
                    field,
                    f"{field} {_show(pattern)} is a key pattern without its '~' (read/write-only "
                    "patterns such as %R~... go in acl_rules)",
                )
            )
        else:
            add(field, f"~{pattern}")
    for i, pattern in enumerate(channels):
        field = f"channels[{i}]"
        if not pattern or any(c.isspace() for c in pattern):
            problems.append((field, f"{field} {_show(pattern)} must be a pattern without spaces"))
        elif pattern.startswith("&"):
            problems.append((field, f"{field} {_show(pattern)} is a channel pattern without its '&'"))
        else:
            add(field, f"&{pattern}")
    for i, rule in enumerate(commands):
        field = f"commands[{i}]"
        if not _COMMAND.match(rule):
            problems.append((field, f"{field} {_show(rule)} is not +command, -command, +@category or -@category"))
        else:
            add(field, rule)
    for i, rule in enumerate(acl_rules):
        add(f"acl_rules[{i}]", rule)
    return Rules(tuple(rules), frozenset(names), frozenset(categories), grants), problems


def names(rule: str) -> set[str]:
    """The commands ("+get") and categories ("@read") a valid rule mentions (empty for an invalid one)."""
    try:
        commands, categories, _ = _parse(rule)
    except RuleError:
        return set()
    return commands | {f"@{c}" for c in categories}


def _show(rule: str) -> str:
    # A rule that looks like a password is not echoed back.
    return "(a password rule)" if rule.startswith(PASSWORD_PREFIXES) else repr(rule[:80])
