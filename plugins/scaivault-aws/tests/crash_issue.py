"""Run as a subprocess by test_engine_crash.py (never imported): issue, then die mid-issue.

    python crash_issue.py STORE_PATH ROLE OPERATION

Opens the Vault on STORE_PATH with an engine class that is the real AwsEngine except that its
IAM client kills this process with SIGKILL right after AWS answers OPERATION (e.g. CreateUser):
no exception handler, no finally block and no atexit runs, as in a power cut or an OOM kill.
"""

from __future__ import annotations

import os
import signal
import sys

from scaivault_aws import AwsEngine
from scaivault_core import Vault, hookimpl, make_plugin_manager


def main(store: str, role: str, operation: str) -> None:
    hooked: set[int] = set()

    class CrashingAwsEngine(AwsEngine):
        def clients(self):
            clients = super().clients()
            if id(clients.iam) not in hooked:
                hooked.add(id(clients.iam))
                clients.iam.meta.events.register(
                    f"after-call.iam.{operation}", lambda **_: os.kill(os.getpid(), signal.SIGKILL)
                )
            return clients

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(CrashingAwsEngine)

    pm = make_plugin_manager(load_entrypoints=False, plugins=[Plugin()])
    vault = Vault(store, plugin_manager=pm, start_worker=False)
    vault.issue("aws", role)
    sys.exit("the issue finished: the crash point was never reached")


if __name__ == "__main__":
    main(*sys.argv[1:])
