"""The custom engine's webhook form against a real HTTP server that checks every signature."""

from __future__ import annotations

import json
import time

import pytest

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig, LeaseOptions, LeaseState
from scaivault_core.testing import free_port, wait_until
from scaivault_custom import SIGNATURE_HEADER, sign, verify_signature

KEY = "webhook-hmac-key-5d1e0b6a8c2f4e97"


@pytest.fixture
def engine(vault, webhook_server, configure):
    configure(
        vault,
        name="hooks",
        root={"hmac_key": KEY, "api_token": "provisioner-api-token-91ab"},
        verify_url=webhook_server.url("verify"),
        timeout=2,
    )
    vault.create_role(
        "hooks",
        "deploy",
        create_url=webhook_server.url("create"),
        revoke_url=webhook_server.url("revoke"),
        renew_url=webhook_server.url("renew"),
        default_ttl="1h",
        max_ttl="3h",
    )
    return "hooks"


def test_issue_renew_and_revoke_through_signed_webhooks(vault, engine, webhook_server):
    issued = vault.issue(engine, "deploy", metadata={"ticket": "OPS-9"})
    name = issued.data["username"]
    assert webhook_server.users[name]["password"] == issued.data["password"]
    assert "handle" not in issued.data
    vault.renew(issued.lease_id, "1h")
    vault.revoke(issued.lease_id)
    assert name not in webhook_server.users

    paths = [r["path"] for r in webhook_server.requests]
    assert paths == ["/verify", "/create", "/renew", "/revoke"]
    create, renew, revoke = webhook_server.requests[1:]
    assert create["headers"]["X-ScaiVault-Operation"] == "create"
    assert create["headers"]["X-ScaiVault-Lease"] == issued.lease_id
    assert create["headers"]["Idempotency-Key"] == f"{issued.lease_id}:create"
    doc = create["document"]
    assert doc["lease_id"] == issued.lease_id and doc["metadata"] == {"ticket": "OPS-9"}
    assert doc["password"] == issued.data["password"] and doc["ttl_seconds"] == 3600
    assert "root_credentials" not in doc  # the role did not opt in
    assert renew["document"]["handle"] == {"account": f"acct-{name}"}
    assert revoke["document"]["handle"] == {"account": f"acct-{name}"} and "password" not in revoke["document"]
    assert all(KEY not in json.dumps(r["document"]) for r in webhook_server.requests)


def test_the_signing_key_is_never_sent_even_to_roles_that_opt_in(vault, engine, webhook_server):
    vault.create_role(
        "hooks",
        "admin",
        create_url=webhook_server.url("create"),
        revoke_url=webhook_server.url("revoke"),
        pass_root_credentials=True,
    )
    vault.issue(engine, "admin")
    doc = webhook_server.requests[-1]["document"]
    assert doc["root_credentials"] == {"api_token": "provisioner-api-token-91ab"}


def test_a_wrong_key_is_invalid_config(vault, webhook_server, configure):
    with pytest.raises(InvalidConfig) as caught:
        configure(
            vault, name="hooks", root={"hmac_key": "not-the-servers-key-000"}, verify_url=webhook_server.url("verify")
        )
    assert "refused the request (HTTP 401)" in caught.value.message and "hmac_key" in caught.value.message
    assert "not-the-servers-key-000" not in caught.value.message


def test_a_server_error_is_an_engine_error_with_the_body_redacted(vault, engine, webhook_server):
    webhook_server.script["/create"] = [(500, '{"error": "cannot use password PASSWORD"}', 0)]
    with pytest.raises(EngineError) as caught:
        vault.issue(engine, "deploy")
    message = caught.value.message
    assert "answered HTTP 500" in message and "cannot use password ***" in message
    (lease,) = vault.list_leases(engine="hooks")
    assert lease.state == LeaseState.ROLLED_BACK  # revoke was called for whatever create may have made


def test_invalid_json_from_the_service_is_an_engine_error(vault, engine, webhook_server):
    webhook_server.script["/create"] = [(200, "created PASSWORD", 0)]
    with pytest.raises(EngineError) as caught:
        vault.issue(engine, "deploy")
    assert "printed invalid JSON" in caught.value.message and "created" not in caught.value.message


def test_a_slow_service_is_engine_unreachable_at_the_timeout(vault, engine, webhook_server):
    webhook_server.script["/create"] = [(200, "{}", 4)]
    started = time.monotonic()
    with pytest.raises(EngineUnreachable) as caught:
        vault.issue(engine, "deploy")
    assert time.monotonic() - started < 4
    assert "did not answer within 2s" in caught.value.message


def test_a_create_that_lands_after_its_timeout_is_revoked_again(vault, engine, webhook_server, clock):
    # The service creates the user 3 s after the request, the engine gives up after 2 s: the
    # rollback's revoke reaches the service first, and then the user appears.
    webhook_server.script["/create"] = [(200, None, 3)]
    with pytest.raises(EngineUnreachable) as caught:
        vault.issue(engine, "deploy")
    assert "did not answer within 2s" in caught.value.message
    (lease,) = vault.list_leases(engine="hooks")
    assert [r["path"] for r in webhook_server.requests][-1] == "/revoke"  # revoked at once, before the user exists
    assert wait_until(lambda: webhook_server.users, timeout=60)  # the late create landed
    assert lease.state == LeaseState.INTENT and "revoked again" in lease.last_error

    clock.advance(LeaseOptions().intent_timeout)  # the window in which a late create lands
    vault.expire_due()
    assert webhook_server.users == {}  # revoked again: nothing left behind
    assert vault.lookup(lease.lease_id).state == LeaseState.ROLLED_BACK
    revokes = [r for r in webhook_server.requests if r["path"] == "/revoke"]
    assert len(revokes) == 2 and {r["headers"]["X-ScaiVault-Lease"] for r in revokes} == {lease.lease_id}


def test_a_create_that_never_reached_the_service_is_rolled_back_at_once(vault, configure, webhook_server):
    configure(vault, name="hooks", root={"hmac_key": KEY})
    closed = webhook_server.url("create", ("127.0.0.1", free_port()))
    vault.create_role("hooks", "deploy", create_url=closed, revoke_url=webhook_server.url("revoke"))
    with pytest.raises(EngineUnreachable):
        vault.issue("hooks", "deploy")
    (lease,) = vault.list_leases(engine="hooks")
    assert lease.state == LeaseState.ROLLED_BACK  # refused at connect: nothing can land later


def test_an_unavailable_service_is_engine_unreachable(vault, engine, webhook_server):
    webhook_server.script["/create"] = [(503, "maintenance", 0)]
    with pytest.raises(EngineUnreachable) as caught:
        vault.issue(engine, "deploy")
    assert "unavailable (HTTP 503): maintenance" in caught.value.message


def test_a_closed_port_is_engine_unreachable(vault, configure):
    port = free_port()  # nothing listens there
    with pytest.raises(EngineUnreachable) as caught:
        configure(vault, name="hooks", root={"hmac_key": KEY}, verify_url=f"http://127.0.0.1:{port}/verify?token=abc")
    assert "cannot be reached" in caught.value.message and "token=abc" not in caught.value.message


def test_revoke_accepts_gone_and_retries_other_failures(vault, engine, webhook_server, clock):
    first, second = vault.issue(engine, "deploy"), vault.issue(engine, "deploy")
    webhook_server.script["/revoke"] = [(410, '{"error": "gone"}', 0), (404, "no such path", 0)]
    assert vault.revoke(first.lease_id).state == LeaseState.REVOKED
    with pytest.raises(EngineError) as caught:
        vault.revoke(second.lease_id)
    assert "answered HTTP 404" in caught.value.message
    assert vault.lookup(second.lease_id).state == LeaseState.REVOKING
    clock.advance(60)
    vault.expire_due()
    assert vault.lookup(second.lease_id).state == LeaseState.REVOKED


@pytest.mark.parametrize(
    "root, role, field",
    [
        (None, {}, "create_url"),
        ({"hmac_key": KEY}, {"create_url": "ftp://127.0.0.1/c"}, "create_url"),
        ({"hmac_key": KEY}, {"create_url": "http://provisioner.example/c"}, "create_url"),
        ({"hmac_key": KEY}, {"revoke_url": None}, "revoke_url"),
    ],
)
def test_bad_webhook_roles_are_invalid_config(vault, configure, root, role, field):
    configure(vault, name="hooks", root=root)
    body = {"create_url": "http://127.0.0.1:1/create", "revoke_url": "http://127.0.0.1:1/revoke", **role}
    with pytest.raises(InvalidConfig) as caught:
        vault.create_role("hooks", "bad", **{k: v for k, v in body.items() if v is not None})
    assert caught.value.details.get("field") == field, caught.value.message


def test_a_short_signing_key_is_refused_when_the_engine_is_configured(vault, configure):
    with pytest.raises(InvalidConfig) as caught:
        configure(vault, name="hooks", root={"hmac_key": "short-key"})
    assert caught.value.details["field"] == "root_credentials.hmac_key"
    assert "short-key" not in caught.value.message


def test_plain_http_to_other_hosts_needs_allow_http(vault, configure):
    configure(vault, name="hooks", root={"hmac_key": KEY}, allow_http=True)
    vault.create_role(
        "hooks", "lan", create_url="http://provisioner.example/c", revoke_url="http://provisioner.example/r"
    )


def test_signature_checks():
    key, body = KEY.encode(), b'{"operation": "create"}'
    header = sign(key, body)
    assert verify_signature(key, header, body)
    assert not verify_signature(key, header, body + b" ")
    assert not verify_signature(b"another-key-entirely", header, body)
    assert not verify_signature(key, sign(key, body, int(time.time()) - 301), body)
    assert not verify_signature(key, None, body) and not verify_signature(key, "v1=abc", body)
    assert SIGNATURE_HEADER == "X-ScaiVault-Signature"
