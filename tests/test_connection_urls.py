"""Connection URLs (``scaivault_core.kits.connection_urls``): the root credential goes in as a value, in its
place only, and the URL cannot make a client library read the server's files or use its own identity."""

from __future__ import annotations

import pytest

from scaivault_core import InvalidConfig
from scaivault_core.kits.connection_urls import check_connection_url, render_connection_url

GOOD = "postgresql://{{username}}:{{password}}@db:5432/app"


def refused(url: str, **kwargs) -> InvalidConfig:
    with pytest.raises(InvalidConfig) as caught:
        check_connection_url(url, **kwargs)
    assert caught.value.details["field"] == "config.connection_url"
    return caught.value


def test_a_connection_url_must_leave_the_root_credentials_to_the_vault():
    fixed = refused("postgresql://admin:hunter2@db:5432/app", require_credentials=True)
    assert "hunter2" not in fixed.message
    check_connection_url(GOOD, require_credentials=True)
    check_connection_url("postgresql://{{ username }}:{{  password }}@db/app", require_credentials=True)
    check_connection_url("redis://:{{password}}@cache:6379/0", require_credentials=True)
    check_connection_url("mongodb://db.internal:27017/admin")  # a server without access control


def test_credentials_are_url_encoded_into_the_connection_url():
    url = render_connection_url("mysql://{{username}}:{{password}}@db:3306/app", "svc@corp", "p:a/s@s?#%")
    assert url == "mysql://svc%40corp:p%3Aa%2Fs%40s%3F%23%25@db:3306/app"


def test_values_are_substituted_never_evaluated():
    assert (
        render_connection_url("mysql://{{ username }}:{{password}}@db/app", "u", "{{7*7}}")
        == "mysql://u:%7B%7B7%2A7%7D%7D@db/app"
    )


@pytest.mark.parametrize(
    "url",
    [
        'postgresql://{{username}}:{{password}}@db:5432/x{{password|replace("%","%25")}}',
        "postgresql://{{username}}:{{password|upper}}@db/app",
        "postgresql://{{username}}:{{password[0:]}}@db/app",
        "postgresql://{{username}}:{{ password ~ '' }}@db/app",
        "postgresql://{{username}}:{{-password-}}@db/app",
        "postgresql://{{username}}:{{password}}@db/app{% if true %}{% endif %}",
        "postgresql://{{username}}:{{password}}@db/app{# note #}",
        "postgresql://{{username}}:{{password}}{{password}}@db/app",
        "postgresql://{{password}}:{{username}}@db/app",
        "postgresql://{{username}}:{{password}}@{{password}}.evil/app",
        "postgresql://{{username}}:{{password}}@db/{{password}}",
        "postgresql://{{username}}:{{password}}@db/app?application_name={{password}}",
        "postgresql://x@{{password}}@evil/app",
        "postgresql://admin:{{password}}@db/app",
        "postgresql://db:5432/app?user={{username}}&password={{password}}",
        "{{username}}:{{password}}@db",
    ],
)
def test_anything_but_the_two_placeholders_in_their_place_is_refused(url):
    refused(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://{{username}}:{{password}}@db/app?sslmode=verify-full&sslrootcert=/etc/scaivault/vault.key",
        "postgresql://{{username}}:{{password}}@db/app?sslkey=/k&sslcert=/c",
        "postgresql://{{username}}:{{password}}@db/app?passfile=/root/.pgpass",
        "postgresql://{{username}}:{{password}}@db/app?service=prod",
        "postgresql://{{username}}:{{password}}@db/app?ssl%6Bey=/k",
        "postgresql://{{username}}:{{password}}@db/app?sslkeylogfile=/tmp/keys",
        "postgresql://{{username}}:{{password}}@db/app?host=/var/run/postgresql",
        "postgresql://{{username}}:{{password}}@%2Fvar%2Frun%2Fpostgresql/app",
        "mongodb://{{username}}:{{password}}@db/admin?tlsCAFile=/etc/ca.pem",
        "mongodb://{{username}}:{{password}}@db/admin?tls=true&tlsCertificateKeyFile=/etc/client.pem",
        "mongodb://{{username}}:{{password}}@db/admin?authMechanism=MONGODB-AWS",
        "mongodb://{{username}}:{{password}}@db/admin?authMechanism=GSSAPI&authMechanismProperties=SERVICE_NAME:x",
        "mongodb://{{username}}:{{password}}@%2Ftmp%2Fmongodb-27017.sock/admin",
        "mysql://{{username}}:{{password}}@db/app?read_default_file=/root/.my.cnf",
        "redis://{{username}}:{{password}}@cache/0?ssl_ca_certs=/etc/ca.pem",
    ],
)
def test_options_that_touch_the_servers_files_or_identity_are_refused(url):
    refused(url)


def test_ordinary_options_are_kept():
    check_connection_url(GOOD + "?sslmode=require&connect_timeout=5&application_name=vault")
    check_connection_url(
        "mongodb://{{username}}:{{password}}@a:27017,b:27017/admin?replicaSet=rs0&authMechanism=SCRAM-SHA-256&tls=true"
    )


def test_the_scheme_is_no_place_for_a_placeholder():
    refused("{{password}}://{{username}}@db/app")
