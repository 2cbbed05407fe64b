"""The engine's revocation list: revoked, unexpired certificate serials per CA, kept beside the KRL.

The serials live in a small JSON file next to the exported KRL (`<krl_path>.json`), so the list
survives restarts and is shared by every process of this host that uses the same `krl_path`:
each change is a read-modify-write under an exclusive `flock` on `<krl_path>.lock`, the JSON and
the KRL are each replaced atomically, and the KRL is exported before the lock is released.
Processes on other hosts see the list only if `krl_path` is on storage they share (with working
`flock`); otherwise each host keeps its own, and revocations made elsewhere never reach it.

An entry leaves the list once its certificate has expired for longer than `margin` seconds
(the backdate allowance, so a host whose clock runs behind still refuses it until it expires there).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import attrs

from .krl import build_multi_ca_krl, write_krl

STATE_FORMAT = 1


@attrs.frozen
class Revoked:
    """One revoked certificate: the CA that signed it (public key line), its serial, its `valid_before`."""

    ca: str
    serial: int
    valid_before: int


class StateError(Exception):
    """The revocation state cannot be read or written; the message names the file, never a secret.

    `unreachable` is true for I/O failures (a missing directory, storage gone), which may pass,
    and false for a damaged state file, which needs an operator.
    """

    def __init__(self, message: str, unreachable: bool = True) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class RevocationList:
    """Revoked serials in `<krl_path>.json`, exported as an OpenSSH KRL to `krl_path` after each change."""

    def __init__(self, krl_path: str | os.PathLike[str], margin: int = 0) -> None:
        self.krl_path = Path(krl_path)
        self.state_path = self.krl_path.with_name(self.krl_path.name + ".json")
        self.lock_path = self.krl_path.with_name(self.krl_path.name + ".lock")
        self.margin = int(margin)

    def revoke(self, entries: Iterable[Revoked], now: float) -> bytes:
        """Add these certificates (already listed: no change), drop expired ones, export; returns the KRL."""
        entries = list(entries)
        with self._locked(fcntl.LOCK_EX):
            state = self._load()
            for entry in entries:
                if self._live(entry.valid_before, now):
                    serials = state.setdefault(entry.ca, {})
                    serials[entry.serial] = max(entry.valid_before, serials.get(entry.serial, 0))
            return self._save_and_export(state, now)

    def export(self, now: float) -> bytes:
        """Drop expired entries and write the KRL to `krl_path` (creating it, empty, the first time)."""
        with self._locked(fcntl.LOCK_EX):
            return self._save_and_export(self._load(), now)

    def krl(self, now: float) -> bytes:
        """The KRL as it stands, without expired entries, without writing anything."""
        with self._locked(fcntl.LOCK_SH):
            return _build(self._pruned(self._load(), now))

    def listed(self, now: float) -> list[Revoked]:
        """The revoked certificates still listed, by CA and serial."""
        with self._locked(fcntl.LOCK_SH):
            state = self._pruned(self._load(), now)
        return sorted((Revoked(ca, serial, before) for ca, serials in state.items()
                       for serial, before in serials.items()), key=lambda r: (r.ca, r.serial))

    def check_writable(self) -> None:
        """Refuse a `krl_path` whose directory is missing or not writable by this process."""
        directory = self.krl_path.parent
        if not directory.is_dir():
            raise StateError(f"the directory of {self.krl_path} does not exist")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise StateError(f"the directory of {self.krl_path} is not writable by this process")

    # -- internals ---------------------------------------------------------------------------------

    def _live(self, valid_before: int, now: float) -> bool:
        return valid_before + self.margin > now

    def _pruned(self, state: dict[str, dict[int, int]], now: float) -> dict[str, dict[int, int]]:
        pruned = {ca: {s: b for s, b in serials.items() if self._live(b, now)} for ca, serials in state.items()}
        return {ca: serials for ca, serials in pruned.items() if serials}

    def _save_and_export(self, state: dict[str, dict[int, int]], now: float) -> bytes:
        state = self._pruned(state, now)
        self._save(state)
        data = _build(state)
        try:
            write_krl(self.krl_path, data)
        except OSError as exc:
            raise StateError(f"could not write the KRL {self.krl_path}: {exc.strerror or exc}") from None
        return data

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StateError(f"could not open the lock file {self.lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, mode)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _load(self) -> dict[str, dict[int, int]]:
        try:
            raw = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateError(f"could not read {self.state_path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw)
            if data.get("format") != STATE_FORMAT:
                raise ValueError("unknown format")
            return {str(ca): {int(s): int(b) for s, b in serials.items()} for ca, serials in data["revoked"].items()}
        except (ValueError, TypeError, AttributeError, KeyError):
            # Starting afresh would silently un-revoke certificates; an operator must look first.
            raise StateError(f"{self.state_path} is damaged; restore it from a backup, or move it away to "
                             "start an empty revocation list", unreachable=False) from None

    def _save(self, state: dict[str, dict[int, int]]) -> None:
        body = {"format": STATE_FORMAT,
                "revoked": {ca: {str(s): b for s, b in sorted(serials.items())} for ca, serials in sorted(state.items())}}
        directory = self.state_path.parent
        try:
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{self.state_path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(body, f, separators=(",", ":"))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.state_path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise StateError(f"could not write {self.state_path}: {exc.strerror or exc}") from None


def _build(state: dict[str, dict[int, int]]) -> bytes:
    return build_multi_ca_krl({ca: serials.keys() for ca, serials in state.items()})
