"""Waiting until AWS accepts freshly issued credentials.

IAM is eventually consistent: a new access key can be refused for some seconds after
CreateAccessKey returns. Accepted by sts:GetCallerIdentity means the key is known to STS in
this region; other services usually follow within the same few seconds.
"""

from __future__ import annotations

import time
from typing import Any

import botocore.exceptions

from .clients import AwsTarget, make_clients
from .credentials import AwsCredentials
from .errors import BAD_CREDENTIAL_CODES, PropagationTimeout, aws_code, translate_errors

__all__ = ["wait_for_propagation"]


def wait_for_propagation(
    target: AwsTarget,
    credentials: AwsCredentials,
    *,
    timeout: float = 30.0,
    interval: float = 1.0,
) -> float:
    """Poll GetCallerIdentity with `credentials` until accepted; return the seconds waited.

    Raises PropagationTimeout when `timeout` passes first, AwsUnreachable if STS is down.
    """
    # One attempt per poll: this loop is the retry policy, botocore's would only stretch it.
    sts = make_clients(target, credentials, max_attempts=1).sts
    started = time.monotonic()
    deadline = started + timeout
    attempts = 0
    while True:
        attempts += 1
        if _accepted(sts):
            return time.monotonic() - started
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            who = credentials.principal_arn or "the new access key"
            raise PropagationTimeout(
                f"credentials of {who} were still refused after {timeout:g}s ({attempts} attempts)"
            )
        time.sleep(min(interval, remaining))


def _accepted(sts: Any) -> bool:
    with translate_errors():
        try:
            sts.get_caller_identity()
        except botocore.exceptions.ClientError as exc:
            if aws_code(exc) in BAD_CREDENTIAL_CODES:
                return False
            raise
    return True
