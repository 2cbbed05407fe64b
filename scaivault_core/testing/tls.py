"""Throwaway TLS for servers a test starts: a trustme CA and its certificate for 127.0.0.1 and localhost.

One builder for every test server that speaks HTTPS (``LiveServer(tls=True)``, ``HttpsDouble``):
the server presents ``cert`` (with ``key``), and a client trusts ``ca``, and nothing else.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import attrs


@attrs.frozen
class LoopbackTLS:
    """PEM files in one directory: ``ca`` (what clients trust), ``cert`` (the server's chain) and ``key``."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def create(cls, directory: str | os.PathLike[str]) -> LoopbackTLS:
        """A new CA and a server certificate it signed for 127.0.0.1 and localhost, written to ``directory``."""
        import trustme  # a test dependency (the ``testing`` extra), needed only by servers that speak HTTPS

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="scaivault test CA")
        issued = ca.issue_cert("127.0.0.1", "localhost")
        tls = cls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
        ca.cert_pem.write_to_path(str(tls.ca))
        tls.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
        with os.fdopen(os.open(tls.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as key:
            key.write(issued.private_key_pem.bytes())
        return tls

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca))
