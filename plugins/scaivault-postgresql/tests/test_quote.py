"""``{{ x|quote }}``: any text PostgreSQL can hold as an identifier comes back from the server as that
same one identifier; what it cannot hold is refused rather than cut or mangled."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaivault_core import InvalidRequest

from .conftest import GUIDE_CREATION

IDENTIFIER_TEXT = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=63
).filter(lambda s: len(s.encode()) <= 63)
EDGES = ['"', '""', "'", "\\", ";", "--", "/*", "\n", "a\"b'c\\d;e", "Ünï名", "UPPER", " lead", "$1", "x" * 63]


@pytest.fixture
def engine(vault_factory, trust_db, configure):
    vault = vault_factory()
    configure(vault, trust_db)
    return vault._engines.live("support-db").engine


@pytest.fixture(scope="module")
def conn():
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as connection:
        yield connection


def named_column(conn, engine, value: str) -> str:
    """The name PostgreSQL gives a column aliased with ``quote(value)``: the identifier as the server read it."""
    cursor = conn.execute(f"SELECT 1 AS {engine.quote(value)}")  # type: ignore[arg-type]
    return cursor.description[0].name


@pytest.mark.parametrize("value", EDGES)
def test_quote_gives_one_identifier(conn, engine, value):
    assert named_column(conn, engine, value) == value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=IDENTIFIER_TEXT)
def test_quote_round_trips_any_identifier_text(conn, engine, value):
    assert named_column(conn, engine, value) == value


@pytest.mark.parametrize("value", ["a\x00b", "x" * 64, "名" * 22])
def test_quote_refuses_what_postgresql_cannot_hold_or_would_cut(engine, value):
    with pytest.raises(InvalidRequest):
        engine.quote(value)


def test_roles_may_use_quote_and_the_guides_quotes_keep_working(vault_factory, trust_db, configure):
    vault = vault_factory()
    configure(vault, trust_db)  # the guide's '"{{name}}"' statements
    vault.create_role(
        "support-db",
        "quoted",
        creation_statements=[
            "CREATE ROLE {{name|quote}} WITH LOGIN PASSWORD '{{password}}'",
            "GRANT SELECT ON reports TO {{ name | quote }}",
        ],
        revocation_statements=["DROP OWNED BY {{name|quote}}", "DROP ROLE {{name|quote}}"],
    )
    issued = [vault.issue("support-db", role) for role in ("readonly", "quoted")]
    assert {i.data["username"] for i in issued} <= trust_db.roles()
    for item in issued:
        vault.revoke(item.lease_id)
    assert not {i.data["username"] for i in issued} & trust_db.roles()


def test_default_statements_quote_the_name(vault_factory, trust_db, configure):
    from scaivault_postgresql.engine import DEFAULT_RENEW, DEFAULT_REVOCATION

    assert all("{{name|quote}}" in statement for statement in [*DEFAULT_REVOCATION, *DEFAULT_RENEW])
    vault = vault_factory()
    configure(vault, trust_db, role=False)
    vault.create_role("support-db", "defaults", creation_statements=GUIDE_CREATION)
    issued = vault.issue("support-db", "defaults")
    vault.renew(issued.lease_id, "30m")
    vault.revoke(issued.lease_id)
    assert issued.data["username"] not in trust_db.roles()
