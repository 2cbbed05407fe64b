"""Prometheus metrics: what an operator watches."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, matched by name and labels."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return s.value
    return None


def test_lease_gauges_counters_latency_and_expiry_lag(vault, clock, target):
    for _ in range(2):  # kept live
        vault.issue("mem", "readonly", ttl="2h")
    revoked = vault.issue("mem", "readonly")
    vault.revoke(revoked.lease_id)
    for _ in range(2):
        vault.issue("mem", "readonly", ttl="10m")
    clock.advance(605)
    vault.expire_due()  # both due: revoked about 5 s late
    text = vault.metrics.render().decode()

    assert sample(text, "scaivault_leases_active", engine="mem", role="readonly") == 2
    assert (
        sample(text, "scaivault_lease_operations_total", operation="issue", engine="mem", role="readonly", outcome="ok")
        == 5
    )
    assert (
        sample(
            text, "scaivault_lease_operations_total", operation="revoke", engine="mem", role="readonly", outcome="ok"
        )
        == 3
    )
    assert sample(text, "scaivault_lease_operation_seconds_count", operation="issue", engine="mem") == 5
    assert sample(text, "scaivault_expiry_lag_seconds_count", engine="mem") == 2
    assert sample(text, "scaivault_expiry_lag_seconds_sum", engine="mem") >= 10


def test_pending_revocation_and_irrevocable_are_counted(vault, clock, target):
    vault.issue("mem", "readonly", ttl="10m")
    target.down = True
    clock.advance(601)
    vault.expire_due()
    text = vault.metrics.render().decode()
    assert sample(text, "scaivault_leases_pending_revocation", engine="mem", role="readonly") == 1
    assert (
        sample(
            text,
            "scaivault_lease_operations_total",
            operation="revoke",
            engine="mem",
            role="readonly",
            outcome="revocation_failed",
        )
        == 1
    )
    for _ in range(6):
        clock.advance(60)
        vault.expire_due()
    text = vault.metrics.render().decode()
    assert sample(text, "scaivault_leases_irrevocable", engine="mem", role="readonly") == 1
