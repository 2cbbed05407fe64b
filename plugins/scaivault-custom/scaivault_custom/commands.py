"""Running an operator's command: no shell, a minimal environment, a timeout that kills the whole process group.

The command gets one JSON document on stdin and answers on stdout. Its stderr goes into error
messages (the operator needs it to debug), so it is redacted of every secret the command was
given or printed first.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterable
from typing import Any

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig, ScaiVaultError, redact

EX_TEMPFAIL = 75  # sysexits.h: "temporary failure" -- the command's way to say the target is unreachable
MAX_OUTPUT = 1 << 20  # a credential is small; more than this is a runaway command
STDERR_IN_MESSAGE = 2000  # characters of stderr kept in an error message (the end, where the cause is)


def command_environment(extra: dict[str, str]) -> dict[str, str]:
    """PATH from this process and the configured variables; nothing else leaks into a command."""
    return {"PATH": os.environ.get("PATH", os.defpath), **extra}


def run_command(
    argv: list[str],
    document: dict[str, Any],
    *,
    what: str,
    timeout: float,
    env: dict[str, str],
    cwd: str | None,
    secrets: Iterable[Any],
    failure: type[ScaiVaultError] = EngineError,
) -> bytes:
    """Run ``argv`` with ``document`` on stdin; its stdout, or an error with its redacted stderr.

    Exit status 75 (EX_TEMPFAIL) is ``engine_unreachable``; any other failure is ``failure``.
    """
    secrets = list(secrets)
    label = f"The {what} command ({os.path.basename(argv[0])})"
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise InvalidConfig(f"{label} cannot be started: {exc.strerror or type(exc).__name__}.", field=what) from None
    payload = json.dumps(document).encode()
    try:
        stdout, stderr = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        stderr = _kill(proc)
        raise EngineError(
            f"{label} did not finish within {timeout:g}s and was killed{_tail(stderr, secrets)}", command=what
        ) from None
    if proc.returncode == 0:
        if len(stdout) > MAX_OUTPUT:
            raise EngineError(f"{label} printed more than {MAX_OUTPUT} bytes.", command=what)
        return stdout
    secrets += _values_in(stdout)  # a command that failed half way may have printed a credential
    if proc.returncode == EX_TEMPFAIL:
        raise EngineUnreachable(
            f"{label} reports its target unreachable (exit status 75){_tail(stderr, secrets)}", command=what
        )
    if proc.returncode < 0:
        how = f"was killed by {signal.Signals(-proc.returncode).name}"
    else:
        how = f"exited with status {proc.returncode}"
    raise failure(f"{label} {how}{_tail(stderr, secrets)}", command=what, exit_status=proc.returncode)


def _kill(proc: subprocess.Popen) -> bytes:
    """Kill the command and everything it started (its own process group); what it wrote to stderr."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        return proc.communicate(timeout=5)[1]
    except subprocess.TimeoutExpired:
        # A grandchild left the group and holds the pipes open: stop waiting for them.
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()
        return b""


def _tail(stderr: bytes, secrets: list[Any]) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    if not text:
        return "."
    text = redact(text, secrets + [json.dumps(s)[1:-1] for s in _strings(secrets)])
    if len(text) > STDERR_IN_MESSAGE:
        text = "..." + text[-STDERR_IN_MESSAGE:]
    return f"; stderr: {text}"


def _strings(values: Iterable[Any]) -> Iterable[str]:
    for value in values:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            yield from _strings(value.values())
        elif isinstance(value, (list, tuple)):
            yield from _strings(value)


def _values_in(stdout: bytes) -> list[str]:
    try:
        return list(_strings([json.loads(stdout)]))
    except ValueError:
        return []


def parse_output(stdout: bytes, *, what: str, secrets: Iterable[Any], allow_empty: bool) -> dict[str, Any]:
    """The JSON object a command printed (or a webhook answered); ``{}`` for no output where that is allowed."""
    if not stdout.strip():
        if allow_empty:
            return {}
        raise EngineError(
            f"The {what} step printed nothing; it must print the credential as a JSON object.", command=what
        )
    try:
        value = json.loads(stdout)
    except ValueError as exc:
        # The parser's message gives a position, never the text, so it cannot leak a value.
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise EngineError(
            f"The {what} step printed invalid JSON ({detail}); it must print one JSON object.", command=what
        ) from None
    if not isinstance(value, dict):
        raise EngineError(
            f"The {what} step printed a JSON {type(value).__name__}; it must print a JSON object.", command=what
        )
    return value
