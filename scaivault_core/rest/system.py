"""Routes about the server itself: health, the OpenAPI document, installed plugins."""

from __future__ import annotations

from .routing import Operation

OPERATIONS = [
    Operation("GET", "/v1/health", lambda api, c: api.health(), "Liveness and version (no token needed)",
              "health", response="Health", auth=False, tag="system"),
    Operation("GET", "/v1/sys/plugins", lambda api, c: api.plugins(),
              "Installed engine plugins, their versions and engine types, and any that failed to load",
              "listPlugins", response="PluginList", tag="system",
              description="Any valid token may list them."),
]
