"""Structured logs: JSON lines with the audit fields, and no secret values."""

from __future__ import annotations

import io
import json
import logging

from scaivault_core.logs import JSONFormatter


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
    issue = next(l for l in lines if l["audit"]["operation"] == "lease.issue")
    assert issue["level"] == "info" and issue["logger"] == "scaivault.audit"
    assert issue["audit"]["lease_id"] == creds.lease_id and issue["audit"]["identity"] == "user:admin"
    assert creds.data["password"] not in stream.getvalue()
