"""Prometheus metrics: lease counts per engine and role, operation counts and latencies, expiry lag.

Counts of live leases come from the store at scrape time (one GROUP BY over the indexed live
leases), so every process sharing a store reports the same totals; operation counters and
latencies are per process and fed by the ``lease_event`` hook.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from .hookspecs import hookimpl
from .models import LeaseState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_OUTCOMES = {
    "issued": "issue",
    "renewed": "renew",
    "revoked": "revoke",
    "rolled_back": "rollback",
    "revocation_failed": "revoke",
    "irrevocable": "revoke",
}


class _LeaseCounts:
    """Live, pending-revocation and irrevocable leases per engine and role, read at scrape time."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def describe(self) -> Iterable[GaugeMetricFamily]:
        """The families without values: without it the registry calls ``collect()`` when the vault opens,
        a GROUP BY over every live lease (a third of a second at a million) before the first request."""
        return list(self._families().values())

    def collect(self) -> Iterable[GaugeMetricFamily]:
        families = self._families()
        for engine, role, state, count in self._store.lease_counts():
            if state in families:
                families[state].add_metric([engine, role], count)
        return list(families.values())

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            LeaseState.ACTIVE: GaugeMetricFamily(
                "scaivault_leases_active", "Active leases.", labels=["engine", "role"]
            ),
            LeaseState.REVOKING: GaugeMetricFamily(
                "scaivault_leases_pending_revocation",
                "Leases due or asked to go whose revocation is still being retried.",
                labels=["engine", "role"],
            ),
            LeaseState.IRREVOCABLE: GaugeMetricFamily(
                "scaivault_leases_irrevocable",
                "Leases whose revocation attempts ran out; an operator must act.",
                labels=["engine", "role"],
            ),
            LeaseState.INTENT: GaugeMetricFamily(
                "scaivault_leases_intent", "Issues in flight or awaiting rollback.", labels=["engine", "role"]
            ),
            LeaseState.POOLED: GaugeMetricFamily(
                "scaivault_leases_pooled",
                "Users of a role's warm pool, made ahead of time, not yet issued.",
                labels=["engine", "role"],
            ),
        }


class Metrics:
    """One registry per vault; ``render()`` is what ``GET /v1/metrics`` serves."""

    def __init__(self, store: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "scaivault_lease_operations",
            "Lease operations by outcome.",
            ["operation", "engine", "role", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "scaivault_lease_operation_seconds",
            "Time an issue, renew or revocation took.",
            ["operation", "engine"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.expiry_lag = Histogram(
            "scaivault_expiry_lag_seconds",
            "How long after its expiry a lease was revoked.",
            ["engine"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900),
        )
        self.registry.register(_LeaseCounts(store))
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    @hookimpl
    def lease_event(self, event: str, lease: Any, details: dict) -> None:
        operation = _OUTCOMES.get(event, event)
        outcome = "ok" if event in ("issued", "renewed", "revoked", "rolled_back") else event
        self._child(self.operations, operation, lease.engine, lease.role, outcome).inc()
        if details.get("seconds") is not None:
            self._child(self.latency, operation, lease.engine).observe(details["seconds"])
        if details.get("lag") is not None:
            self._child(self.expiry_lag, lease.engine).observe(max(0.0, details["lag"]))

    def _child(self, metric: Any, *labels: str) -> Any:
        # labels() validates and locks on every call: a tenth of the expiry worker's time per lease.
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        return generate_latest(self.registry)
