"""``scaivault server``: the REST API and the expiry worker on the local store.

The only command that imports ``rest``.
"""

from __future__ import annotations

from typing import Any

import click

from ..errors import InvalidRequest
from .state import current


@click.command()
@click.option("--listen", default="127.0.0.1:8200", show_default=True, help="HOST:PORT to listen on.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False), help="Serve HTTPS with this certificate.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="The certificate's private key.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--command-dir", "command_dirs", multiple=True, metavar="DIR",
              help="A directory whose executables engines may run (repeatable; SCAIVAULT_COMMAND_DIRS).")
@click.option("--file-dir", "file_dirs", multiple=True, metavar="DIR",
              help="A directory engines may read and write files in (repeatable; SCAIVAULT_FILE_DIRS).")
@click.option("--token-default-ttl", metavar="DURATION", help="TTL of a token created without one (SCAIVAULT_TOKEN_DEFAULT_TTL; 768h).")
@click.option("--token-max-ttl", metavar="DURATION", help="Longest TTL a token may have (SCAIVAULT_TOKEN_MAX_TTL; 768h).")
@click.option("--header-timeout", metavar="DURATION", help="Time a request's headers may take (SCAIVAULT_HEADER_TIMEOUT; 10s).")
@click.option("--body-timeout", metavar="DURATION", help="Time a request's body may take (SCAIVAULT_BODY_TIMEOUT; 30s).")
@click.option("--keep-alive-timeout", metavar="DURATION", help="Idle time before a connection is closed (SCAIVAULT_KEEP_ALIVE_TIMEOUT; 5s).")
@click.option("--max-connections", type=click.IntRange(min=1),
              help="Open connections accepted; more get 503 (SCAIVAULT_MAX_CONNECTIONS; 512).")
def server(listen: str, tls_cert: str | None, tls_key: str | None, log_level: str, **flags: Any) -> None:
    """Serve the REST API (and run the expiry worker) on the local store.

    The operator's settings come from SCAIVAULT_* variables; a flag given here wins over its variable.
    """
    from ..rest.server import serve

    if bool(tls_cert) != bool(tls_key):
        raise InvalidRequest("--tls-cert and --tls-key go together.")
    host, port = parse_listen(listen)
    vault = current().open_vault(start_worker=True, settings=operator_settings(flags))
    serve(vault, host, port, tls_cert=tls_cert, tls_key=tls_key, log_level=log_level)


def operator_settings(flags: dict[str, Any]) -> Any:
    """``Settings`` from the environment, with the server's flags (durations as text) winning."""
    from ..durations import parse_duration
    from ..settings import Settings

    overrides = {name: parse_duration(value, "--" + name.replace("_", "-")) if isinstance(value, str) else value
                 for name, value in flags.items()}
    return Settings.from_env(None, **overrides)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    if not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise InvalidRequest("--listen takes HOST:PORT, e.g. 127.0.0.1:8200.", field="listen")
    return host or "127.0.0.1", int(port)
