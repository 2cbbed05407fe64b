"""ScaiVault console: a web front end served by ``scaivault server`` under ``/ui/``.

Built only on the core's public names: the ``register_routes`` hook adds plain starlette routes,
and every page calls the ``Vault`` as the signed-in identity (``vault.authenticate(token)``), so
the console can never let anyone do more than the API lets them. Operator settings (read when the
server starts): ``SCAIVAULT_CONSOLE_IDLE_TIMEOUT`` (default 30m) and
``SCAIVAULT_CONSOLE_SESSION_LIFETIME`` (default 12h).
"""

from __future__ import annotations

import os

from scaivault_core import InvalidConfig, InvalidRequest, hookimpl, parse_duration

from . import pages
from .console import Console, redirect

__all__ = ["Console", "console_routes"]


def console_routes(console: Console) -> list:
    from starlette.routing import Route

    page = console.route
    return [
        Route("/ui", lambda request: redirect("/ui/"), methods=["GET"]),
        Route("/ui/sign-in", console.sign_in_form, methods=["GET", "POST"]),
        page("/ui/sign-out", console.sign_out, methods=("POST",)),
        Route("/ui/static/{name}", console.serve_static, methods=["GET"]),
        page("/ui/", pages.overview),
        page("/ui/engines", pages.engines),
        page("/ui/engines/{engine}", pages.engine),
        page("/ui/leases", pages.leases),
        page("/ui/leases/{lease_id}", pages.lease),
        page("/ui/leases/{lease_id}/renew", pages.renew, methods=("POST",)),
        page("/ui/leases/{lease_id}/revoke", pages.revoke, methods=("POST",)),
        page("/ui/leases/{lease_id}/forget", pages.forget, methods=("POST",)),
        page("/ui/attention", pages.attention),
        page("/ui/audit", pages.audit),
        page("/ui/explain", pages.explain),
    ]


def _seconds(variable: str, default: str) -> float:
    """An operator's duration setting; a bad one stops the server at start, naming the variable."""
    try:
        value = parse_duration(os.environ.get(variable) or default, variable)
    except InvalidRequest as err:
        raise InvalidConfig(err.message, field=variable) from None
    if not value:
        raise InvalidConfig(f"{variable} must be at least one second.", field=variable)
    return float(value)


@hookimpl
def register_routes(routes):
    console = Console(
        idle_timeout=_seconds("SCAIVAULT_CONSOLE_IDLE_TIMEOUT", "30m"),
        lifetime=_seconds("SCAIVAULT_CONSOLE_SESSION_LIFETIME", "12h"),
    )
    routes.extend(console_routes(console))
