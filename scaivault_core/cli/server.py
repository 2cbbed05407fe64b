"""``scaivault server``: the REST API and the expiry worker on the local store.

The only command that imports ``rest``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import click

from ..errors import InvalidConfig, InvalidRequest
from .settings_options import settings_options
from .state import current, format_option

# What only the REST server needs: the `scaivault[server]` extra, so embedding the core does not pull them in.
SERVER_MODULES = ("starlette", "uvicorn", "httptools")


@click.command(params=[format_option()])  # for errors as JSON; it prints nothing else
@settings_options("server")
def server(**flags: Any) -> None:
    """Serve the REST API (and run the expiry worker) on the local store.

    Each flag has a SCAIVAULT_* variable and a key of the --config file; a flag given here wins over both
    (docs/configuration.md).
    """
    require_server_extra()
    from ..logs import configure_logging
    from ..rest.server import serve

    state = current()
    settings = state.with_flags(flags)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise InvalidRequest("--tls-cert and --tls-key go together (SCAIVAULT_TLS_CERT, SCAIVAULT_TLS_KEY).")
    for name, path in (("tls_cert", settings.tls_cert), ("tls_key", settings.tls_key)):
        if path and not Path(path).is_file():
            raise InvalidConfig(f"The TLS file {path} ({name}) does not exist or is not a file.", field=name)
    if settings.tls_cert:
        check_tls_files(settings.tls_cert, settings.tls_key)
    host, port = parse_listen(settings.listen)
    configure_logging(settings.log_format, settings.log_level, default_level="info")  # a server logs its requests
    vault = state.open_vault(start_worker=True, settings=settings)
    serve(vault, host, port, tls_cert=settings.tls_cert, tls_key=settings.tls_key)


def require_server_extra() -> None:
    """Name the extra to install, in one line, when the server's own dependencies are missing."""
    for module in SERVER_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:
            raise InvalidConfig(
                f"`scaivault server` needs the server extra ({module} is not installed): "
                "pip install 'scaivault[server]'.",
                missing=module,
                extra="server",
            ) from None


def check_tls_files(cert: str, key: str | None) -> None:
    """A certificate and key the server could not serve with are one line, before anything starts."""
    import ssl

    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (ssl.SSLError, OSError, ValueError):  # never the library's text: it could quote the key file
        raise InvalidConfig(
            f"Cannot serve HTTPS with --tls-cert {cert} and --tls-key {key}: they must be a PEM "
            "certificate (chain) and its unencrypted private key.",
            field="tls_cert",
        ) from None


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise InvalidRequest("--listen takes HOST:PORT, e.g. 127.0.0.1:8200.", field="listen")
    return host or "127.0.0.1", int(port)
