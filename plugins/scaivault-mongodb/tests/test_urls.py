"""Connection strings: splitting the template, and building the root's and each user's URL from it."""

from __future__ import annotations

import pytest
from pymongo.uri_parser import parse_uri

from scaivault_mongodb.urls import check_database_name, parse_url

TEMPLATE = "mongodb://{{username}}:{{password}}@db1.internal:27017,db2.internal/admin?replicaSet=rs0&tls=true"


def test_self_hosted_template_splits_into_its_parts():
    url = parse_url(TEMPLATE)
    assert (url.scheme, url.userinfo, url.hosts) == (
        "mongodb",
        "{{username}}:{{password}}",
        "db1.internal:27017,db2.internal",
    )
    assert (url.database, url.options) == ("admin", "replicaSet=rs0&tls=true")
    assert url.host_list() == [("db1.internal", 27017), ("db2.internal", None)]
    assert url.first_host() == ("db1.internal", 27017)
    assert str(url) == TEMPLATE


def test_srv_url_has_one_host_and_no_port():
    url = parse_url("mongodb+srv://{{username}}:{{password}}@cluster0.ab1cd.mongodb.net/?retryWrites=true&w=majority")
    assert url.srv and url.first_host() == ("cluster0.ab1cd.mongodb.net", None)
    with pytest.raises(ValueError, match="takes no port"):
        parse_url("mongodb+srv://u:p@cluster0.example.net:27017/admin")
    with pytest.raises(ValueError, match="exactly one host"):
        parse_url("mongodb+srv://u:p@a.example.net,b.example.net/admin")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("postgresql://u:p@db:5432/x", "must start with mongodb://"),
        ("db.internal:27017", "must start with mongodb://"),
        ("mongodb://u:p@/admin", "names no host"),
        ("mongodb://u:p@db:27o17/admin", "port that is not a number"),
        ("mongodb://u:p@db:70000/admin", "port that is not a number"),
        ("mongodb://u:p@[::1/admin", "closing ']'"),
    ],
)
def test_malformed_urls_are_named_without_their_values(text, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        parse_url(text)
    assert ":p@" not in str(caught.value)


def test_ipv6_hosts():
    assert parse_url("mongodb://u:p@[::1]:27018,[fe80::1]/admin").host_list() == [("::1", 27018), ("fe80::1", None)]


def test_user_url_percent_encodes_credentials_and_sets_auth_source():
    user = parse_url(TEMPLATE).with_credentials("v_ro_x", "p@ss:/?#[]%w").with_option("authSource", "orders")
    text = str(user)
    assert "p@ss" not in text
    parsed = parse_uri(text)
    assert (parsed["username"], parsed["password"]) == ("v_ro_x", "p@ss:/?#[]%w")
    assert parsed["options"]["authSource"] == "orders"
    assert parsed["options"]["replicaSet"] == "rs0"


def test_with_option_replaces_any_spelling_and_keeps_others_verbatim():
    url = parse_url("mongodb://h/admin?AUTHSOURCE=x&readPreferenceTags=dc:ny,rack:1")
    assert url.with_option("authSource", "admin").options == "readPreferenceTags=dc:ny,rack:1&authSource=admin"
    assert url.option("authsource") == "x"
    assert url.option("replicaSet") is None
    assert str(parse_url("mongodb://h:1").with_option("authSource", "admin")) == "mongodb://h:1/?authSource=admin"


def test_credentials_are_dropped_for_an_unauthenticated_root_and_never_shown_in_repr():
    url = parse_url("mongodb://root:hunter2@h:1/admin")
    assert str(url.without_credentials()) == "mongodb://h:1/admin"
    assert "hunter2" not in repr(url)


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("admin", True),
        ("orders_2024", True),
        ("", False),
        ("a.b", False),
        ("a b", False),
        ("a$b", False),
        ("a/b", False),
        ("x" * 64, False),
    ],
)
def test_database_names(name, ok):
    assert (check_database_name(name) is None) == ok
