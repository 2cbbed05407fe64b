"""Engine configuration: refused before MongoDB is contacted, with ``invalid_config`` naming the field."""

from __future__ import annotations

import pytest

import scaivault_mongodb
from scaivault_core import EngineUnreachable, InvalidConfig, make_plugin_manager
from scaivault_mongodb.engine import Config, check_config

SRV_NOWHERE = "mongodb+srv://{{username}}:{{password}}@cluster0.scaivault-test.invalid/admin"


@pytest.mark.parametrize(
    ("config", "field", "words"),
    [
        ({"connection_url": "postgresql://{{username}}:{{password}}@h:5432/x"}, "config.connection_url", "mongodb://"),
        (
            {"connection_url": "mongodb://root:literal@h:27017/admin"},
            "config.connection_url",
            "{{username}}:{{password}}@",
        ),
        (
            {"connection_url": "mongodb+srv://{{username}}:{{password}}@c.example.net:27017/admin"},
            "config.connection_url",
            "no port",
        ),
        (
            {"connection_url": "mongodb://{{username}}:{{password}}@{{host}}:27017/admin"},
            "config.connection_url",
            "only {{username}} and {{password}}",
        ),
        (
            {"connection_url": "mongodb://{{username}}:{{password|upper}}@h:27017/admin"},
            "config.connection_url",
            "only {{username}} and {{password}}",
        ),
        (
            {"connection_url": "mongodb://{{username}}:{{password}}@h:27017/admin?tlsCAFile=/etc/ca.pem"},
            "config.connection_url",
            "'tlscafile'",
        ),
        (
            {"connection_url": "mongodb://{{username}}:{{password}}@h:27017/admin?authMechanism=MONGODB-AWS"},
            "config.connection_url",
            "the server's own identity",
        ),
        (
            {"connection_url": "mongodb://{{username}}:{{password}}@h:27017/admin?tls=perhaps"},
            "config.connection_url",
            "tls must be 'true' or 'false'",
        ),
        (
            {"connection_url": "mongodb://{{username}}:{{password}}@h:27017/admin?replSet=rs0"},
            "config.connection_url",
            "Unknown option",
        ),
        ({"connection_url": SRV_NOWHERE + "?directConnection=true"}, "config.connection_url", "directConnection"),
        ({"auth_database": "my.db"}, "config.auth_database", "contains '.'"),
        ({"connect_timeout": 0}, "config.connect_timeout", "positive"),
    ],
)
def test_bad_config_is_invalid_config_naming_the_field(make_vault, kit, closed_port, config, field, words):
    vault = make_vault()
    kit.store_root(vault, kit.NO_AUTH)
    url = config.pop("connection_url", kit.url_template(closed_port))
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine("app-db", "database", kit.engine_config(url, **config))
    assert caught.value.details.get("field") == field
    assert words in caught.value.message


def test_unknown_config_field_is_named(make_vault, kit, closed_port):
    vault = make_vault()
    kit.store_root(vault, kit.NO_AUTH)
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine("app-db", "database", kit.engine_config(kit.url_template(closed_port), authdb="admin"))
    assert "authdb" in caught.value.message


def test_srv_url_is_checked_without_dns_and_resolved_only_to_connect(make_vault, kit):
    # The name is in the reserved .invalid domain: any lookup of it fails. Checking the config does none...
    template = check_config(Config(SRV_NOWHERE))
    assert template.srv and template.first_host() == ("cluster0.scaivault-test.invalid", None)
    # ...and connecting does: the failed lookup is an unreachable target, not a config error.
    vault = make_vault()
    kit.store_root(vault, kit.NO_AUTH)
    with pytest.raises(EngineUnreachable) as caught:
        vault.create_engine("app-db", "database", kit.engine_config(SRV_NOWHERE, connect_timeout=2))
    assert "resolve the mongodb+srv host name" in caught.value.message


def test_plugin_is_found_through_its_entry_point(monkeypatch):
    monkeypatch.setenv("SCAIVAULT_LOAD_PLUGINS", "scaivault-mongodb")
    pm = make_plugin_manager()
    assert pm.get_plugin("mongodb") is scaivault_mongodb
