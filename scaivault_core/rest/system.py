"""Routes about the server itself: health, the OpenAPI document, installed plugins, metrics."""

from __future__ import annotations

from ..metrics import CONTENT_TYPE
from .routing import Operation

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
]
