"""Role templates: strict, sandboxed, checked when the role is created."""

from __future__ import annotations

import pytest

from scaivault_core import Engine, InvalidConfig, hookimpl

from .conftest import MemoryEngine


def test_unknown_variable_is_invalid_config_at_role_creation(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "typo", creation_statements=['CREATE ROLE "{{nmae}}"'])
    assert "nmae" in err.value.message and "creation_statements[0]" in err.value.message


def test_syntax_error_is_invalid_config(vault):
    with pytest.raises(InvalidConfig):
        vault.create_role("mem", "broken", creation_statements=["CREATE {{ name"])


def test_unknown_role_field_is_named(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "x", creation_statement=["CREATE {{name}}"])
    assert "creation_statement" in err.value.message


def test_sandbox_refuses_attribute_escapes(vault, target):
    vault.create_role("mem", "evil", creation_statements=["{{ name.__class__.__mro__[1].__subclasses__() }}"])
    with pytest.raises(Exception) as err:
        vault.issue("mem", "evil")
    assert "SecurityError" in str(err.value)
    assert target.users == {}


def test_all_four_variables_render(vault, target):
    vault.create_role("mem", "vars", creation_statements=["{{name}}|{{password}}|{{expiration}}|{{ttl_seconds}}"])
    creds = vault.issue("mem", "vars", ttl="30m")
    rendered = target.users[creds.data["username"]]["statements"][0]
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
        quoting_vault.create_role(engine, "r", creation_statements=['DROP {{ name|quote }} {{ "a\\"b"|quote }}'])
    for engine in ("q1", "q2"):
        creds = quoting_vault.issue(engine, "r")
        statement = target.users[creds.data["username"]]["statements"][0]
        assert statement == f'DROP {engine}:"{creds.data["username"]}" {engine}:"a""b"'


def test_quote_on_an_engine_without_it_is_invalid_config_at_role_creation(quoting_vault):
    with pytest.raises(InvalidConfig) as err:
        quoting_vault.create_role("mem", "r", creation_statements=["DROP {{ name|quote }}"])
    assert err.value.details["field"] == "creation_statements[0]" and "quote" in err.value.message


def test_plugin_filters_work_beside_quote(quoting_vault, target):
    quoting_vault.create_role("q1", "r", creation_statements=["{{ name|shout|quote }}"])
    quoting_vault.create_role("mem", "r", creation_statements=["{{ name|shout }}"])
    for engine in ("q1", "mem"):
        creds = quoting_vault.issue(engine, "r")
        assert creds.data["username"].upper() in target.users[creds.data["username"]]["statements"][0]


def test_an_engine_offers_quote_only_by_overriding_it():
    from scaivault_core.templates import offers_quote

    assert offers_quote(QuotingMemoryEngine) and not offers_quote(MemoryEngine)
    with pytest.raises(NotImplementedError):
        Engine.quote(None, "x")
