"""Jobs: long admin work (revoke-prefix, reconcile) run in the background and kept in the store.

A request with ``"sync": false`` is checked exactly as the synchronous call would be (its
permission, its engine), recorded as a job, and answered at once; a thread of this process does
the work, recording its progress and the outcome so far after each batch. A job is claimed the
way a lease is (``claimed_by``, ``claim_deadline``, renewed while it runs): when its process dies,
the next process started on the same host takes it over at once, and any process sharing the
store does once the claim lapses. The work is idempotent (a revoked lease is no longer live, a
removed orphan is no longer listed), so taking over runs what is left and adds it to the outcome
recorded so far.

Who may read a job: its creator, or whoever holds the grant its operation needed. Anyone else is
told ``job_not_found``, as for a job that does not exist.
"""

from __future__ import annotations

import logging
import string
import threading
from collections.abc import Callable
from typing import Any

import attrs

from .auth import Authorizer, Caller
from .errors import JobNotFound, ScaiVaultError
from .expiry import dead_on_this_host
from .models import Job, JobState
from .policies import engine_path
from .randomness import random_string
from .store import Store

log = logging.getLogger("scaivault.jobs")
KEEP_FINISHED = 7 * 86400  # a finished job can be read for a week, then it is deleted
Progress = Callable[[int, int, dict[str, Any]], None]


@attrs.frozen
class Kind:
    """One operation that can run as a job: how to run it, what grant reads it, how outcomes add up."""

    run: Callable[[str, dict[str, Any], Progress], dict[str, Any]]  # (caller, params, progress) -> the sync answer
    grant: Callable[[dict[str, Any]], str]  # the path pattern on which `revoke` was needed
    merge: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]  # (outcome before a take-over, after)


def revoke_prefix_grant(params: dict[str, Any]) -> str:
    return engine_path(params["engine"]) if params.get("engine") else "dynamic/engines/*"


def merge_revoke_prefix(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    # in_progress is the last run's: leases busy before a take-over are finished or counted again.
    return {
        "revoked": before["revoked"] + after["revoked"],
        "failed": before["failed"] + after["failed"],
        "in_progress": after["in_progress"],
    }


def merge_reconcile(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    revoked = list(dict.fromkeys(before.get("revoked", []) + after.get("revoked", [])))
    return {
        **after,
        "orphans": sorted(set(after.get("orphans", [])) | set(revoked)),
        "revoked": revoked,
        "failed": after.get("failed", []),
    }


class _Lost(Exception):
    """The job is no longer this process's: another took it over, or this one is closing."""


class JobManager:
    def __init__(
        self,
        store: Store,
        clock: Any,
        authorizer: Authorizer,
        auditor: Any,
        instance: str,
        claim_timeout: float,
        kinds: dict[str, Kind],
    ) -> None:
        self._store, self._clock, self._auth, self._audit = store, clock, authorizer, auditor
        self.instance, self.claim_timeout, self.kinds = instance, claim_timeout, kinds
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()

    def start(self, identity: str, operation: str, params: dict[str, Any]) -> Job:
        """Record a job for ``operation`` (already checked as the caller's to make) and start it here."""
        now = self._clock.time()
        job = Job(
            job_id="job_" + random_string(string.ascii_lowercase + string.digits, 20),
            operation=operation,
            params=params,
            identity=str(identity),
            ceilings=list(getattr(identity, "ceilings", ())),
            created_at=now,
            updated_at=now,
            claimed_by=self.instance,
            claim_deadline=now + self.claim_timeout,
        )
        self._store.insert_job(job)
        self._audit.record(
            identity, "job.start", self.kinds[operation].grant(params), job_id=job.job_id, job_operation=operation
        )
        self._launch(attrs.evolve(job), identity)  # the thread's own copy: what is returned stays as recorded now
        return job

    def get(self, identity: str, job_id: str) -> Job:
        """The job, if ``identity`` created it or holds the grant its operation needed; else ``job_not_found``."""
        job = self._store.get_job(job_id) if isinstance(job_id, str) else None
        if job is not None and str(identity) == job.identity:
            return job
        # A missing job runs the same check as a foreign one, and both are refusals: neither the answer,
        # its timing nor the audit log tells them apart.
        kind = self.kinds.get(job.operation) if job is not None else None
        grant = kind.grant(job.params) if job is not None and kind is not None else "dynamic/engines/*"
        if self._auth.holds(identity, grant, "revoke") and job is not None and kind is not None:
            return job
        self._auth.denied(identity, f"sys/jobs/{job_id}", "read")
        raise JobNotFound(f"No job has the id {job_id!r}.", job_id=job_id)

    def take_over(self) -> int:
        """Run the jobs whose process died (on this host) or whose claim lapsed; drop week-old finished ones."""
        now = self._clock.time()
        taken = 0
        for job in self._store.running_jobs():
            with self._lock:
                if job.job_id in self._threads or job.operation not in self.kinds:
                    continue
            lapsed = job.claim_deadline is None or job.claim_deadline < now
            if not lapsed and not dead_on_this_host(job.claimed_by):
                continue
            if not self._store.update_job(
                job.job_id,
                {"claimed_by": self.instance, "claim_deadline": now + self.claim_timeout},
                expect={"state": JobState.RUNNING, "claimed_by": job.claimed_by},
            ):
                continue  # another process took it first
            log.info("taking over job %s (%s) from %s", job.job_id, job.operation, job.claimed_by)
            job.claimed_by = self.instance
            self._launch(job, Caller(job.identity, job.ceilings))
            taken += 1
        self._store.delete_finished_jobs(now - KEEP_FINISHED)
        return taken

    def close(self, wait: float = 10.0) -> None:
        """Stop between batches; a job cut short keeps running state and is taken over by the next process."""
        self._closing.set()
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(timeout=wait)

    # -- running one job --------------------------------------------------------------------------------

    def _launch(self, job: Job, caller: str) -> None:
        thread = threading.Thread(target=self._work, args=(job, caller), name=f"scaivault-{job.job_id}", daemon=True)
        with self._lock:
            self._threads[job.job_id] = thread
        thread.start()

    def _work(self, job: Job, caller: str) -> None:
        kind = self.kinds[job.operation]
        before, done_before = job.result, job.done if job.result else 0
        lost, stop = threading.Event(), threading.Event()
        keeper = threading.Thread(
            target=self._keep_claim, args=(job, lost, stop), daemon=True, name=f"scaivault-{job.job_id}-claim"
        )
        keeper.start()

        def progress(done: int, total: int, outcome: dict[str, Any]) -> None:
            if lost.is_set() or self._closing.is_set():
                raise _Lost()
            self._save(
                job,
                {
                    "done": done_before + done,
                    "total": done_before + total,
                    "result": kind.merge(before, outcome) if before else outcome,
                },
            )

        try:
            result = kind.run(caller, job.params, progress)
            self._save(
                job,
                {
                    "state": JobState.SUCCEEDED,
                    "result": kind.merge(before, result) if before else result,
                    "finished_at": self._clock.time(),
                    "claimed_by": None,
                    "claim_deadline": None,
                },
            )
        except _Lost:
            self._release(job)
        except ScaiVaultError as exc:
            self._finish_failed(job, {"code": exc.code, "message": exc.message})
        except Exception as exc:  # a bug, or the store closing under us; never a message that could hold a secret
            if self._closing.is_set():
                self._release(job)
            else:
                log.exception("job %s (%s) failed", job.job_id, job.operation)
                self._finish_failed(
                    job, {"code": "internal", "message": f"Unexpected {type(exc).__name__}; see the server's log."}
                )
        finally:
            stop.set()
            with self._lock:
                self._threads.pop(job.job_id, None)

    def _save(self, job: Job, changes: dict[str, Any]) -> None:
        changes = {**changes, "updated_at": self._clock.time()}
        if not self._store.update_job(
            job.job_id, changes, expect={"claimed_by": self.instance, "state": JobState.RUNNING}
        ):
            raise _Lost()
        for key, value in changes.items():
            setattr(job, key, value)

    def _finish_failed(self, job: Job, error: dict[str, Any]) -> None:
        try:
            self._save(
                job,
                {
                    "state": JobState.FAILED,
                    "error": error,
                    "finished_at": self._clock.time(),
                    "claimed_by": None,
                    "claim_deadline": None,
                },
            )
        except Exception:  # lost meanwhile, or the store is gone: whoever holds it now records the outcome
            log.warning("job %s failed (%s), and its outcome could not be recorded here", job.job_id, error["code"])

    def _release(self, job: Job) -> None:
        """Let the next process take the job over at once (this one is closing, or no longer holds it)."""
        try:
            self._store.update_job(
                job.job_id,
                {"claim_deadline": self._clock.time() - 1},
                expect={"claimed_by": self.instance, "state": JobState.RUNNING},
            )
        except Exception:
            log.warning("job %s: its claim could not be released; it lapses on its own", job.job_id)

    def _keep_claim(self, job: Job, lost: threading.Event, stop: threading.Event) -> None:
        """Renew the claim while the work runs, however long one batch takes; notice if it was taken over."""
        while not stop.wait(self.claim_timeout / 3):
            try:
                kept = self._store.update_job(
                    job.job_id,
                    {"claim_deadline": self._clock.time() + self.claim_timeout},
                    expect={"claimed_by": self.instance, "state": JobState.RUNNING},
                )
            except Exception:
                continue  # a store hiccup: try again; the claim lasts claim_timeout
            if not kept:
                lost.set()
                return
