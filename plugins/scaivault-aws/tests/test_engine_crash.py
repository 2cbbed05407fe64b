"""A process killed mid-issue leaves nothing in AWS once the vault next starts.

The issuing process is a real subprocess (crash_issue.py) killed with SIGKILL right after AWS
answers a given IAM call. The vault recorded the user's name as an intent before CreateUser; on
the next start it hands the dead process's claim to the expiry worker, which deletes the user.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scaivault_core import LeaseState, SystemClock

ENGINE = "aws"
SCRIPT = Path(__file__).with_name("crash_issue.py")
S3_READ_REPORTS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


@pytest.mark.parametrize("operation", ["CreateUser", "PutUserPolicy", "CreateAccessKey"])
def test_a_crash_between_intent_and_lease_leaves_no_iam_user(kit, make_vault, moto_enforcing, tmp_path, operation):
    vault = make_vault(clock=SystemClock())
    kit.add_engine(vault, moto_enforcing)
    vault.create_role(ENGINE, "s3-read", credential_type="iam_user", policy_document=S3_READ_REPORTS)
    vault.close()

    crashed = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "vault.db"), "s3-read", operation],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr

    # The crash left a user in AWS and an intent, claimed by the dead process, in the store.
    [user] = kit.user_names(moto_enforcing)
    admin = moto_enforcing.client("iam")
    keys = admin.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert len(keys) == (1 if operation == "CreateAccessKey" else 0)

    restarted = make_vault(clock=SystemClock())
    [lease] = restarted.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.INTENT and lease.subject == user
    # Released at start-up, since its process is dead: due now, not after the intent timeout.
    assert lease.claim_deadline < restarted.clock.time() and lease.due_at <= restarted.clock.time()
    assert restarted.expire_due() == 1

    assert kit.user_names(moto_enforcing) == []
    assert restarted.lookup(lease.lease_id).state == LeaseState.ROLLED_BACK
