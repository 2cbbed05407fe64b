"""The Python client against a live server on the real PostgreSQL: errors, the context manager, renewal."""

from __future__ import annotations

import asyncio
import inspect
import time

import pytest

from scaivault_core import (
    EngineNotFound,
    EngineUnreachable,
    InvalidRequest,
    LeaseExpired,
    PermissionDenied,
    TTLExceedsMax,
    Unauthenticated,
)
from scaivault_core.client import AsyncScaiVaultClient, DynamicCredentials, ScaiVaultClient, ServerUnreachable
from scaivault_core.hvac_names import ALIASES
from scaivault_core.models import IssuedCredentials, Job
from scaivault_core.rest import VaultAPI
from scaivault_core.testing.servers import LiveServer, free_port


def public_methods(cls) -> dict[str, inspect.Signature]:
    # Parameters only: the client's return annotation is "whatever the server sent" (or an awaitable of it).
    return {
        name: inspect.signature(fn).replace(return_annotation=inspect.Signature.empty)
        for name, fn in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_")
        and name not in ("close", "aclose", "dynamic_credentials", "wait_job", "with_timeout", *ALIASES)
    }


def test_client_mirrors_the_rest_api_method_for_method():
    expected = public_methods(VaultAPI)
    for cls in (ScaiVaultClient, AsyncScaiVaultClient):
        assert public_methods(cls) == expected


def test_errors_are_the_core_exceptions(server, client):
    with ScaiVaultClient(server.url, server.admin_token) as admin, pytest.raises(EngineNotFound) as missing:
        admin.issue("nope", "readonly")
    assert missing.value.code == "engine_not_found" and missing.value.status == 404
    assert missing.value.details == {"engine": "nope"}
    with pytest.raises(TTLExceedsMax) as too_long:
        client.issue("pg", "readonly", ttl="9h")
    assert too_long.value.details["max_ttl"] == "8h"
    with pytest.raises(PermissionDenied) as denied:
        client.issue("nope", "readonly")  # no grant on that role path, so whether it exists is not told
    assert denied.value.details["identity"] == "sa:svc"
    with pytest.raises(InvalidRequest):
        client.issue("pg", "readonly", ttl="soon")
    with ScaiVaultClient(server.url, "svt.wrong") as stranger, pytest.raises(Unauthenticated):
        stranger.list_leases()
    with ScaiVaultClient(server.url) as anonymous:
        assert anonymous.health()["status"] == "ok"
    with ScaiVaultClient(f"http://127.0.0.1:{free_port()}", "t") as nowhere, pytest.raises(ServerUnreachable) as down:
        nowhere.health()
    assert down.value.code == "server_unreachable"


def test_context_manager_revokes_when_the_body_raises(client, pg_role_exists, can_login):
    with (
        pytest.raises(RuntimeError, match="report failed"),
        client.dynamic_credentials("pg", "readonly", ttl="1h", metadata={"job": "nightly"}) as creds,
    ):
        username = creds["username"]
        assert can_login(creds["connection_url"])
        assert client.lookup(creds.lease_id).metadata == {"job": "nightly"}
        raise RuntimeError("report failed")
    assert not pg_role_exists(username)
    assert client.lookup(creds.lease_id).state == "revoked"
    assert creds["password"] not in repr(creds)


def test_context_manager_revokes_on_normal_exit(client, pg_role_exists):
    with client.dynamic_credentials("pg", "readonly") as creds:
        assert creds.lease_duration == "1h" and pg_role_exists(creds["username"])
    assert not pg_role_exists(creds["username"])


def test_background_renewal_keeps_the_lease_past_its_first_ttl(client, pg_role_exists, can_login):
    with client.dynamic_credentials("pg", "readonly", ttl="3s", renew=True) as creds:
        first_expiry = creds.expires_at
        time.sleep(7)  # more than two TTLs: without renewal the worker would have revoked it
        assert client.lookup(creds.lease_id).state == "active"
        assert can_login(creds["connection_url"])  # PostgreSQL's VALID UNTIL moved too
        assert creds.renewals >= 2 and creds.expires_at > first_expiry and creds.renewal_error is None
    assert not pg_role_exists(creds["username"])
    assert client.lookup(creds.lease_id).state == "revoked"


def test_without_renewal_the_lease_expires(client, pg_role_exists):
    with client.dynamic_credentials("pg", "readonly", ttl="2s") as creds:
        deadline = time.monotonic() + 20
        while pg_role_exists(creds["username"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not pg_role_exists(creds["username"])  # the server's worker revoked it at expiry
    assert client.lookup(creds.lease_id).state == "revoked"  # and revoking it again on exit is fine


def test_renewal_stops_at_the_max_ttl(client):
    with client.dynamic_credentials("pg", "brief", ttl="3s", renew=True) as creds:
        time.sleep(3)
        assert creds.capped and creds.renewals == 1  # 3s + 3s is past the role's 5s: capped, nothing more to gain


def test_async_client(server, pg_role_exists, can_login):
    async def scenario():
        async with AsyncScaiVaultClient(server.url, server.service_token) as client:
            with pytest.raises(PermissionDenied):
                await client.issue("nope", "readonly")
            with pytest.raises(ValueError):
                async with client.dynamic_credentials("pg", "readonly", ttl="1h") as creds:
                    failed_user = creds["username"]
                    raise ValueError("boom")
            assert not pg_role_exists(failed_user)
            async with client.dynamic_credentials("pg", "readonly", ttl="3s", renew=True) as creds:
                await asyncio.sleep(7)
                assert (await client.lookup(creds.lease_id)).state == "active"
                assert can_login(creds["connection_url"]) and creds.renewals >= 2
            assert (await client.lookup(creds.lease_id)).state == "revoked"
            assert not pg_role_exists(creds["username"])

    asyncio.run(scenario())


def test_async_client_follows_a_revoke_prefix_job_to_its_end(server, pg_role_exists):
    async def scenario():
        async with AsyncScaiVaultClient(server.url, server.admin_token) as client:
            issued = [await client.issue("pg", "readonly", ttl="1h") for _ in range(3)]
            job = await client.revoke_prefix("lease_", engine="pg", role="readonly", sync=False)
            seen = []
            assert isinstance(job, Job) and job.state == "running"  # what Vault.revoke_prefix_job answers
            result = await client.wait_job(job.job_id, timeout=120, interval=0.05, progress=seen.append)
            assert result["revoked"] >= 3 and result["failed"] == [] and seen[-1].state == "succeeded"
            for creds in issued:  # whatever else an earlier test of this module left goes too
                assert (await client.lookup(creds.lease_id)).state == "revoked"
                assert not pg_role_exists(creds.data["username"])

    asyncio.run(scenario())


def test_tls_with_a_ca_bundle(tmp_path, front_end):
    with LiveServer(tmp_path / "tls", tls=True, front_end=front_end) as server:
        with ScaiVaultClient(server.url, server.admin_token, verify=str(server.ca)) as trusted:
            assert trusted.list_policies()[0].name == "root"
        with ScaiVaultClient(server.url, server.admin_token) as untrusting, pytest.raises(ServerUnreachable):
            untrusting.list_policies()


def test_renewal_bookkeeping():
    creds = DynamicCredentials.from_issue(
        {
            "lease_id": "lease_db_x",
            "data": {"password": "p"},
            "lease_duration": "1h30m",
            "renewable": True,
            "expires_at": "2030-01-01T00:00:00Z",
        }
    )
    assert creds.period == 5400
    assert creds.record_renewal({"expires_at": "2030-01-01T01:30:00Z", "lease_duration": "3h", "capped": False})
    assert creds.renewals == 1 and creds.renewal_error is None and creds.expires_at == "2030-01-01T01:30:00Z"
    assert creds.record_renewal(EngineUnreachable("target down"))  # transient: try again soon
    assert creds.seconds_until_renewal() <= 5
    assert not creds.record_renewal(LeaseExpired("expired"))  # final
    assert not creds.record_renewal(
        {
            "expires_at": "2030-01-01T02:00:00Z",
            "lease_duration": "3h",
            "capped": True,
            "data": {"certificate": "ssh-ed25519-cert-v01@openssh.com AAAA"},
        }
    )
    assert creds.data == {"password": "p", "certificate": "ssh-ed25519-cert-v01@openssh.com AAAA"}


def test_hvac_style_names_and_top_level_exports(client):
    import scaivault_core
    from scaivault_core import client as client_module

    assert scaivault_core.ScaiVaultClient is client_module.ScaiVaultClient
    assert scaivault_core.AsyncScaiVaultClient is client_module.AsyncScaiVaultClient
    issued = client.generate_credentials("pg", "readonly", ttl="5m")
    assert isinstance(issued, IssuedCredentials) and issued.lease is None  # the REST answer carries no record
    assert client.renew_lease(issued.lease_id, increment="5m").capped is False
    assert client.lookup_lease(issued.lease_id).state == "active"
    assert client.revoke_lease(issued.lease_id) is None
    assert client.read_lease(issued.lease_id).state == "revoked"
