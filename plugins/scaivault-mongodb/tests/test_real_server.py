"""The whole login/revoke cycle against a real MongoDB, run only when ``SCAIVAULT_TEST_MONGODB_URL`` names one.

Set it to a root URL, e.g. ``mongodb://root:secret@127.0.0.1:27017/admin`` (or a ``mongodb+srv://``
URL), whose user may create and drop users (``root``, or ``userAdminAnyDatabase`` plus
``readWriteAnyDatabase``). The tests work in a fresh database ``sv_test_<random>`` and drop it,
and every user they created, afterwards. Without the variable they are reported as skipped.
"""

from __future__ import annotations

import os
import types
import uuid
from urllib.parse import unquote

import attrs
import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from scaivault_core import InvalidConfig, LeaseState
from scaivault_mongodb.urls import parse_url

ENV = "SCAIVAULT_TEST_MONGODB_URL"
ROLE = "svtest"  # users are v_svtest_<random>, which cleanup looks for


@pytest.fixture(scope="module")
def real():
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(
            f"{ENV} is not set: no real MongoDB server to run the login/revoke cycle against "
            "(the commands themselves are checked against mockupdb in test_commands.py)"
        )
    parsed = parse_url(url)
    username, _, password = parsed.userinfo.partition(":")
    database = f"sv_test_{uuid.uuid4().hex[:8]}"
    admin = MongoClient(url, serverSelectionTimeoutMS=10_000)
    admin[database].reports.insert_one({"_id": 1, "body": "hello"})
    try:
        yield types.SimpleNamespace(
            root={"username": unquote(username), "password": unquote(password)},
            template=str(attrs.evolve(parsed, userinfo="{{username}}:{{password}}")),
            database=database,
            admin=admin,
        )
    finally:
        for user in admin.admin.command("usersInfo", 1)["users"]:
            if user["user"].startswith(f"v_{ROLE}_"):
                admin.admin.command("dropUser", user["user"])
        admin.drop_database(database)
        admin.close()


@pytest.fixture
def vault(make_vault, kit, real):
    vault = make_vault()
    kit.store_root(vault, real.root)
    vault.create_engine("app-db", "database", kit.engine_config(real.template), default_ttl="1h", max_ttl="24h")
    vault.create_role("app-db", ROLE, db_roles=[{"role": "read", "db": real.database}])
    return vault


def login(url: str) -> MongoClient:
    return MongoClient(url, serverSelectionTimeoutMS=10_000)


def test_issued_user_reads_cannot_write_and_is_gone_after_revoke(vault, real):
    creds = vault.issue("app-db", ROLE, ttl="10m")
    held = login(creds.data["connection_url"])
    assert held[real.database].reports.find_one({"_id": 1})["body"] == "hello"
    with pytest.raises(OperationFailure) as refused:
        held[real.database].reports.insert_one({"_id": 2})
    assert refused.value.code == 13  # Unauthorized: the role grants read only

    assert vault.revoke(creds.lease_id).state == LeaseState.REVOKED
    fresh = login(creds.data["connection_url"])
    with pytest.raises(OperationFailure) as denied:
        fresh[real.database].reports.find_one()
    assert denied.value.code == 18  # AuthenticationFailed: the user no longer exists
    # The connection it held is logged out by the server when the user is dropped: its next command fails.
    with pytest.raises(OperationFailure):
        held[real.database].reports.find_one()
    held.close()
    fresh.close()
    assert creds.data["username"] not in {u["user"] for u in real.admin.admin.command("usersInfo", 1)["users"]}


def test_expired_lease_cannot_log_in(vault, real, clock):
    creds = vault.issue("app-db", ROLE, ttl="5m")
    client = login(creds.data["connection_url"])
    assert client[real.database].reports.count_documents({}) == 1
    client.close()
    clock.advance(301)
    assert vault.expire_due() == 1
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    client = login(creds.data["connection_url"])
    with pytest.raises(OperationFailure):
        client[real.database].reports.find_one()
    client.close()


def test_wrong_root_password_is_invalid_config(make_vault, kit, real):
    vault = make_vault()
    kit.store_root(vault, {**real.root, "password": real.root["password"] + "-wrong"})
    with pytest.raises(InvalidConfig) as caught:
        vault.create_engine("app-db", "database", kit.engine_config(real.template))
    assert "Authentication failed" in caught.value.message
    assert real.root["password"] not in caught.value.message
