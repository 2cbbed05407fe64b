"""IAM users with an access key: create one for a lease, and take it apart again on revoke."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import botocore.exceptions

from .clients import AwsClients
from .credentials import AwsCredentials
from .errors import AwsError, InvalidField, aws_code, translate_errors
from .validation import (
    dump_policy,
    validate_arn,
    validate_group_name,
    validate_iam_path,
    validate_policy_arns,
    validate_policy_document,
    validate_tags,
    validate_user_name,
)

__all__ = ["INLINE_POLICY_NAME", "create_iam_user", "revoke_iam_user", "validate_iam_user_settings"]

INLINE_POLICY_NAME = "scaivault"


def validate_iam_user_settings(
    *,
    policy_document: Any = None,
    policy_arns: Sequence[str] = (),
    groups: Sequence[str] = (),
    permissions_boundary: str | None = None,
    path: str = "/",
    tags: Mapping[str, str] | None = None,
) -> None:
    """Check an iam_user role's settings; raise InvalidField naming the first bad one."""
    if policy_document is None and not policy_arns and not groups:
        raise InvalidField("policy_document", "an iam_user role needs a policy_document, policy_arns or groups")
    if policy_document is not None:
        validate_policy_document(policy_document)
    validate_policy_arns(policy_arns)
    if isinstance(groups, str):
        raise InvalidField("groups", "must be a list of group names")
    for i, group in enumerate(groups):
        validate_group_name(group, f"groups[{i}]")
    if permissions_boundary is not None:
        validate_arn(permissions_boundary, "permissions_boundary", service="iam")
    validate_iam_path(path)
    if tags is not None:
        validate_tags(tags)


def create_iam_user(
    clients: AwsClients,
    user_name: str,
    *,
    policy_document: Any = None,
    policy_arns: Sequence[str] = (),
    groups: Sequence[str] = (),
    permissions_boundary: str | None = None,
    path: str = "/",
    tags: Mapping[str, str] | None = None,
) -> AwsCredentials:
    """Create IAM user `user_name` with its policies and groups, and return a new access key.

    If any step after CreateUser fails, what was created is removed again before the error is
    raised. The caller records `user_name` as an intent first, so a crash is cleaned up later.
    """
    validate_user_name(user_name)
    validate_iam_user_settings(
        policy_document=policy_document,
        policy_arns=policy_arns,
        groups=groups,
        permissions_boundary=permissions_boundary,
        path=path,
        tags=tags,
    )
    request: dict[str, Any] = {"UserName": user_name, "Path": path}
    if permissions_boundary is not None:
        request["PermissionsBoundary"] = permissions_boundary
    if tags:
        request["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    iam = clients.iam
    # A failed CreateUser (EntityAlreadyExists above all) created nothing of ours: no cleanup.
    with translate_errors():
        user_arn = iam.create_user(**request)["User"]["Arn"]
    try:
        with translate_errors():
            if policy_document is not None:
                document = validate_policy_document(policy_document)
                iam.put_user_policy(
                    UserName=user_name,
                    PolicyName=INLINE_POLICY_NAME,
                    PolicyDocument=dump_policy(document),
                )
            for arn in policy_arns:
                iam.attach_user_policy(UserName=user_name, PolicyArn=arn)
            for group in groups:
                iam.add_user_to_group(UserName=user_name, GroupName=group)
            key = iam.create_access_key(UserName=user_name)["AccessKey"]
    except Exception as exc:
        _undo(clients, user_name, exc)
        raise
    return AwsCredentials(
        access_key_id=key["AccessKeyId"],
        secret_access_key=key["SecretAccessKey"],
        principal_arn=user_arn,
        user_name=user_name,
    )


def _undo(clients: AwsClients, user_name: str, failure: Exception) -> None:
    try:
        revoke_iam_user(clients, user_name)
    except AwsError as cleanup:
        failure.add_note(f"removing the half-created IAM user {user_name} failed too: {cleanup}")


def revoke_iam_user(clients: AwsClients, user_name: str) -> bool:
    """Delete the user and everything AWS requires gone first; False if it was already gone."""
    iam = clients.iam
    with translate_errors():
        try:
            _strip_user(iam, user_name)
            try:
                iam.delete_user(UserName=user_name)
            except botocore.exceptions.ClientError as exc:
                if aws_code(exc) != "DeleteConflict":
                    raise
                # Something was attached while we worked, or the user holds service-specific
                # (Git, Keyspaces, Bedrock) credentials, which are looked for only now: they are
                # rare on our users, and costing every revoke one more call is not worth it.
                _strip_user(iam, user_name)
                _delete_service_specific_credentials(iam, user_name)
                iam.delete_user(UserName=user_name)
        except botocore.exceptions.ClientError as exc:
            # Item deletions already ignore NoSuchEntity, so here it can only mean the user.
            if aws_code(exc) == "NoSuchEntity":
                return False
            raise
    return True


def _strip_user(iam: Any, user_name: str) -> None:
    # Keys first: from this call on the lease's credentials no longer work.
    for key in _pages(iam, "list_access_keys", "AccessKeyMetadata", user_name):
        _ignore_missing(iam.delete_access_key, UserName=user_name, AccessKeyId=key["AccessKeyId"])
    _ignore_missing(iam.delete_login_profile, UserName=user_name)
    for cert in _pages(iam, "list_signing_certificates", "Certificates", user_name):
        _ignore_missing(iam.delete_signing_certificate, UserName=user_name, CertificateId=cert["CertificateId"])
    for ssh_key in _pages(iam, "list_ssh_public_keys", "SSHPublicKeys", user_name):
        _ignore_missing(iam.delete_ssh_public_key, UserName=user_name, SSHPublicKeyId=ssh_key["SSHPublicKeyId"])
    for device in _pages(iam, "list_mfa_devices", "MFADevices", user_name):
        serial = device["SerialNumber"]
        _ignore_missing(iam.deactivate_mfa_device, UserName=user_name, SerialNumber=serial)
        if serial.startswith("arn:"):  # virtual devices are ARNs; hardware serials are not
            _ignore_missing(iam.delete_virtual_mfa_device, SerialNumber=serial)
    for name in _pages(iam, "list_user_policies", "PolicyNames", user_name):
        _ignore_missing(iam.delete_user_policy, UserName=user_name, PolicyName=name)
    for policy in _pages(iam, "list_attached_user_policies", "AttachedPolicies", user_name):
        _ignore_missing(iam.detach_user_policy, UserName=user_name, PolicyArn=policy["PolicyArn"])
    for group in _pages(iam, "list_groups_for_user", "Groups", user_name):
        _ignore_missing(iam.remove_user_from_group, UserName=user_name, GroupName=group["GroupName"])


def _delete_service_specific_credentials(iam: Any, user_name: str) -> None:
    answer = iam.list_service_specific_credentials(UserName=user_name)
    for credential in answer.get("ServiceSpecificCredentials", []):
        _ignore_missing(
            iam.delete_service_specific_credential,
            UserName=user_name,
            ServiceSpecificCredentialId=credential["ServiceSpecificCredentialId"],
        )


def _pages(iam: Any, operation: str, key: str, user_name: str) -> Iterator[Any]:
    # Materialised before deleting, so deletions never shift the pages under the iterator.
    items = [item for page in iam.get_paginator(operation).paginate(UserName=user_name) for item in page.get(key, [])]
    return iter(items)


def _ignore_missing(call: Any, **kwargs: Any) -> None:
    try:
        call(**kwargs)
    except botocore.exceptions.ClientError as exc:
        if aws_code(exc) != "NoSuchEntity":
            raise
