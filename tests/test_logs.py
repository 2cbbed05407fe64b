"""Structured logs: JSON lines with the audit fields, and no secret values."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess

import pytest

from scaivault_core.logs import LOGGERS, JSONFormatter, configure_logging, request_scope
from scaivault_core.testing.servers import LiveServer, scaivault_command


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
    """The loggers ``configure_logging`` sets up, put back as they were after the test (the suite's leak watch
    listens through them); yields the ``scaivault`` one."""
    loggers = [logging.getLogger(name) for name in LOGGERS]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    yield loggers[0]
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        logger.handlers, logger.propagate = handlers, propagate
        logger.setLevel(level)


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
    env = {
        **os.environ,
        "SCAIVAULT_STORE": str(tmp_path / "vault.db"),
        "SCAIVAULT_LOG_FORMAT": "json",
        "SCAIVAULT_LOG_LEVEL": "info",
    }
    done = subprocess.run(
        [*scaivault_command(), "init", "--format", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"level": "info", "logger": "scaivault.audit"}.items() <= logged[-1].items()
    assert logged[-1]["audit"]["operation"] == "token.create"


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_a_cli_command_is_one_request_its_log_lines_and_audit_entries_share_an_id(tmp_path):
    env = {
        **os.environ,
        "SCAIVAULT_STORE": str(tmp_path / "vault.db"),
        "SCAIVAULT_LOG_FORMAT": "json",
        "SCAIVAULT_LOG_LEVEL": "info",
    }
    env.pop("SCAIVAULT_ADDR", None)

    def scaivault(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*scaivault_command(), *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    scaivault("init", "--format", "json")
    put = scaivault("secrets", "put", "app/db", "password=s3cr3t-v4lue")
    logged = _json_lines(put.stderr)
    rid = logged[-1]["request_id"]
    assert rid and all(line["request_id"] == rid for line in logged)
    assert "s3cr3t-v4lue" not in put.stderr
    entries = json.loads(scaivault("audit", "--operation", "secret.write", "--format", "json").stdout)["entries"]
    assert [e["details"]["request_id"] for e in entries] == [rid]


def test_a_remote_cli_command_sends_its_request_id_to_the_server(tmp_path):
    server = LiveServer(tmp_path / "server", env={"SCAIVAULT_LOG_FORMAT": "json", "SCAIVAULT_LOG_LEVEL": "info"})
    with server:
        env = {
            **os.environ,
            "SCAIVAULT_ADDR": server.url,
            "SCAIVAULT_TOKEN": server.admin_token,
            "SCAIVAULT_LOG_FORMAT": "json",
            "SCAIVAULT_LOG_LEVEL": "debug",
        }
        done = subprocess.run(
            [*scaivault_command(), "secrets", "put", "app/db", "password=s3cr3t-v4lue"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
    sent = [line for line in _json_lines(done.stderr) if line["logger"] == "scaivault.client"]
    assert [line["message"] for line in sent] == ["PUT /v1/secrets/app/db 200"]
    served = _json_lines(server.log.read_text())
    mine = [line for line in served if line.get("request_id") == sent[0]["request_id"]]
    assert {line["logger"] for line in mine} == {"scaivault.access", "scaivault.audit"}
    assert server.admin_token not in done.stderr + server.log.read_text()


def test_text_lines_name_the_request_they_were_logged_in(scaivault_logger, capsys):
    configure_logging("text", "info")
    log = logging.getLogger("scaivault.test")
    with request_scope("req-42"):
        log.info("inside")
    log.info("outside")
    inside, outside = capsys.readouterr().err.splitlines()
    assert inside.endswith(" INFO scaivault.test [req-42]: inside")
    assert outside.endswith(" INFO scaivault.test: outside")
