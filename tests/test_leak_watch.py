"""The suite's leak watch (conftest.py at the repo root) really catches leaks."""

from __future__ import annotations

import logging

import pytest

from scaivault_core import ScaiVaultError


def test_a_logged_password_is_caught(leak_watch, vault):
    creds = vault.issue("mem", "readonly")
    logging.getLogger("scaivault.test").warning("oops %s", creds.data["password"])
    assert leak_watch.leaks() == ["log record"]
    leak_watch.reset()  # this test leaked on purpose


def test_an_error_quoting_a_password_is_caught(leak_watch, vault):
    from scaivault_core import EngineError

    creds = vault.issue("mem", "readonly")
    error = EngineError(f"near '{creds.data['password']}'")
    assert leak_watch.leaks() == ["error message"]
    del error
    leak_watch.reset()


def test_clean_operations_leak_nothing(leak_watch, vault, target):
    creds = vault.issue("mem", "readonly")
    vault.renew(creds.lease_id)
    target.down = True
    with pytest.raises(ScaiVaultError):
        vault.revoke(creds.lease_id)
    assert leak_watch.leaks() == []


def test_the_core_tells_the_watch_what_it_makes(leak_watch, vault):
    """The watch's seams: secrets where they are born, and every sink it reads, come from the core's observers."""
    from scaivault_core import LeaseNotFound

    creds = vault.issue("mem", "readonly")
    token = vault.create_token("sa:reader")["token"]
    vault.put_secret("apps/motd", "a text secret, all of it", secret_type="text")
    assert {creds.data["password"], token, "a text secret, all of it"} <= leak_watch.secrets
    shown = [ref() for ref in leak_watch.objects]
    assert creds in shown and creds.lease in shown
    assert any('"lease.issue"' in entry for entry in leak_watch.sinks["audit entry"])
    with pytest.raises(LeaseNotFound) as missing:
        vault.lookup("lease_db_nope")
    assert missing.value in [ref() for ref in leak_watch.errors]
    assert leak_watch.leaks() == []
