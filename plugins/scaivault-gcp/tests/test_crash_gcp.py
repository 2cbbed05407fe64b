"""A process killed around keys.create: the documented gap, and how the intent surfaces it.

Google names a new key only in the keys.create response, so an intent can record the account's
keys before the call but not the new key's id. A crash before Google made a key rolls back at the
next start; a crash after leaves the intent failing with the candidate key ids until the key is
deleted — it is never silently dropped.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from scaivault_core import LeaseState

CRASHING_ISSUER = textwrap.dedent("""
    import os, signal, sys
    from scaivault_core import Vault, hookimpl, make_plugin_manager
    from scaivault_gcp import GcpEngine

    point = sys.argv[2]

    def die(text):
        print(text, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    class CrashingGcpEngine(GcpEngine):
        def create(self, request):
            if point == "before_create":
                die("-")  # the intent is recorded; Google was never asked
            issued = super().create(request)
            die(issued.data["key_id"])  # Google made the key; the lease is never recorded

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(CrashingGcpEngine)

    vault = Vault(sys.argv[1], plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]))
    vault.issue("prod-gcp", "keys")
""")


def _crash(tmp_path, point: str) -> str:
    script = tmp_path / "crash.py"
    script.write_text(CRASHING_ISSUER)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "vault.db"), point], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -9, result.stderr
    return result.stdout.strip()


@pytest.fixture
def configured(vault_factory, configure, gcp_double):
    vault = vault_factory()
    configure(vault, gcp_double)
    vault.create_role(
        "prod-gcp", "keys", secret_type="service_account_key", service_account_email=gcp_double.target_email
    )
    vault.close()


def test_crash_before_google_made_a_key_rolls_back(configured, vault_factory, gcp_double, tmp_path):
    _crash(tmp_path, "before_create")
    restarted = vault_factory()
    restarted.expire_due()
    [lease] = restarted.list_leases(engine="prod-gcp")
    assert lease.state == LeaseState.ROLLED_BACK
    assert gcp_double.user_managed_keys(gcp_double.target_email) == []


def test_crash_after_google_made_a_key_keeps_the_intent_until_the_key_is_gone(
    configured, vault_factory, gcp_double, tmp_path, clock
):
    key_id = _crash(tmp_path, "after_create")
    assert [k.id for k in gcp_double.user_managed_keys(gcp_double.target_email)] == [key_id]

    restarted = vault_factory()
    restarted.expire_due()
    [lease] = restarted.list_leases(engine="prod-gcp")
    assert lease.state == LeaseState.INTENT and lease.attempts == 1  # queued, not dropped
    assert key_id in lease.last_error and "never recorded" in lease.last_error

    with gcp_double.client() as http:  # the operator deletes the key the message names
        url = f"/v1/projects/-/serviceAccounts/{gcp_double.target_email}/keys/{key_id}"
        assert http.delete(url, headers={"Authorization": f"Bearer {gcp_double.token()}"}).status_code == 200
    clock.advance(60)
    restarted.expire_due()
    assert restarted.lookup(lease.lease_id).state == LeaseState.ROLLED_BACK
