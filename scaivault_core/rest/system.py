"""Routes about the server itself: health, the OpenAPI document, installed plugins, metrics, the audit log."""

from __future__ import annotations

from ..metrics import CONTENT_TYPE
from .api import MAX_PAGE
from .routing import Operation, Query

AUDIT_QUERY = (
    Query("identity", "Only entries of this identity (`anonymous` for failed authentication)."),
    Query("operation", "Only this operation, e.g. `lease.issue` or `access.denied`."),
    Query("path_prefix", "Only entries whose path starts with this."),
    Query("outcome", "Only this outcome: `ok` or an error code such as `permission_denied`."),
    Query("lease_id", "Only entries about this lease."),
    Query("since", "Only entries at or after this time: ISO 8601 (`2026-01-31T12:00:00Z`) or a duration before "
                   "now (`30m`, `2h`)."),
    Query("until", "Only entries before this time, in the same forms as `since`."),
    Query("after", "The `next` value of the previous page (an entry id).", type="integer", minimum=0),
    Query("limit", "Page size.", type="integer", minimum=1, maximum=MAX_PAGE, default=100),
)

OPERATIONS = [
    Operation("GET", "/v1/health", lambda api, c: api.health(), "Liveness and version (no token needed)",
              "health", response="Health", auth=False, tag="system"),
    Operation("GET", "/v1/sys/plugins", lambda api, c: api.plugins(),
              "Installed engine plugins, their versions and engine types, and any that failed to load",
              "listPlugins", response="PluginList", tag="system",
              description="Any valid token may list them."),
    Operation("GET", "/v1/metrics", lambda api, c: api.metrics(), "Prometheus metrics", "metrics",
              response="Metrics", media_type=CONTENT_TYPE, tag="system",
              description="Needs `read` on `sys/metrics`. Lease counts per engine and role come from the store "
                          "(the same in every process sharing it); operation counts and latencies are this "
                          "process's own."),
    Operation("GET", "/v1/sys/audit", lambda api, c: api.audit_log(**c.query), "List audit entries",
              "listAuditEntries", response="AuditList", query=AUDIT_QUERY, tag="system",
              description="Needs `read` on `sys/audit`. Entries oldest first, filtered, one page at a time. "
                          "Verifying the chain (`scaivault audit verify`) needs the vault key, so it runs on the "
                          "store, not over REST."),
]
