"""Following a job to its end, the same way embedded (``VaultAPI.get_job``) and remote (the client's).

A job's ``result`` is what the synchronous call answers; a failed job raises the error the
synchronous call would have raised (the class of its code); a caller that stops waiting gets
``JobStillRunning``, naming the job to follow later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import ALL_ERRORS, JobStillRunning, ScaiVaultError

_BY_CODE: dict[str, type[ScaiVaultError]] = {}
for _cls in ALL_ERRORS:
    _BY_CODE.setdefault(_cls.code, _cls)


def job_error(job: dict[str, Any]) -> ScaiVaultError:
    """The error a failed job stands for: the class of its code, as if the synchronous call had raised it."""
    error = job.get("error") or {}
    cls = _BY_CODE.get(str(error.get("code")), ScaiVaultError)
    exc = cls(str(error.get("message") or "The job failed."), job_id=job.get("job_id"))
    if cls is ScaiVaultError:  # a code this side does not know: keep the server's word for it
        exc.code = str(error.get("code") or "internal")
    return exc


def outcome(job: dict[str, Any], gave_up_after: float | None) -> ScaiVaultError | None:
    """What to raise for ``job`` now: its error if it failed, ``JobStillRunning`` if running when the caller
    gives up (``gave_up_after`` seconds), else None."""
    if job["state"] == "failed":
        return job_error(job)
    if job["state"] == "running" and gave_up_after is not None:
        progress = job["progress"]
        total = progress["total"] if progress["total"] is not None else "?"
        return JobStillRunning(
            f"Job {job['job_id']} is still running after {gave_up_after:g}s ({progress['done']} "
            f"of {total} done); follow it with GET {job['href']} (scaivault job show "
            f"{job['job_id']}).",
            job_id=job["job_id"],
        )
    return None


class Waiting:
    """How a caller follows a job, shared by the sync and asyncio clients: what each polled state means,
    and how long to pause before the next poll."""

    def __init__(
        self, timeout: float | None, interval: float, progress: Callable[[dict[str, Any]], None] | None
    ) -> None:
        self.timeout, self.interval, self.progress = timeout, interval, progress
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def ended(self, job: dict[str, Any]) -> bool:
        """True once the job succeeded; raises its error, or ``JobStillRunning`` past the deadline."""
        if self.progress is not None:
            self.progress(job)
        if job["state"] == "succeeded":
            return True
        error = outcome(job, self.timeout if self.deadline is not None and time.monotonic() >= self.deadline else None)
        if error is not None:
            raise error
        return False

    def pause(self) -> float:
        return (
            self.interval if self.deadline is None else max(0.0, min(self.interval, self.deadline - time.monotonic()))
        )


def follow(
    get_job: Callable[[str], dict[str, Any]],
    job_id: str,
    timeout: float | None,
    *,
    interval: float = 0.5,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll ``get_job(job_id)`` until the job ends; its ``result``. ``progress(job)`` hears each poll."""
    waiting = Waiting(timeout, interval, progress)
    while not waiting.ended(job := get_job(job_id)):
        time.sleep(waiting.pause())
    return job["result"]
