"""Kill a real process in the middle of a root-credential rotation, at a point the test names.

The core rotates in steps: the engine's ``new_root_credentials`` (a cloud API may already have
made the credential), the new version recorded in the store, ``apply_root_credentials`` (the
target switches), the version committed. ``rotate_and_die`` rotates in a child process whose engine
is a subclass of the real one that SIGKILLs the process at one of ``KILL_POINTS``; the test then
opens the vault again and checks that start-up finishes the rotation, or leaves the old credential
working, and what the target holds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

KILL_POINTS = (
    "before-recorded",  # the engine made the new credential; the vault never sealed it
    "before-target",  # the new credential is recorded; the target not yet switched
    "after-target",  # the target took it; the new version not yet committed
)


def rotate_and_die(
    store: str | os.PathLike,
    engine_class: type,
    secret_path: str,
    when: str,
    *,
    report: str | None = None,
    timeout: float = 120,
    settings: Any = None,
) -> str:
    """Rotate ``secret_path`` of the vault at ``store`` in a child process killed at ``when``.

    ``engine_class`` is the plugin's engine (the child subclasses it, so its ``type`` and
    ``plugin`` are the same). With ``report``, the child prints that field of the new credential
    before dying at ``before-recorded`` (e.g. a key id, to find the stray in the target); what it
    printed is returned. ``settings`` (the operator's ``Settings``) reach the child as its
    ``SCAIVAULT_COMMAND_DIRS`` / ``SCAIVAULT_FILE_DIRS``.
    """
    if when not in KILL_POINTS:
        raise ValueError(f"when must be one of {KILL_POINTS}, not {when!r}")
    target = f"{engine_class.__module__}:{engine_class.__qualname__}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scaivault_core.testing._rotate_until_killed",
            os.fspath(store),
            target,
            secret_path,
            when,
            report or "",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_operator_env(settings),
    )
    assert result.returncode == -signal.SIGKILL, (
        f"rotation not killed at {when} (exit {result.returncode}):\n{result.stderr}"
    )
    return result.stdout.strip()


def _operator_env(settings: Any) -> dict[str, str] | None:
    if settings is None:
        return None
    return {
        **os.environ,
        "SCAIVAULT_COMMAND_DIRS": os.pathsep.join(settings.command_dirs),
        "SCAIVAULT_FILE_DIRS": os.pathsep.join(settings.file_dirs),
    }
