"""Structured logs: JSON lines with the audit fields, and no secret values."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess

import pytest

from scaivault_core.logs import JSONFormatter, configure_logging
from scaivault_core.testing.servers import scaivault_command


def test_audit_events_log_as_json_lines(vault):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("scaivault.audit")
    logger.addHandler(handler)
    try:
        creds = vault.issue("mem", "readonly")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    issue = next(line for line in lines if line["audit"]["operation"] == "lease.issue")
    assert issue["level"] == "info" and issue["logger"] == "scaivault.audit"
    assert issue["audit"]["lease_id"] == creds.lease_id and issue["audit"]["identity"] == "user:admin"
    assert creds.data["password"] not in stream.getvalue()


@pytest.fixture
def scaivault_logger():
    """The ``scaivault`` logger, put back as it was after the test (the suite's leak watch listens through it)."""
    logger = logging.getLogger("scaivault")
    saved = logger.handlers[:], logger.level, logger.propagate
    yield logger
    logger.handlers, logger.propagate = saved[0], saved[2]
    logger.setLevel(saved[1])


def test_configure_logging_follows_the_environment(vault, scaivault_logger, monkeypatch, capsys):
    monkeypatch.setenv("SCAIVAULT_LOG_FORMAT", "json")
    monkeypatch.setenv("SCAIVAULT_LOG_LEVEL", "info")
    configure_logging()
    vault.issue("mem", "readonly")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert any(line["logger"] == "scaivault.audit" and line["audit"]["operation"] == "lease.issue" for line in lines)

    monkeypatch.delenv("SCAIVAULT_LOG_LEVEL")
    configure_logging()  # the default, warning, leaves audit events out
    vault.issue("mem", "readonly")
    assert capsys.readouterr().err == ""


def test_a_bad_log_level_is_said_and_does_not_stop_the_command(scaivault_logger, monkeypatch, capsys):
    monkeypatch.setenv("SCAIVAULT_LOG_LEVEL", "chatty")
    configure_logging("text")
    assert scaivault_logger.level == logging.WARNING
    assert "SCAIVAULT_LOG_LEVEL=chatty is not a level" in capsys.readouterr().err


def test_the_scaivault_command_sets_logging_up(tmp_path):
    env = {**os.environ, "SCAIVAULT_STORE": str(tmp_path / "vault.db"), "SCAIVAULT_LOG_FORMAT": "json",
           "SCAIVAULT_LOG_LEVEL": "info"}
    done = subprocess.run([*scaivault_command(), "init", "--format", "json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"level": "info", "logger": "scaivault.audit"}.items() <= logged[-1].items()
    assert logged[-1]["audit"]["operation"] == "token.create"
