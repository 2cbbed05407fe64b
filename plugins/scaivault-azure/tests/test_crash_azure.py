"""A process killed between Azure creating objects and the lease being recorded leaves nothing behind.

The intent recorded before the first call names the application (its uniqueName) and the role
assignments (their GUIDs), so the next start finds and removes whatever exists.
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
    from scaivault_azure import AzureEngine

    point = sys.argv[2]

    def die(client_id):
        print(client_id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    class CrashingAzureEngine(AzureEngine):
        def create(self, request):
            if point == "after_application":  # the application exists, nothing else yet
                upsert = self._graph.upsert_application
                self._graph.upsert_application = lambda *a: die(upsert(*a)["appId"])
            issued = super().create(request)
            die(issued.data["client_id"])  # everything exists; the lease is never recorded

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(CrashingAzureEngine)

    vault = Vault(sys.argv[1], plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]))
    vault.issue("prod-azure", "rg-reader")
""")


@pytest.mark.parametrize("point", ["after_application", "after_create"])
def test_crash_after_azure_created_objects_is_undone_on_restart(
    vault_factory, configure, azure_double, tmp_path, point
):
    vault = vault_factory()
    configure(vault, azure_double)
    scope = f"/subscriptions/{azure_double.subscription_id}/resourceGroups/{azure_double.resource_group}"
    vault.create_role("prod-azure", "rg-reader", azure_roles=[{"role_name": "Reader", "scope": scope}])
    vault.close()

    script = tmp_path / "crash.py"
    script.write_text(CRASHING_ISSUER)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "vault.db"), point], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == -9, result.stderr
    client_id = result.stdout.strip()
    app = azure_double.application(client_id)
    assert app is not None  # the crash really left an application behind
    principal = azure_double.service_principal(client_id)
    if point == "after_create":
        assert principal is not None and app.passwords
        assert any(a.principal_id == principal.id for a in azure_double.role_assignments.values())

    restarted = vault_factory()
    restarted.expire_due()
    [lease] = restarted.list_leases(engine="prod-azure")
    assert lease.state == LeaseState.ROLLED_BACK
    assert azure_double.application(client_id) is None
    assert azure_double.service_principal(client_id) is None
    if principal is not None:
        assert not any(a.principal_id == principal.id for a in azure_double.role_assignments.values())
