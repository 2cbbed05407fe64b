"""The audit log as a chain: each entry carries a MAC over its own content and the previous entry's MAC.

An edited entry no longer matches its MAC; a deleted or moved one leaves the next entry's chain
position (``seq``) out of step; the newest entries, deleted from the end, are missed against the
chain head, a row the store keeps beside the log, under a MAC of its own and updated in the same
transaction as every append. The MACs are keyed from the vault key (``Keyring.chain_mac``), each
entry naming the key that signed it, so the store alone (a copy of the database, a DBA) can
neither extend the chain nor mend it.

Stores serialise appends (the head row is locked for the transaction), so chain order is id order.
Entries written before the chain existed (before the upgrade) carry no MAC: they are its unverified
prefix, counted and reported, never checked.

Key rotation re-signs the chain under the new key (``resign``), in batches while the vault serves.
Until it reaches the end, the head remembers where it stands (``resign_seq``) and the old MAC of
that entry (``resign_mac``), which the next, not yet re-signed entry was signed over: that bridge
keeps the chain verifiable at every commit, and lets an interrupted rotation resume.

What no chain kept in the store can show: a store rolled back as a whole, or stripped of every MAC
together with its head, looks like an older or an unsigned log. Keep the head ``verify`` reports
somewhere else to catch that.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

import attrs

from .crypto import Keyring
from .models import AuditEvent

log = logging.getLogger("scaivault.audit")

GENESIS = ""  # what the first entry was signed over in place of a previous MAC
BATCH = 1000
CHAIN_COLUMNS = (
    "id",
    "seq",
    "mac",
    "key_id",
    "time",
    "identity",
    "operation",
    "path",
    "outcome",
    "lease_id",
    "details",
)


@attrs.frozen
class ChainHead:
    """The end of the chain (entries, the last one's MAC), a key rotation's progress, and a MAC over all that."""

    seq: int = 0
    mac: str = GENESIS
    key_id: str | None = None
    head_mac: str | None = None  # None only before the first signed entry
    resign_seq: int = 0  # a key rotation re-signed entries 1..resign_seq so far (0: none in progress)
    resign_mac: str = GENESIS  # the MAC entry resign_seq had before it was re-signed


@attrs.frozen
class ChainRow:
    """One stored entry as the chain sees it; ``details`` is the stored JSON text, exactly."""

    id: int
    seq: int | None
    mac: str | None
    key_id: str | None
    time: float
    identity: str | None
    operation: str
    path: str | None
    outcome: str | None
    lease_id: str | None
    details: str


# One encoder for every MAC input (json.dumps with arguments would build one per call, on the hot path).
_encode = json.JSONEncoder(separators=(",", ":")).encode


def _entry(
    seq: int,
    prev: str,
    time: float,
    identity: Any,
    operation: Any,
    path: Any,
    outcome: Any,
    lease_id: Any,
    details: str,
) -> bytes:
    # A JSON array: field boundaries stay unambiguous whatever the values hold. The time as a float,
    # so a whole-second time reads back the same from a REAL column.
    return _encode(["entry", seq, prev, float(time), identity, operation, path, outcome, lease_id, details]).encode()


def _row_entry(row: ChainRow, prev: str) -> bytes:
    return _entry(
        row.seq or 0, prev, row.time, row.identity, row.operation, row.path, row.outcome, row.lease_id, row.details
    )


def _head(seq: int, mac: str, resign_seq: int, resign_mac: str) -> bytes:
    return f"head|{int(seq)}|{mac}|{int(resign_seq)}|{resign_mac}".encode()  # MACs are hex: no '|' inside


class AuditChain:
    """Signs entries onto the chain under the keyring's current key; a store calls ``link`` under its append lock."""

    def __init__(self, keyring: Keyring) -> None:
        self._keyring, self._key_id = keyring, keyring.current_id.hex()

    def link(self, head: ChainHead, event: AuditEvent, details: str) -> tuple[tuple[int, str, str], ChainHead]:
        """((seq, mac, key id) for the new entry, the head after it); ``details`` is the JSON text being stored."""
        seq = head.seq + 1
        mac = self._sign(
            _entry(
                seq,
                head.mac,
                event.time,
                event.identity,
                event.operation,
                event.path,
                event.outcome,
                event.lease_id,
                details,
            )
        )
        return (seq, mac, self._key_id), self.head(seq, mac, head.resign_seq, head.resign_mac)

    def head(self, seq: int, mac: str, resign_seq: int = 0, resign_mac: str = GENESIS) -> ChainHead:
        signed = self._sign(_head(seq, mac, resign_seq, resign_mac))
        return ChainHead(seq, mac, self._key_id, signed, resign_seq, resign_mac)

    def _sign(self, data: bytes) -> str:
        mac = self._keyring.chain_mac(data, self._key_id)
        if mac is None:  # cannot happen: a keyring always holds its current key
            raise RuntimeError("the keyring lacks its current key")
        return mac


@attrs.frozen
class Break:
    """Where the chain stops holding: the entry (None: after the newest one) and what was done to it."""

    id: int | None
    problem: str  # edited, deleted, moved, unsigned, unknown_key or head
    message: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class Report:
    """What ``verify`` found: counts, the head it checked against, and the first break if any."""

    entries: int  # every entry looked at
    signed: int  # entries verified on the chain
    unsigned_prefix: int  # written before the chain began (before the upgrade): not verifiable
    head: ChainHead
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "signed": self.signed,
            "unsigned_prefix": self.unsigned_prefix,
            "head": {"seq": self.head.seq, "mac": self.head.mac},
            "broken": self.broken.to_dict() if self.broken else None,
        }


class _Walk:
    """Follows the chain in id order, checking each entry against the one before it."""

    def __init__(self, store: Any, keyring: Keyring, head: ChainHead) -> None:
        self._store, self._keyring = store, keyring
        self._bridge = (head.resign_seq, head.resign_mac) if head.resign_seq else None
        self.seq, self.mac = 0, GENESIS  # the last verified entry's position and MAC
        self.entries = self.prefix = self.last_id = 0

    def step(self, row: ChainRow) -> Break | None:
        self.entries += 1
        self.last_id = row.id
        if row.seq is None:
            if self.seq == 0:
                self.prefix += 1
                return None
            return Break(
                row.id,
                "unsigned",
                f"Entry {row.id} carries no MAC but comes after signed entries: it was "
                "added to the store directly, or its MAC was removed.",
            )
        if row.seq != self.seq + 1:
            return self._out_of_step(row)
        if not row.key_id:
            return Break(row.id, "edited", f"Entry {row.id} names no signing key: it was edited.")
        expected = self._keyring.chain_mac(_row_entry(row, self.signed_over()), row.key_id)
        if expected is None:
            return Break(
                row.id,
                "unknown_key",
                f"Entry {row.id} was signed under key {row.key_id}, which this vault "
                "was not given: open it with that key too (SCAIVAULT_KEY=NEW,OLD).",
            )
        if not hmac.compare_digest(expected, row.mac or ""):
            return Break(
                row.id,
                "edited",
                f"Entry {row.id} does not match its MAC: it was edited, or written without the vault key.",
            )
        self.seq, self.mac = row.seq, row.mac or ""
        return None

    def signed_over(self) -> str:
        """The MAC the entry after the last verified one was signed over (across a rotation's bridge)."""
        return self._bridge[1] if self._bridge and self.seq == self._bridge[0] else self.mac

    def _out_of_step(self, row: ChainRow) -> Break:
        wanted = self.seq + 1
        if (
            row.key_id
            and self._keyring.chain_mac(_row_entry(attrs.evolve(row, seq=wanted), self.signed_over()), row.key_id)
            == row.mac
        ):
            return Break(row.id, "edited", f"Entry {row.id} had its chain position changed (to {row.seq}).")
        if row.seq is not None and row.seq > wanted:
            found = self._store.find_audit_seq(wanted)
            if found is None:
                gap = f"position {wanted} is" if row.seq == wanted + 1 else f"positions {wanted}-{row.seq - 1} are"
                return Break(row.id, "deleted", f"Chain {gap} missing before entry {row.id}: deleted.")
            return Break(
                row.id,
                "moved",
                f"Entry {row.id} holds chain position {row.seq}, but position {wanted} "
                f"(entry {found}) comes after it: entries were reordered.",
            )
        return Break(
            row.id,
            "moved",
            f"Entry {row.id} holds chain position {row.seq}, which an earlier entry "
            "already holds: it was moved or copied.",
        )

    def check_head(self, head: ChainHead) -> Break | None:
        """The head's own MAC (an unsigned head is the one a store starts with, before any signed entry)."""
        if head.head_mac is None:
            if head.seq == 0 and head.resign_seq == 0:
                return None
            return Break(None, "head", "The chain head carries no MAC: it was edited.")
        if not head.key_id:
            return Break(None, "head", "The chain head names no signing key: it was edited.")
        expected = self._keyring.chain_mac(_head(head.seq, head.mac, head.resign_seq, head.resign_mac), head.key_id)
        if expected is None:
            return Break(
                None,
                "unknown_key",
                f"The chain head was signed under key {head.key_id}, which this vault "
                "was not given: open it with that key too (SCAIVAULT_KEY=NEW,OLD).",
            )
        if not hmac.compare_digest(expected, head.head_mac):
            return Break(None, "head", "The chain head does not match its MAC: it was edited.")
        return None

    def finish(self, head: ChainHead) -> Break | None:
        """Compare the end of the walk with the head, read under the append lock."""
        if (broken := self.check_head(head)) is not None:
            return broken
        if head.head_mac is None and self.seq:
            return Break(None, "head", "The chain head was reset or removed, yet signed entries exist.")
        if head.seq > self.seq:
            missing = f"{head.seq - self.seq} entr{'y is' if head.seq - self.seq == 1 else 'ies are'}"
            after = f"after entry {self.last_id}" if self.last_id else "the log holds none"
            return Break(None, "deleted", f"The newest {missing} missing ({after}): deleted from the end.")
        if head.seq < self.seq or head.mac != self.mac:
            return Break(
                None, "head", f"The chain head records {head.seq} entries, not the {self.seq} found: it was set back."
            )
        return None

    def report(self, head: ChainHead, broken: Break | None) -> Report:
        return Report(self.entries, self.seq, self.prefix, head, broken)


def verify(store: Any, keyring: Keyring) -> Report:
    """Check the whole chain; the first break (if any) says which entry and what was done."""
    walk = _Walk(store, keyring, store.audit_head())
    while True:
        rows = store.audit_chain_rows(walk.last_id, BATCH)
        for row in rows:
            if (broken := walk.step(row)) is not None:
                return walk.report(store.audit_head(), broken)
        if len(rows) < BATCH:
            break
    # The end under the append lock: no entry can land between the last one read and the head.
    with store.transaction():
        head = store.audit_head(lock=True)
        while rows := store.audit_chain_rows(walk.last_id, BATCH):
            for row in rows:
                if (broken := walk.step(row)) is not None:
                    return walk.report(head, broken)
        return walk.report(head, walk.finish(head))


def resign(store: Any, keyring: Keyring) -> tuple[int, Break | None]:
    """Re-sign the chain under the current key, checking each entry under the key that signed it first.

    Returns (entries re-signed, the break it stopped at). At a break it stops: signing over it would
    hide it, and the head's bridge keeps the break exactly where, and what, it was.
    """
    chain = AuditChain(keyring)
    current = keyring.current_id.hex()
    walk = _Walk(store, keyring, store.audit_head())
    new_mac, count = GENESIS, 0
    while True:
        with store.transaction():  # a batch at a time under the append lock, so appends go on in between
            head = store.audit_head(lock=True)
            broken = walk.check_head(head)
            if broken is None:
                rows = store.audit_chain_rows(walk.last_id, BATCH)
                links = []
                for row in rows:
                    if (broken := walk.step(row)) is not None:
                        break
                    if row.seq is not None:
                        new_mac = keyring.chain_mac(_row_entry(row, new_mac), current) or ""
                        if new_mac != row.mac or row.key_id != current:
                            links.append((row.id, new_mac, current))
                end = broken is None and len(rows) < BATCH  # under the lock, so nothing more is coming
                if end:
                    broken = walk.finish(head)
                if end and broken is None:
                    store.resign_audit(links, chain.head(head.seq, new_mac))
                elif walk.seq:  # progress so far, bridged to the entry after it
                    store.resign_audit(links, chain.head(head.seq, head.mac, walk.seq, walk.signed_over()))
                count += len(links)
        if broken is not None:
            log.error(
                "the audit chain is broken at entry %s (%s): re-signed up to there only", broken.id, broken.problem
            )
            return count, broken
        if end:
            return count, None
