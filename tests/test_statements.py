"""The SQL engines' shared role and connection URL (``scaivault_core.statements``)."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig, StatementRole, check_statement_role, render_connection_url, require_credential_placeholders
from scaivault_core.templates import Templates


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
    check_statement_role(StatementRole(creation_statements=["CREATE ROLE x PASSWORD '{{password}}'"],
                                       **{field: ["DROP ROLE x -- password_policy"]}))


def test_a_connection_url_must_leave_the_root_credentials_to_the_vault():
    with pytest.raises(InvalidConfig) as fixed:
        require_credential_placeholders("postgresql://admin:hunter2@db:5432/app")
    assert fixed.value.details["field"] == "config.connection_url" and "hunter2" not in fixed.value.message
    require_credential_placeholders("postgresql://{{username}}:{{password}}@db:5432/app")


def test_credentials_are_url_encoded_into_the_connection_url():
    render = Templates().render
    url = render_connection_url("mysql://{{username}}:{{password}}@db:3306/app", render, "svc@corp", "p:a/s@s?#%")
    assert url == "mysql://svc%40corp:p%3Aa%2Fs%40s%3F%23%25@db:3306/app"
