"""Jobs on both stores: taken over once a claim lapses (as on a shared PostgreSQL store), failures recorded."""

from __future__ import annotations

from scaivault_core.models import Job
from scaivault_core.testing import wait_until


def finished(vault, job_id: str) -> Job:
    assert wait_until(lambda: vault.get_job(job_id).state != "running", timeout=30)
    return vault.get_job(job_id)


def test_a_job_whose_claim_lapsed_is_taken_over_by_exactly_one_process(make_vault, vault, target, clock):
    other = make_vault()  # a second process on the same store
    for _ in range(3):
        vault.issue("mem", "readonly")
    now = clock.time()
    # A job another host's process started, then died with: its claim runs out at now + 30.
    params = {"prefix": "lease_", "engine": "mem", "role": None}
    vault.store.insert_job(
        Job(
            "job_fromelsewhere",
            "revoke_prefix",
            params,
            "user:admin",
            created_at=now,
            updated_at=now,
            claimed_by="elsewhere/1/dead",
            claim_deadline=now + 30,
            done=1,
            total=4,
            result={"revoked": 1, "failed": [], "in_progress": 0},
        )
    )
    assert vault.take_over_jobs() == 0 and other.take_over_jobs() == 0  # still claimed: it may be alive
    clock.advance(31)
    assert vault.take_over_jobs() + other.take_over_jobs() == 1
    job = finished(vault, "job_fromelsewhere")
    # The work left is done and added to what was recorded before.
    assert job.state == "succeeded" and job.result == {"revoked": 4, "failed": [], "in_progress": 0}
    assert (job.done, job.total) == (4, 4) and target.users == {}


def test_a_failed_job_keeps_the_error_the_synchronous_call_would_raise(vault, target):
    vault.issue("mem", "readonly")
    target.down = True
    job = finished(vault, vault.reconcile_job("mem", revoke=True).job_id)
    assert job.state == "failed" and job.error["code"] == "engine_unreachable" and job.result is None
    assert job.to_dict()["result"] is None and job.finished_at is not None
