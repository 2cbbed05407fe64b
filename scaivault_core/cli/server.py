"""``scaivault server``: the REST API and the expiry worker on the local store.

The only command that imports ``rest``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import InvalidConfig, InvalidRequest
from .settings_options import settings_options
from .state import current


@click.command()
@settings_options("server")
def server(**flags: Any) -> None:
    """Serve the REST API (and run the expiry worker) on the local store.

    Each flag has a SCAIVAULT_* variable and a key of the --config file; a flag given here wins over both
    (docs/configuration.md).
    """
    from ..logs import configure_logging
    from ..rest.server import serve

    state = current()
    settings = state.with_flags(flags)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise InvalidRequest("--tls-cert and --tls-key go together (SCAIVAULT_TLS_CERT, SCAIVAULT_TLS_KEY).")
    for name, path in (("tls_cert", settings.tls_cert), ("tls_key", settings.tls_key)):
        if path and not Path(path).is_file():
            raise InvalidConfig(f"The TLS file {path} ({name}) does not exist or is not a file.", field=name)
    host, port = parse_listen(settings.listen)
    configure_logging(settings.log_format, settings.log_level, default_level="info")  # a server logs its requests
    vault = state.open_vault(start_worker=True, settings=settings)
    serve(vault, host, port, tls_cert=settings.tls_cert, tls_key=settings.tls_key)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise InvalidRequest("--listen takes HOST:PORT, e.g. 127.0.0.1:8200.", field="listen")
    return host or "127.0.0.1", int(port)
