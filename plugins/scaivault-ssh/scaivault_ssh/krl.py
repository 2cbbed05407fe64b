"""OpenSSH key revocation lists (KRL) revoking certificate serials, per OpenSSH's PROTOCOL.krl.

sshd's `RevokedKeys` takes this binary file and re-reads it at every login, so replacing the file
is enough to refuse a revoked certificate at once.
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .errors import InvalidCertificateRequest
from .keys import PrivateKey, PublicKey, public_key_blob

KRL_MAGIC = b"SSHKRL\n\0"
KRL_FORMAT_VERSION = 1
SECTION_CERTIFICATES = 1
CERT_SERIAL_LIST = 0x20
CERT_SERIAL_RANGE = 0x21
# A range costs two serials' worth of bytes; from three consecutive serials on it is smaller.
_MIN_RANGE = 3
_MAX_SERIAL = 2**64 - 1


def build_krl(
    ca_public_key: str | PublicKey | PrivateKey,
    serials: Iterable[int],
    *,
    version: int | None = None,
    comment: str = "",
    generated_at: int | None = None,
) -> bytes:
    """A KRL revoking the certificates with these serials signed by this CA (empty: revokes none)."""
    return build_multi_ca_krl({ca_public_key: serials}, version=version, comment=comment, generated_at=generated_at)


def build_multi_ca_krl(
    revoked: Mapping[str | PublicKey | PrivateKey, Iterable[int]],
    *,
    version: int | None = None,
    comment: str = "",
    generated_at: int | None = None,
) -> bytes:
    """A KRL with one certificate section per CA, each revoking that CA's serials listed in `revoked`."""
    now = int(time.time()) if generated_at is None else int(generated_at)
    # sshd ignores the version; a time-based default still increases with every export.
    version = now if version is None else int(version)
    out = bytearray(KRL_MAGIC)
    out += struct.pack(">IQQQ", KRL_FORMAT_VERSION, version, now, 0)  # no flags are defined
    out += _string(b"")  # reserved
    out += _string(comment.encode("utf-8"))
    # One section per CA key: a serial only means something together with the CA that issued it.
    sections: dict[bytes, set[int]] = {}
    for ca_public_key, serials in revoked.items():
        wanted = _check_serials(serials)
        if wanted:
            sections.setdefault(public_key_blob(ca_public_key), set()).update(wanted)
    for blob in sorted(sections):
        out += bytes([SECTION_CERTIFICATES])
        out += _string(_certificate_section(blob, sorted(sections[blob])))
    return bytes(out)


def write_krl(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data` atomically, so sshd never reads half a KRL."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # A KRL holds no secret, and sshd must be able to read it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def export_krl(
    path: str | os.PathLike[str],
    ca_public_key: str | PublicKey | PrivateKey,
    serials: Iterable[int],
    **kwargs,
) -> bytes:
    """Build the KRL (see `build_krl` for the keyword arguments), write it to `path`, return it."""
    data = build_krl(ca_public_key, serials, **kwargs)
    write_krl(path, data)
    return data


def _certificate_section(ca_blob: bytes, serials: list[int]) -> bytes:
    body = bytearray(_string(ca_blob))
    body += _string(b"")  # reserved
    singles: list[int] = []
    for low, high in _runs(serials):
        if high - low + 1 >= _MIN_RANGE:
            body += bytes([CERT_SERIAL_RANGE]) + _string(struct.pack(">QQ", low, high))
        else:
            singles.extend(range(low, high + 1))
    if singles:
        packed = struct.pack(f">{len(singles)}Q", *singles)
        body += bytes([CERT_SERIAL_LIST]) + _string(packed)
    return bytes(body)


def _runs(serials: list[int]) -> list[tuple[int, int]]:
    """Group sorted, distinct serials into (first, last) runs of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    for serial in serials:
        if runs and serial == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], serial)
        else:
            runs.append((serial, serial))
    return runs


def _check_serials(serials: Iterable[int]) -> list[int]:
    wanted = set()
    for serial in serials:
        # OpenSSH refuses a KRL naming serial 0, and serials are unsigned 64-bit numbers.
        if isinstance(serial, bool) or not isinstance(serial, int) or not 1 <= serial <= _MAX_SERIAL:
            raise InvalidCertificateRequest("KRL serials must be integers from 1 to 2**64-1")
        wanted.add(serial)
    return sorted(wanted)


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data
