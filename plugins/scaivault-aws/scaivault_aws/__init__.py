"""ScaiVault's `aws` engine: IAM users with access keys, assumed roles and federation tokens.

`AwsEngine` is registered through the `scaivault` entry point; the modules it is built from
(clients, iam_users, sts, propagation, validation, errors) are usable on their own.
"""

from scaivault_core import hookimpl

from .clients import AwsClients, AwsTarget, CallerIdentity, make_clients, verify
from .credentials import AwsCredentials
from .engine import AwsEngine
from .errors import (
    AwsAccessDenied,
    AwsApiError,
    AwsBadCredentials,
    AwsConflict,
    AwsError,
    AwsRequestRejected,
    AwsUnreachable,
    InvalidField,
    PropagationTimeout,
    TtlOutOfRange,
    TtlTooLong,
    TtlTooShort,
)
from .iam_users import create_iam_user, revoke_iam_user, validate_iam_user_settings
from .propagation import wait_for_propagation
from .sts import (
    TtlLimit,
    assume_role,
    assume_role_ttl_limit,
    federation_token_ttl_limit,
    get_federation_token,
    validate_session_policy,
)
from .validation import (
    IAM_USER_NAME_MAX,
    validate_arn,
    validate_iam_path,
    validate_policy_arn,
    validate_policy_document,
    validate_role_arn,
)

__all__ = [
    "IAM_USER_NAME_MAX",
    "AwsAccessDenied",
    "AwsApiError",
    "AwsBadCredentials",
    "AwsConflict",
    "AwsClients",
    "AwsCredentials",
    "AwsEngine",
    "AwsError",
    "AwsRequestRejected",
    "AwsTarget",
    "AwsUnreachable",
    "CallerIdentity",
    "InvalidField",
    "PropagationTimeout",
    "TtlLimit",
    "TtlOutOfRange",
    "TtlTooLong",
    "TtlTooShort",
    "assume_role",
    "assume_role_ttl_limit",
    "create_iam_user",
    "federation_token_ttl_limit",
    "get_federation_token",
    "make_clients",
    "revoke_iam_user",
    "validate_arn",
    "validate_iam_path",
    "validate_iam_user_settings",
    "validate_policy_arn",
    "validate_policy_document",
    "validate_role_arn",
    "validate_session_policy",
    "verify",
    "wait_for_propagation",
]


@hookimpl
def register_engines(register):
    """Register the `aws` engine type."""
    register(AwsEngine)
