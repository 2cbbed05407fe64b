"""The engine's revocation list: revoked, unexpired certificate serials per CA, kept beside the KRL.

The serials live in a small JSON file next to the exported KRL (`<krl_path>.json`), so the list
survives restarts and is shared by every process of this host that uses the same `krl_path`:
each change is a read-modify-write under an exclusive `flock` on `<krl_path>.lock`, the JSON and
the KRL are each replaced atomically, and the KRL is exported before the lock is released.
Processes on other hosts see the list only if `krl_path` is on storage they share (with working
`flock`); otherwise each host keeps its own, and revocations made elsewhere never reach it.

An entry leaves the list once its certificate has expired for longer than `margin` seconds
(the backdate allowance, so a host whose clock runs behind still refuses it until it expires there).

The KRL's version and date change only when the listed certificates do, so the same list always
exports to the same bytes: a configuration tool copying it to hosts, or anyone comparing files,
sees a change only when there is one.
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


@attrs.frozen
class _State:
    """What `<krl_path>.json` holds: the listed serials, and the version and date of that list."""

    revoked: dict[str, dict[int, int]]  # CA public key line -> {serial: valid_before}
    version: int = 0  # +1 with every change of `revoked`; 0 before the first export
    generated_at: int = 0  # when `revoked` last changed (epoch seconds)


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
            before = self._load()
            revoked = {ca: dict(serials) for ca, serials in before.revoked.items()}
            for entry in entries:
                if self._live(entry.valid_before, now):
                    serials = revoked.setdefault(entry.ca, {})
                    serials[entry.serial] = max(entry.valid_before, serials.get(entry.serial, 0))
            return self._save_and_export(before, revoked, now)

    def export(self, now: float) -> bytes:
        """Drop expired entries and write the KRL to `krl_path` (creating it, empty, the first time)."""
        with self._locked(fcntl.LOCK_EX):
            before = self._load()
            return self._save_and_export(before, before.revoked, now)

    def krl(self, now: float) -> bytes:
        """The KRL as it stands, without expired entries, without writing anything."""
        with self._locked(fcntl.LOCK_SH):
            before = self._load()
        return _build(self._published(before, self._pruned(before.revoked, now), now))

    def listed(self, now: float) -> list[Revoked]:
        """The revoked certificates still listed, by CA and serial."""
        with self._locked(fcntl.LOCK_SH):
            state = self._pruned(self._load().revoked, now)
        return sorted(
            (Revoked(ca, serial, before) for ca, serials in state.items() for serial, before in serials.items()),
            key=lambda r: (r.ca, r.serial),
        )

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

    def _published(self, before: _State, revoked: dict[str, dict[int, int]], now: float) -> _State:
        """`revoked` with the version and date to publish it under: `before`'s while the list is unchanged.

        A list that only lost entries is dated when the last of them expired, not now, so a list
        read (not written) between the expiry and the next export is the same at every read.
        """
        if revoked == before.revoked and before.version:
            return before
        only_dropped = all(
            serial in before.revoked.get(ca, {}) for ca, serials in revoked.items() for serial in serials
        )
        dropped = [
            valid_before + self.margin
            for ca, serials in before.revoked.items()
            for serial, valid_before in serials.items()
            if serial not in revoked.get(ca, {})
        ]
        changed_at = max(dropped) if only_dropped and dropped else int(now)
        return _State(revoked, before.version + 1, max(changed_at, before.generated_at))

    def _save_and_export(self, before: _State, revoked: dict[str, dict[int, int]], now: float) -> bytes:
        state = self._published(before, self._pruned(revoked, now), now)
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

    def _load(self) -> _State:
        try:
            raw = self.state_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return _State({})
        except OSError as exc:
            raise StateError(f"could not read {self.state_path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw)
            if data.get("format") != STATE_FORMAT:
                raise ValueError("unknown format")
            revoked = {str(ca): {int(s): int(b) for s, b in serials.items()} for ca, serials in data["revoked"].items()}
            # Files written before the version and date were kept have neither: the next export adds them.
            return _State(revoked, int(data.get("version", 0)), int(data.get("generated_at", 0)))
        except (ValueError, TypeError, AttributeError, KeyError):
            # Starting afresh would silently un-revoke certificates; an operator must look first.
            raise StateError(
                f"{self.state_path} is damaged; restore it from a backup, or move it away to "
                "start an empty revocation list",
                unreachable=False,
            ) from None

    def _save(self, state: _State) -> None:
        body = {
            "format": STATE_FORMAT,
            "version": state.version,
            "generated_at": state.generated_at,
            "revoked": {
                ca: {str(s): b for s, b in sorted(serials.items())} for ca, serials in sorted(state.revoked.items())
            },
        }
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


def _build(state: _State) -> bytes:
    return build_multi_ca_krl(
        {ca: serials.keys() for ca, serials in state.revoked.items()},
        version=state.version,
        generated_at=state.generated_at,
    )
