"""Hostile input through the Python API: every call either works or raises a ScaiVaultError with a
stable code; nothing else escapes, nothing is half-done, and nothing user-supplied is rendered."""

from __future__ import annotations

import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scaivault_core import ScaiVaultError
from scaivault_core.errors import ALL_ERRORS

CODES = {e.code for e in ALL_ERRORS}
HOSTILE = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            ".",
            "..",
            "../../etc/passwd",
            "a/../../b",
            "/abs",
            "a//b",
            "{{ 7*7 }}",
            "{% raw %}",
            "'; DROP TABLE reports; --",
            '"; DROP ROLE postgres; --',
            "\x00",
            "a\nb",
            "é" * 200,
            "dynamic/engines/x",
            "sys/tokens",
            " ",
            "*",
            "**",
            "a" * 10_000,
        ]
    ),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=20), inner, max_size=5),
    max_leaves=20,
)
SETTINGS = settings(
    max_examples=int(os.environ.get("SCAIVAULT_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def expect_clean(call):
    """Run ``call``; a failure must be a ScaiVaultError with a known code and a non-empty message."""
    try:
        return call()
    except ScaiVaultError as exc:
        assert exc.code in CODES and exc.message
        assert isinstance(exc.to_dict()["error"]["details"], dict)
        return None


@SETTINGS
@given(
    name=HOSTILE,
    config=st.dictionaries(st.text(max_size=20), JSONISH, max_size=4),
    ttl=st.one_of(HOSTILE, st.integers(), st.floats(allow_nan=False), st.none()),
)
def test_engine_creation_never_crashes(vault, name, config, ttl):
    created = expect_clean(
        lambda: vault.create_engine(name, "database", {"plugin": "memory", **config}, default_ttl=ttl)
    )
    if created is not None:
        assert set(created.name) <= set(string.ascii_letters + string.digits + "._-")
        vault.delete_engine(created.name)


@SETTINGS
@given(name=HOSTILE, statements=st.lists(HOSTILE, max_size=3), ttl=st.one_of(HOSTILE, st.none()))
def test_role_creation_never_crashes(vault, name, statements, ttl):
    role = expect_clean(lambda: vault.create_role("mem", name, permissions=statements, max_ttl=ttl))
    if role is not None:
        vault.delete_role("mem", role.name)


@SETTINGS
@given(path=HOSTILE, data=JSONISH)
def test_secret_paths_never_escape_and_never_crash(vault, path, data):
    written = expect_clean(lambda: vault.put_secret(path, data))
    if written is not None:
        segments = path.split("/")
        assert ".." not in segments and "." not in segments and segments[0] not in ("dynamic", "sys")
        assert vault.get_secret(path).data == data


@SETTINGS
@given(
    ttl=st.one_of(HOSTILE, st.integers(min_value=-10, max_value=10**12), st.none()),
    metadata=st.one_of(JSONISH, st.dictionaries(st.text(max_size=30), HOSTILE, max_size=4)),
    lease_id=HOSTILE,
    increment=st.one_of(HOSTILE, st.none()),
)
def test_lease_calls_never_crash_and_metadata_is_never_rendered(vault, target, ttl, metadata, lease_id, increment):
    creds = expect_clean(lambda: vault.issue("mem", "readonly", ttl=ttl, metadata=metadata))
    if creds is not None:
        permissions = target.users[creds.data["username"]].permissions
        assert permissions == [f"read:{creds.data['username']}"]  # only the role's template, only our values
        assert vault.lookup(creds.lease_id).metadata == (metadata or {})
        expect_clean(lambda: vault.renew(creds.lease_id, increment))
        vault.revoke(creds.lease_id)
    expect_clean(lambda: vault.renew(lease_id))
    expect_clean(lambda: vault.revoke(lease_id))
    expect_clean(lambda: vault.lookup(lease_id))


@SETTINGS
@given(identity=HOSTILE, pattern=HOSTILE, permissions=st.lists(HOSTILE, max_size=3))
def test_policies_and_identities_never_crash(vault, identity, pattern, permissions):
    expect_clean(lambda: vault.create_policy("p", [{"path_pattern": pattern, "permissions": permissions}]))
    expect_clean(lambda: vault.bind_policy("p", identity))
    expect_clean(lambda: vault.as_identity(identity))
    expect_clean(lambda: vault.delete_policy("p"))


def test_oversized_metadata_is_refused(vault):
    from scaivault_core import InvalidRequest

    with pytest.raises(InvalidRequest):
        vault.issue("mem", "readonly", metadata={"blob": "x" * 10_000})
