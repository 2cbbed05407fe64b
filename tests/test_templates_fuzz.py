"""Fuzzing what callers write and what reaches a target: role templates, durations, generated names.

Bounded so it runs in every CI run in a few seconds: a fixed number of examples each, no
per-example deadline (a loaded machine must not make it flaky); the sandbox's own limits are
what is asserted.
"""

from __future__ import annotations

import re
import string
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaivault_core import InvalidConfig, InvalidRequest, ScaiVaultError, format_duration, parse_duration
from scaivault_core.durations import MAX_LENGTH, MAX_SECONDS
from scaivault_core.sandbox import MAX_OUTPUT_LENGTH, SAFE_FILTERS
from scaivault_core.templates import CORE_VARIABLES, RANDOM_LENGTH, Templates, generate_username

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
TEMPLATES = Templates({"shout": lambda value: str(value).upper()})  # a plugin's filter, as the hook adds it

# -- a grammar of template expressions ------------------------------------------------------------------

INTEGERS = st.one_of(st.integers(-3, 12), st.sampled_from([0, 2, 9, 10, 64, 255, 4096, 16384, 10**6, 10**9, 10**20]))
STRINGS = st.sampled_from(
    ["''", "'x'", "'_'", "'%s'", "'%999999999d'", "'__class__'", "'\\n'", "'a b'", "'{{'", "'x' * 16384"]
)
LITERALS = st.one_of(
    INTEGERS.map(str),
    STRINGS,
    st.sampled_from(["1.5", "1e308", "true", "none", "[1, 2]", "['a', 'b']", "{'k': 'v'}", "(1,)", "range(5)"]),
)
VARIABLES = st.sampled_from(CORE_VARIABLES)
FILTERS = st.sampled_from([*SAFE_FILTERS, "shout", "quote", "attr", "map", "format", "batch", "pprint", "nope"])
ATTRIBUTES = st.sampled_from(
    [
        "upper",
        "center",
        "replace",
        "join",
        "split",
        "zfill",
        "format",
        "__class__",
        "_x",
        "mro",
        "__globals__",
        "real",
        "items",
        "0",
    ]
)
BINARY = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "~", "==", "<", "in", "and", "or"])
ARGUMENTS = st.lists(st.one_of(INTEGERS.map(str), STRINGS, VARIABLES), max_size=3).map(", ".join)


def _extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(inner, BINARY, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(["-", "not "]), inner).map(lambda t: f"({t[0]}{t[1]})"),
        st.tuples(inner, FILTERS, ARGUMENTS).map(lambda t: f"({t[0]}|{t[1]}({t[2]}))"),
        st.tuples(inner, ATTRIBUTES).map(lambda t: f"{t[0]}.{t[1]}"),
        st.tuples(inner, ATTRIBUTES, ARGUMENTS).map(lambda t: f"{t[0]}.{t[1]}({t[2]})"),
        st.tuples(inner, st.one_of(INTEGERS.map(str), STRINGS)).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(inner, INTEGERS, INTEGERS).map(lambda t: f"{t[0]}[{t[1]}:{t[2]}]"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(inner, st.sampled_from(["odd", "divisibleby(3)", "string", "defined", "callable"])).map(
            lambda t: f"({t[0]} is {t[1]})"
        ),
    )


EXPRESSIONS = st.recursive(st.one_of(VARIABLES, LITERALS), _extend, max_leaves=8)
OUTPUT = EXPRESSIONS.map(lambda e: "{{ " + e + " }}")
TEMPLATES_TEXT = st.lists(
    st.one_of(  # mostly what may pass, so the render half is exercised too
        OUTPUT,
        OUTPUT,
        OUTPUT,
        st.sampled_from(["SELECT ", '"{{name}}"', "'{{ password }}'", "\n"]),
        st.tuples(EXPRESSIONS, EXPRESSIONS).map(lambda t: "{% if " + t[0] + " %}{{ " + t[1] + " }}{% endif %}"),
        st.sampled_from(
            [
                "{% for x in name %}{{ x }}{% endfor %}",
                "{% set y = 1 %}",
                "{{",
                "{% raw %}{{{% endraw %}",
                "{{ lipsum() }}",
            ]
        ),
    ),
    min_size=1,
    max_size=4,
).map("".join)


def issue_variables(data: st.DataObject) -> dict:
    """What the variables can be at issue: any role's name, the default password, any TTL."""
    role = data.draw(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,40}", fullmatch=True), label="role")
    ttl = data.draw(st.integers(0, MAX_SECONDS), label="ttl")
    return {
        "name": generate_username(role, 63),
        "password": "Aa1-" + "x" * 20,
        "ttl_seconds": ttl,
        "expiration": "2030-01-01T00:00:00Z",
    }


@FUZZ
@given(template=TEMPLATES_TEXT, data=st.data())
def test_a_template_is_refused_at_creation_or_renders_bounded_at_issue(template, data):
    try:
        TEMPLATES.validate("creation_statements", [template], CORE_VARIABLES)
    except InvalidConfig as exc:
        assert exc.details["field"] == "creation_statements[0]"
        return
    started = time.monotonic()
    try:
        rendered = TEMPLATES.render(template, issue_variables(data))
    except InvalidConfig:
        pass  # a value-dependent failure (a shorter name, a smaller TTL than the samples): still a clean 400
    else:
        assert isinstance(rendered, str) and len(rendered) <= MAX_OUTPUT_LENGTH
    assert time.monotonic() - started < 30  # the sandbox stops a render after 1 s; this only catches a hang


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(template=TEMPLATES_TEXT)
def test_through_the_vault_only_invalid_config_ever_comes_back(vault, target, template):
    """Role creation and issue as a caller meets them: a 400 with invalid_config, or a credential."""
    name = f"r{len(target.calls)}-{abs(hash(template)) % 10**8}"
    try:
        vault.create_role("mem", name, permissions=[template])
    except ScaiVaultError as exc:
        assert isinstance(exc, InvalidConfig), exc
        return
    try:
        creds = vault.issue("mem", name, ttl="10m")
    except ScaiVaultError as exc:
        assert isinstance(exc, InvalidConfig), exc
        return
    assert len(target.users[creds.data["username"]].permissions[0]) <= MAX_OUTPUT_LENGTH
    vault.revoke(creds.lease_id)


# -- durations ---------------------------------------------------------------------------------------------

DURATION_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet="0123456789dhms ٣５²HMD\u00a0-.", max_size=40),
    st.from_regex(r"[0-9]{1,12}([dhms][0-9]{0,6}[dhms]?)?", fullmatch=True),
    st.integers(0, 10**6).map(str).map(lambda s: s * 1000),
)


@FUZZ
@given(text=DURATION_TEXT)
def test_a_duration_is_seconds_in_range_or_invalid_request(text):
    try:
        seconds = parse_duration(text, "ttl")
    except InvalidRequest as exc:
        assert exc.details == {"field": "ttl"}
        return
    assert 0 <= seconds <= MAX_SECONDS
    assert text.isascii() and len(text) <= MAX_LENGTH
    assert re.fullmatch(r"[0-9dhms]+", text.strip().lower())


@FUZZ
@given(seconds=st.integers(0, MAX_SECONDS))
def test_a_formatted_duration_reads_back(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


# -- generated names ---------------------------------------------------------------------------------------

ROLE_NAMES = st.one_of(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", fullmatch=True), st.text(max_size=200))


@FUZZ
@given(role=ROLE_NAMES, max_length=st.integers(3, 200))
def test_a_generated_name_fits_the_target_and_needs_no_quoting(role, max_length):
    name = generate_username(role, max_length)
    assert len(name) <= max_length
    assert re.fullmatch(r"[a-z0-9_]+", name)  # unquoted in SQL, ACL rules, shell words and URLs
    assert name[0] in string.ascii_lowercase  # an identifier everywhere: never starts with a digit
    if max_length >= RANDOM_LENGTH + 4:  # room for "v_", one role character and "_": the random part is whole
        assert re.fullmatch(rf"v_[a-z0-9_]*_[a-z0-9]{{{RANDOM_LENGTH}}}", name)


@pytest.mark.parametrize("plugin", ["postgresql", "mysql", "mongodb", "redis"])
def test_the_longest_role_name_fits_every_database_engine(plugin):
    from scaivault_core import make_plugin_manager
    from scaivault_core.plugin_manager import EngineRegistry

    engine = EngineRegistry(make_plugin_manager()).get("database", plugin)
    name = generate_username("r" * 128, engine.username_max_length)
    assert len(name) == engine.username_max_length and name.endswith(name[-RANDOM_LENGTH:])
