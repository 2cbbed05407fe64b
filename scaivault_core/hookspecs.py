"""Plugin hooks. Each spec's docstring is the hook's documentation (docs/plugins/hooks.md is checked against it)."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("scaivault")
hookimpl = pluggy.HookimplMarker("scaivault")


@hookspec
def register_engines(register):
    """Register engine classes: call ``register(EngineSubclass)`` once per class.

    The class's ``type`` and ``plugin`` attributes pick it for an engine config; registering two
    classes for the same pair is an error naming both.
    """


@hookspec
def register_template_filters(register):
    """Add Jinja filters usable in role templates: ``register(name, function)``."""


@hookspec
def register_rotation_handlers(register):
    """Rotate secrets that belong to no engine: ``register(path_pattern, handler)``.

    ``handler(current_data: dict) -> dict`` returns the new data after changing it wherever it is
    used. Patterns use the policy syntax (``*`` one segment, ``**`` any number).
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``scaivault`` CLI: ``cli`` is its click group."""


@hookspec
def register_routes(routes):
    """Add REST endpoints: append ``scaivault_core.Operation`` objects to ``routes`` (served like the
    core's, with its bearer-token check and error bodies, and listed in the OpenAPI document), or plain
    starlette ``Route`` objects (they receive ``request.app.state.vault``; ``scaivault_core.rest.session``
    authenticates their caller; not listed in the OpenAPI document)."""


@hookspec(firstresult=True)
def store_for_url(url: str) -> Any:
    """Return a store for ``url`` if this plugin handles its scheme, else None. The first answer wins."""


@hookspec(firstresult=True)
def generate_password(engine_type: str, plugin: str, role: str) -> str | None:
    """Return a password for a new credential, or None to leave it to the next plugin.

    It must be usable unquoted in the target's statements: no quotes, backslashes or whitespace.
    """


@hookspec
def lease_event(event: str, lease: Any, details: dict) -> None:
    """Notification after a lease changes: ``event`` is ``issued``, ``renewed``, ``revoked``,
    ``revocation_failed``, ``irrevocable`` or ``rolled_back``. For metrics and external audit sinks;
    exceptions raised here are logged and ignored."""
