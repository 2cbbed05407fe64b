"""The embedded vault's front-end shapes: Vault.dynamic_credentials like the client's, AsyncVault for
asyncio applications (its calls leave the event loop free), and the hvac-style lease names."""

from __future__ import annotations

import asyncio
import threading

import pytest

from scaivault_core import AsyncVault, DynamicCredentials, LeaseNotFound, Vault
from scaivault_core.client import AsyncScaiVaultClient, ScaiVaultClient
from scaivault_core.hvac_names import ALIASES


def grant_reader(vault: Vault) -> None:
    vault.create_policy("mem-read", [{"path_pattern": "dynamic/engines/mem/roles/readonly", "permissions": ["read"]}])
    vault.bind_policy("mem-read", "sa:app")


def test_vault_dynamic_credentials_revokes_after_the_block(vault, target):
    grant_reader(vault)
    app = vault.as_identity("sa:app")
    with app.dynamic_credentials("mem", "readonly", ttl="10m") as creds:
        assert isinstance(creds, DynamicCredentials) and creds.lease_duration == "10m"
        assert target.login(creds["username"], creds["password"])
        assert creds["password"] not in repr(creds)
    assert vault.lookup(creds.lease_id).state == "revoked"
    assert not target.login(creds["username"], creds["password"])

    with pytest.raises(RuntimeError, match="the block failed"):
        with app.dynamic_credentials("mem", "readonly") as failing:
            raise RuntimeError("the block failed")
    assert vault.lookup(failing.lease_id).state == "revoked"


def test_async_vault_runs_calls_off_the_loop(vault, target):
    grant_reader(vault)
    app = AsyncVault(vault).as_identity("sa:app")
    assert app.identity == "sa:app" and repr(app) == "<AsyncVault sa:app>"

    async def main():
        # The target is held busy: a blocking call would stall this loop; an AsyncVault one waits in its thread.
        target._lock.acquire()
        breaker = threading.Timer(60, target._lock.release)  # ends a wrongly blocked loop, failing the test
        breaker.start()
        try:
            issuing = asyncio.create_task(app.issue("mem", "readonly", ttl="5m"))
            for _ in range(3):
                await asyncio.sleep(0)
            loop_was_free = not issuing.done()
        finally:
            if breaker.is_alive():
                breaker.cancel()
                target._lock.release()
        issued = await issuing
        assert loop_was_free
        assert (await app.lookup(issued.lease_id)).state == "active"
        async with app.dynamic_credentials("mem", "readonly", ttl="1m") as creds:
            assert target.login(creds["username"], creds["password"])
        assert (await app.read_lease(creds.lease_id)).state == "revoked"
        await app.revoke_lease(issued.lease_id)
        with pytest.raises(LeaseNotFound):
            await app.lookup("lease_db_nosuch")
        return issued

    issued = asyncio.run(main())
    assert vault.lookup(issued.lease_id).state == "revoked"


def test_hvac_names_are_our_methods(vault):
    for alias, ours in ALIASES.items():
        for cls in (Vault, ScaiVaultClient, AsyncScaiVaultClient):
            assert getattr(cls, alias) is getattr(cls, ours), (cls, alias)
    issued = vault.generate_credentials("mem", "readonly", ttl="5m")
    assert vault.renew_lease(issued.lease_id, "5m").lease.expires_at > issued.lease.expires_at
    assert vault.lookup_lease(issued.lease_id).state == "active"
    assert vault.revoke_lease(issued.lease_id).state == "revoked"
    assert vault.read_lease(issued.lease_id).state == "revoked"
