"""The credentials this engine reads (root key pair) and issues (access keys, STS sessions)."""

from __future__ import annotations

from datetime import datetime

import attrs

__all__ = ["AwsCredentials"]


@attrs.frozen
class AwsCredentials:
    """An AWS key pair, with a session token and expiry when STS issued it."""

    access_key_id: str
    # Secret parts stay out of repr, so a logged object or a traceback never shows them.
    secret_access_key: str = attrs.field(repr=False)
    session_token: str | None = attrs.field(default=None, repr=False)
    expiration: datetime | None = None
    # Who the credentials act as: the IAM user, assumed-role session or federated user ARN.
    principal_arn: str | None = None
    # The IAM user that owns an access key; None for STS sessions.
    user_name: str | None = None

    def lease_data(self) -> dict[str, str]:
        """The values a lease hands out: access_key_id, secret_access_key[, session_token]."""
        data = {"access_key_id": self.access_key_id, "secret_access_key": self.secret_access_key}
        if self.session_token is not None:
            data["session_token"] = self.session_token
        return data
