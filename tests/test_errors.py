"""The error hierarchy: every code its own class, grouped the way callers catch them."""

from __future__ import annotations

import pytest

from scaivault_core import (
    AccessDenied,
    Conflict,
    EngineError,
    EngineNotFound,
    EngineUnreachable,
    InvalidConfig,
    InvalidRequest,
    LeaseExpired,
    LeaseNotFound,
    NotFound,
    PermissionDenied,
    QuotaExceeded,
    RoleNotFound,
    ScaiVaultError,
    TTLExceedsMax,
    Unauthenticated,
    Unavailable,
)
from scaivault_core.client import ServerUnreachable, error_from_response
from scaivault_core.errors import ALL_ERRORS, JobNotFound, JobStillRunning

GROUPS = {
    NotFound: {NotFound, EngineNotFound, RoleNotFound, LeaseNotFound, JobNotFound},
    InvalidRequest: {InvalidRequest, InvalidConfig, TTLExceedsMax, LeaseExpired},
    AccessDenied: {AccessDenied, Unauthenticated, PermissionDenied},
    Unavailable: {Unavailable, EngineUnreachable, QuotaExceeded, JobStillRunning},
}


def test_every_code_has_one_class():
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("group", list(GROUPS), ids=lambda g: g.__name__)
def test_each_group_catches_exactly_its_codes(group):
    members = {cls for cls in ALL_ERRORS if issubclass(cls, group)}
    assert members == GROUPS[group]
    for cls in members:
        with pytest.raises(group):
            raise cls("x")


def test_errors_outside_the_groups_stay_apart():
    for cls in (EngineError, Conflict):
        assert not any(issubclass(cls, group) for group in GROUPS)
    assert issubclass(ServerUnreachable, Unavailable) and ServerUnreachable.code == "server_unreachable"


def test_the_client_rebuilds_the_same_classes_from_their_codes():
    import httpx

    for cls in ALL_ERRORS:
        response = httpx.Response(cls.status, json={"error": {"code": cls.code, "message": "m", "details": {}}})
        error = error_from_response(response)
        assert type(error) is cls and isinstance(error, ScaiVaultError)
