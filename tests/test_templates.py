"""Role templates: strict, sandboxed, checked when the role is created."""

from __future__ import annotations

import pytest

from scaivault_core import Engine, InvalidConfig, RoleNotFound, hookimpl
from scaivault_core.testing import MemoryEngine


def test_unknown_variable_is_invalid_config_at_role_creation(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "typo", permissions=['CREATE ROLE "{{nmae}}"'])
    assert "nmae" in err.value.message and "permissions[0]" in err.value.message


def test_syntax_error_is_invalid_config(vault):
    with pytest.raises(InvalidConfig):
        vault.create_role("mem", "broken", permissions=["CREATE {{ name"])


def test_unknown_role_field_is_named(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "x", creation_statement=["CREATE {{name}}"])
    assert "creation_statement" in err.value.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ name.__class__.__mro__[1].__subclasses__() }}",
        "{{ name['__class__'] }}",
        "{{ name|attr('__class__') }}",
        "{% if ttl_seconds < 0 %}{{ name.__class__ }}{% endif %}",  # refused even where it would never run
    ],
)
def test_sandbox_refuses_attribute_escapes_at_role_creation(vault, target, template):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "evil", permissions=[template])
    assert err.value.details["field"] == "permissions[0]"
    with pytest.raises(RoleNotFound):
        vault.issue("mem", "evil")
    assert target.users == {}


def test_all_four_variables_render(vault, target):
    vault.create_role("mem", "vars", permissions=["{{name}}|{{password}}|{{expiration}}|{{ttl_seconds}}"])
    creds = vault.issue("mem", "vars", ttl="30m")
    rendered = target.users[creds.data["username"]].permissions[0]
    name, password, expiration, ttl = rendered.split("|")
    assert (name, password, ttl) == (creds.data["username"], creds.data["password"], "1800")
    assert expiration.endswith("Z")


# -- the per-engine `quote` filter ---------------------------------------------------------------


class QuotingMemoryEngine(MemoryEngine):
    """The memory engine with a ``quote`` filter; the engine's name in the result shows whose ran."""

    plugin = "memory-quoting"

    def quote(self, value: str) -> str:
        return f'{self.context.name}:"' + value.replace('"', '""') + '"'


class QuotingPlugin:
    @hookimpl
    def register_engines(self, register):
        register(QuotingMemoryEngine)

    @hookimpl
    def register_template_filters(self, register):
        register("shout", lambda value: str(value).upper())


@pytest.fixture
def quoting_vault(make_vault, target):
    vault = make_vault(plugins=[QuotingPlugin()])
    vault.create_engine("mem", "database", {"plugin": "memory"})
    vault.create_engine("q1", "database", {"plugin": "memory-quoting"})
    vault.create_engine("q2", "database", {"plugin": "memory-quoting"})
    return vault


def test_quote_calls_the_rendering_engines_own_quote(quoting_vault, target):
    for engine in ("q1", "q2"):  # one class, one compiled template, each engine's own quote
        quoting_vault.create_role(engine, "r", permissions=['DROP {{ name|quote }} {{ "a\\"b"|quote }}'])
    for engine in ("q1", "q2"):
        creds = quoting_vault.issue(engine, "r")
        statement = target.users[creds.data["username"]].permissions[0]
        assert statement == f'DROP {engine}:"{creds.data["username"]}" {engine}:"a""b"'


def test_quote_on_an_engine_without_it_is_invalid_config_at_role_creation(quoting_vault):
    with pytest.raises(InvalidConfig) as err:
        quoting_vault.create_role("mem", "r", permissions=["DROP {{ name|quote }}"])
    assert err.value.details["field"] == "permissions[0]" and "quote" in err.value.message


def test_plugin_filters_work_beside_quote(quoting_vault, target):
    quoting_vault.create_role("q1", "r", permissions=["{{ name|shout|quote }}"])
    quoting_vault.create_role("mem", "r", permissions=["{{ name|shout }}"])
    for engine in ("q1", "mem"):
        creds = quoting_vault.issue(engine, "r")
        assert creds.data["username"].upper() in target.users[creds.data["username"]].permissions[0]


def test_an_engine_offers_quote_only_by_overriding_it():
    from scaivault_core.templates import offers_quote

    assert offers_quote(QuotingMemoryEngine) and not offers_quote(MemoryEngine)
    with pytest.raises(NotImplementedError):
        Engine.quote(None, "x")


# -- the sandbox: bounded cost, refused at role creation ------------------------------------------------

EXPENSIVE = [
    "SELECT {{ (9 ** (9 ** 7)) > 1 }}",  # folded at compile time before: seconds holding the GIL
    "{{ 2 ** 20000 }}",  # a 6,000-digit number: 500 before
    "{{ 10 ** 80 }}",
    "{{ 'x' * 1000000000 }}",
    "{{ 1000000000 * 'x' }}",
    "{{ ['x'] * 1000000000 }}",
    "{{ ttl_seconds * 'x' }}",
    "{{ " + " ~ ".join(["('x' * 10000)"] * 7) + " }}",
    "{{ ('x' * 10000) + ('x' * 10000) }}",
    "{{ name|center(1000000000) }}",
    "{{ name.center(1000000000) }}",
    "{{ name.ljust(1000000000) }}",
    "{{ name.rjust(1000000000) }}",
    "{{ name.zfill(1000000000) }}",
    "{{ name|indent(1000000000, true) }}",
    "{{ ('\\n' * 10000)|indent(100) }}",
    "{{ ('x' * 10000)|replace('', 'yy') }}",
    "{{ ('x' * 10000).replace('x', 'yyy') }}",
    "{{ ('x' * 10000)|join('yy') }}",
    "{{ ('y' * 100).join('x' * 10000) }}",
    "{{ '%999999999s' % name }}",
    "{{ '%999999999d' is divisibleby 3 }}",
    "{{ '%999999999d' is odd }}",
    "{{ 5|round(-1000000000) }}",
    "{{ ('9' * 4000)|int }}",
    "{% for x in name %}{{ x }}{% endfor %}",
    "{% set x = name %}{{ x }}",
    "{% macro m() %}{% endmacro %}",
    "{{ range(10)|join }}",
    "{{ lipsum(1000) }}",
    "{{ name.format(name) }}",
    "{{ name.format_map(name) }}",
    "{{ name|map('upper')|join }}",
    "{{ name|batch(1000000000, 'x')|list }}",
    "{{ name|wordwrap(1, wrapstring='x' * 10000) }}",
    "{% if ttl_seconds < 0 %}{{ name|no_such_filter }}{% endif %}",
    "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
    "{{ name " + "+ name " * 2000 + "}}",
    "{{ 1" + "0" * 5000 + " }}",
    "x" * 20000,
    "{{ 1 / 0 }}",
    "{{ name - 1 }}",
]


@pytest.mark.parametrize("template", EXPENSIVE)
def test_expensive_or_failing_templates_are_invalid_config_at_role_creation(vault, target, template):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "costly", permissions=["SELECT 1", template])
    assert err.value.details["field"] == "permissions[1]"
    assert "x" * 100 not in err.value.message  # the reason, never the template's or a value's text


@pytest.mark.parametrize(
    "template,expected",
    [
        ("{{ name|upper }}-{{ ttl_seconds // 60 }}", "{NAME}-30"),
        ("{{ 'x' * 3 }}{{ (2 ** 10) + 1 }}", "xxx1025"),
        ("{% if ttl_seconds > 60 %}long{% else %}short{% endif %}", "long"),
        ("{{ name.replace('_', '-') }}|{{ name[:2] }}|{{ [name, 'x']|join(',') }}", "{name-}|v_|{name},x"),
        ("{{ name|center(40)|trim|length > 0 }}{{ '%d' if false else 'ok' }}", "Trueok"),
        ("{{ [3, 1, 2]|sort|reverse|list }} {{ 42.55|round(1, 'floor') }}", "[3, 2, 1] 42.5"),
    ],
)
def test_what_templates_may_do_still_renders(vault, target, template, expected):
    vault.create_role("mem", "fine", permissions=[template])
    creds = vault.issue("mem", "fine", ttl="30m")
    username = creds.data["username"]
    expected = expected.replace("{NAME}", username.upper()).replace("{name-}", username.replace("_", "-"))
    assert target.users[username].permissions == [expected.replace("{name}", username)]


def test_refusals_name_the_reason():
    from scaivault_core.templates import CORE_VARIABLES, Templates

    templates = Templates()
    for template, reason in [
        ("{{ 2 ** 2000 }}", "wider than 256 bits"),
        ("{{ 'x' * 100000 }}", "longer than 16,384"),
        ("{% for x in name %}{% endfor %}", "for loop"),
        ("{{ name._x }}", "starting with '_'"),
        ("{{ name.encode() }}", "string method"),
        ("{{ ('x' * 10000 ~ 'y') * 2 }}", "longer than"),
    ]:
        with pytest.raises(InvalidConfig) as err:
            templates.validate("f", [template], CORE_VARIABLES)
        assert reason in err.value.message, (template, err.value.message)


def test_the_output_of_one_render_is_bounded():
    from scaivault_core.sandbox import MAX_OUTPUT_LENGTH
    from scaivault_core.templates import Templates

    many = "{{ 'x' * 16000 }}" * 5
    with pytest.raises(InvalidConfig) as err:
        Templates().render(many, {})
    assert f"more than {MAX_OUTPUT_LENGTH:,} characters" in err.value.message


def test_a_render_that_runs_out_of_time_is_refused(monkeypatch):
    from scaivault_core import sandbox
    from scaivault_core.templates import Templates

    templates = Templates()
    assert templates.render("{{ 'a' ~ name|upper }}", {"name": "b"}) == "aB"
    monkeypatch.setattr(sandbox, "MAX_RENDER_SECONDS", -1.0)  # every step is past the deadline
    with pytest.raises(InvalidConfig) as err:
        templates.render("{{ 'a' ~ name|upper }}", {"name": "b"})
    assert "takes longer than" in err.value.message


def test_values_larger_than_the_samples_are_still_bounded_at_render():
    """A variable can be larger at issue than its sample at creation (a plugin's): the render is refused, bounded."""
    from scaivault_core.templates import Templates

    with pytest.raises(InvalidConfig) as err:
        Templates().render("{{ extra * 1000 }}", {"extra": "x" * 1000})
    assert "longer than 16,384" in err.value.message and "xxxx" not in err.value.message


def test_every_template_an_engine_renders_is_sandboxed(vault):
    """Config templates (connection URLs, key id formats) go through the same sandbox as role templates."""
    live = vault._engines.live("mem").engine
    with pytest.raises(InvalidConfig):
        live.context.render("{{ 9 ** (9 ** 7) }}", {})
    with pytest.raises(InvalidConfig):
        live.context.render("{% for x in y %}{% endfor %}", {"y": [1]})
