"""Long work on the command line: run as a job, followed to its end, then shown like the synchronous answer.

``scaivault lease revoke-prefix`` and ``scaivault reconcile`` never hang on one long request: they
start a job (``sync: false``), poll it, show its progress on stderr when that is a terminal, and
print the outcome exactly as the synchronous call's. ``--timeout`` bounds the wait (the job goes
on in the server; ``scaivault job show`` follows it), ``--no-wait`` prints the job at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from ..api import VaultAPI
from ..api.commands import AsJob
from ..api.jobs import follow
from ..errors import InvalidRequest
from .output import emit, show

POLL = 0.25  # seconds between looks at a running job


def job_options() -> list[click.Option]:
    return [
        click.Option(
            ["--timeout"],
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            help="Give up waiting after this many seconds (the job goes on; `scaivault job show` follows "
            "it). Default: wait as long as it takes.",
        ),
        click.Option(
            ["--no-wait", "--async", "no_wait"],
            is_flag=True,
            help="Print the job at once instead of waiting for it (needs a server: --address).",
        ),
    ]


def run_as_job(
    how: AsJob,
    start: Callable[[], dict[str, Any]],
    api: Any,
    arguments: dict[str, Any],
    flags: dict[str, Any],
    timeout: float | None,
    no_wait: bool,
) -> None:
    """Start the job, then print it (``--no-wait``) or follow it and show its outcome as ``how.show``."""
    embedded = isinstance(api, VaultAPI)
    if no_wait and embedded:
        raise InvalidRequest(
            "--no-wait needs a server (--address / SCAIVAULT_ADDR): without one the job runs in this "
            "command and stops with it."
        )
    if timeout is not None and not embedded:
        api = api.with_timeout(timeout)  # no single request waits longer than the whole command may
    job = start()
    if no_wait:
        emit(job)
        return
    meter = _Meter() if sys.stderr.isatty() else None
    try:
        result = follow(api.get_job, job["job_id"], timeout, interval=POLL, progress=meter)
    finally:
        if meter is not None:
            meter.end()
    show(how.show, lambda **_: result, arguments, flags)


class _Meter:
    """``revoke_prefix: 120/600`` on one terminal line of stderr, rewritten as the job goes on."""

    def __init__(self) -> None:
        self.shown = False

    def __call__(self, job: dict[str, Any]) -> None:
        progress = job["progress"]
        total = "?" if progress["total"] is None else progress["total"]
        click.echo(
            f"\r{job['operation']} {job['job_id']}: {progress['done']}/{total} {job['state']}\033[K", err=True, nl=False
        )
        self.shown = True

    def end(self) -> None:
        if self.shown:
            click.echo("", err=True)
