"""The SQL engines' shared role (``scaivault_core.kits.sql``)."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig
from scaivault_core.kits.sql import StatementRole, check_statement_role


def test_a_role_needs_a_creation_statement():
    with pytest.raises(InvalidConfig) as empty:
        check_statement_role(StatementRole(creation_statements=[]))
    assert empty.value.details["field"] == "creation_statements"


@pytest.mark.parametrize("field", ["revocation_statements", "renew_statements"])
def test_the_password_is_not_known_after_issue(field):
    role = StatementRole(creation_statements=["CREATE ROLE x"], **{field: ["ALTER ROLE x PASSWORD '{{ password }}'"]})
    with pytest.raises(InvalidConfig) as refused:
        check_statement_role(role)
    assert refused.value.details["field"] == field
    check_statement_role(
        StatementRole(
            creation_statements=["CREATE ROLE x PASSWORD '{{password}}'"], **{field: ["DROP ROLE x -- password_policy"]}
        )
    )
