"""Where and how to reach AWS: endpoints, timeouts, the boto3 clients, and `verify`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

from scaivault_core.kits.service_urls import check_service_url

from .credentials import AwsCredentials
from .errors import InvalidField, translate_errors

if TYPE_CHECKING:
    from botocore.config import Config

__all__ = ["AwsClients", "AwsTarget", "CallerIdentity", "make_clients", "verify"]

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")


def _check_region(_instance: Any, _attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _REGION.fullmatch(value):
        raise InvalidField("region", "must be an AWS region such as us-east-1")


def _check_endpoint(_instance: Any, attribute: attrs.Attribute, value: str | None) -> None:
    # Requests carry signatures and answers carry new secret keys: https, or plain http to this machine only.
    if value is not None:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", str(value)):
            raise InvalidField(attribute.name, "must be an https:// URL")
        check_service_url(value, f"config.{attribute.name}")


@attrs.frozen
class AwsTarget:
    """The engine's connection settings: region, optional IAM/STS endpoints, timeouts."""

    region: str = attrs.field(validator=_check_region)
    # VPC endpoints in production; the local moto server in tests.
    iam_endpoint: str | None = attrs.field(default=None, validator=_check_endpoint)
    sts_endpoint: str | None = attrs.field(default=None, validator=_check_endpoint)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # botocore's total attempts per call, the first one included.
    max_attempts: int = 3

    def botocore_config(self, max_attempts: int | None = None) -> Config:
        """The botocore Config for clients of this target."""
        from botocore.config import Config  # imported at first use: start-up loads every installed plugin

        attempts = self.max_attempts if max_attempts is None else max_attempts
        return Config(
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
            user_agent_extra="scaivault-aws",
        )


@attrs.frozen
class CallerIdentity:
    """The answer of sts:GetCallerIdentity."""

    account: str
    arn: str
    user_id: str

    @property
    def kind(self) -> str:
        """root, user, assumed-role, federated-user or other, read from the ARN."""
        resource = self.arn.split(":", 5)[-1]
        if resource == "root":
            return "root"
        for kind in ("user", "assumed-role", "federated-user"):
            if resource.startswith(kind + "/"):
                return kind
        return "other"


@attrs.define
class AwsClients:
    """boto3 IAM and STS clients signed with one key pair, for one target."""

    target: AwsTarget
    iam: Any = attrs.field(repr=False)
    sts: Any = attrs.field(repr=False)
    _identity: CallerIdentity | None = attrs.field(default=None, init=False, repr=False)

    def identity(self) -> CallerIdentity:
        """Who these clients act as (one GetCallerIdentity call, then cached)."""
        if self._identity is None:
            self._identity = verify(self)
        return self._identity


def make_clients(target: AwsTarget, credentials: AwsCredentials, *, max_attempts: int | None = None) -> AwsClients:
    """IAM and STS clients for `target`, signed with `credentials`."""
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
        region_name=target.region,
    )
    config = target.botocore_config(max_attempts)
    return AwsClients(
        target=target,
        iam=session.client("iam", endpoint_url=target.iam_endpoint, config=config),
        sts=session.client("sts", endpoint_url=target.sts_endpoint, config=config),
    )


def verify(clients: AwsClients) -> CallerIdentity:
    """Check the key pair with sts:GetCallerIdentity; AwsBadCredentials or AwsUnreachable if not."""
    # GetCallerIdentity needs no permission, so AccessDenied here can only mean the keys are bad.
    with translate_errors(access_denied_is_bad_credentials=True):
        answer = clients.sts.get_caller_identity()
    identity = CallerIdentity(account=answer["Account"], arn=answer["Arn"], user_id=answer["UserId"])
    clients._identity = identity
    return identity
