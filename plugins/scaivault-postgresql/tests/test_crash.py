"""A process killed between "intent recorded" and "lease active" leaves no role after the next start."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from scaivault_core import LeaseState

CRASHING_ISSUER = textwrap.dedent("""
    import os, signal, sys
    from scaivault_core import Vault, hookimpl, make_plugin_manager
    from scaivault_postgresql import PostgreSQLEngine

    class CrashAfterCreate(PostgreSQLEngine):
        def create(self, request):
            issued = super().create(request)      # the role now exists in PostgreSQL...
            print(request.username, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)  # ...and the process dies before the lease is recorded

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(CrashAfterCreate)

    vault = Vault(sys.argv[1], plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]))
    vault.issue("support-db", "readonly")
""")


def test_crash_between_intent_and_lease_leaves_no_role(vault_factory, scram, configure, tmp_path):
    vault = vault_factory()
    configure(vault, scram)
    vault.close()

    script = tmp_path / "crash.py"
    script.write_text(CRASHING_ISSUER)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "vault.db")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -9, result.stderr
    username = result.stdout.strip()
    assert username in scram.roles()  # the crash really left a role behind

    # The next start hands the dead process's intent to the worker (run here, not in its thread).
    restarted = vault_factory(start_worker=False)
    restarted.expire_due()
    assert username not in scram.roles()
    [lease] = restarted.list_leases(engine="support-db")
    assert lease.subject == username and lease.state == LeaseState.ROLLED_BACK
