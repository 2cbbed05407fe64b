"""The child process of ``kill_mid_rotation.rotate_and_die``: rotate, and SIGKILL ourselves at one step.

Arguments: store, ``module:EngineClass``, secret path, kill point, the new credential's field to
print before dying at ``before-recorded`` (or "").
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from scaivault_core import Engine, Vault, hookimpl, make_plugin_manager


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main(store: str, target: str, secret_path: str, when: str, report: str) -> None:
    module, _, name = target.partition(":")
    engine_class: type[Engine] = getattr(importlib.import_module(module), name)

    class Dying(engine_class):  # type: ignore[misc, valid-type]  # a base named at run time
        def new_root_credentials(self, current):
            new = super().new_root_credentials(current)
            if when == "before-recorded":
                if report:
                    print(new[report], flush=True)
                die()
            return new

        def apply_root_credentials(self, current, new):
            if when == "before-target":
                die()
            super().apply_root_credentials(current, new)
            die()  # after-target

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(Dying)

    vault = Vault(store, plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]))
    vault.rotate_secret(secret_path, reason="crash test", grace_period="0")


if __name__ == "__main__":
    main(*sys.argv[1:6])
