"""The `TrustedUserCAKeys` file: every CA public key hosts should accept, one line each.

After a rotation hosts must accept certificates of both the new CA and the previous one until the
previous one is retired, so the file lists the CA key of every root secret version not yet retired.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from .krl import write_krl


def trusted_keys_text(lines: Iterable[str]) -> str:
    """The file's text: each distinct line once, in the order given."""
    unique = list(dict.fromkeys(line.strip() for line in lines if line and line.strip()))
    return "".join(f"{line}\n" for line in unique)


def write_trusted_keys(path: str | os.PathLike[str], text: str) -> None:
    """Replace the file atomically (world-readable: it holds public keys only, and sshd reads it)."""
    write_krl(path, text.encode("utf-8"))  # the same atomic replace the KRL gets
