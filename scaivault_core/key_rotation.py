"""The vault key and the store: a start-up check that they belong together, and online key rotation.

The key never enters the store. What the store keeps is a *key check*: a short value sealed under
the key, so a process given the wrong key (or a stale one after a rotation) refuses to start with
a clear message instead of issuing leases that no other process can revoke.

Rotation, with several processes sharing the store:

1. give every process the keyring ``NEW,OLD`` (``SCAIVAULT_KEY``, newest first) and restart them
   one by one: they now seal under NEW and still read OLD;
2. run ``Vault.rotate_encryption_key()`` once, from any of them (or a one-off process with the
   same keyring): every secret version, pending root rotation and lease handle still sealed under
   OLD is re-encrypted under NEW, and the audit chain is re-signed under NEW, while the vault keeps
   serving;
3. drop OLD from the configuration. From then on OLD alone reads nothing in the store.
"""

from __future__ import annotations

import base64
from typing import Any, TypedDict

from cryptography.exceptions import InvalidTag

from .audit_chain import resign
from .crypto import Keyring
from .errors import InvalidConfig

KEY_CHECK = "key_check"


class ResealCounts(TypedDict):
    """How many records of each kind a key rotation re-encrypted (or re-signed: the audit entries)."""

    secret_versions: int
    rotations: int
    leases: int
    audit_entries: int


_CHECK_CONTEXT = "meta:key_check"
_CHECK_PLAINTEXT = b"scaivault key check"


def _seal_check(keyring: Keyring) -> str:
    return base64.b64encode(keyring.encrypt(_CHECK_PLAINTEXT, _CHECK_CONTEXT)).decode()


def check_key(store: Any, keyring: Keyring) -> None:
    """Raise ``invalid_config`` unless ``keyring`` can read what this store holds (the first process records it)."""
    if store.get_meta(KEY_CHECK) is None:
        store.set_meta(KEY_CHECK, _seal_check(keyring))
    blob = base64.b64decode(store.get_meta(KEY_CHECK) or "")
    try:
        if keyring.decrypt(blob, _CHECK_CONTEXT) == _CHECK_PLAINTEXT:
            return
    except (InvalidConfig, InvalidTag, ValueError):
        pass
    raise InvalidConfig(
        f"The vault key does not match this store: its material is sealed under key {bytes(blob[1:5]).hex()}, "
        f"and this process was given {keyring}. Every process sharing a store needs the same key "
        "(SCAIVAULT_KEY or the key file); during a key rotation, give it as NEW,OLD.",
        field="key",
    )


def reseal_all(store: Any, keyring: Keyring) -> ResealCounts:
    """Re-encrypt under ``keyring``'s current key everything sealed under another; returns counts per kind."""

    def again(blob: bytes | None, context: str) -> bytes | None:
        if blob is None or not keyring.needs_reencrypt(blob):
            return None
        return keyring.encrypt(keyring.decrypt(blob, context), context)

    counts = ResealCounts(secret_versions=0, rotations=0, leases=0, audit_entries=0)
    for path in store.list_secret_paths(""):
        for version in store.list_secret_versions(path):
            found = store.get_secret_version(path, version.version)
            new = again(found[1], f"secret:{path}") if found else None
            if new is not None:
                store.reseal_secret_version(path, version.version, new)
                counts["secret_versions"] += 1
    for pending in store.pending_rotations():
        new = again(pending["sealed_new"], f"rotation:{pending['path']}")
        if new is not None:
            store.reseal_rotation(pending["path"], new)
            counts["rotations"] += 1
    counts["leases"] = store.reseal_leases(lambda lease_id, sealed: again(sealed, f"lease:{lease_id}"))
    # The audit chain is signed, not sealed: re-signed under the new key after each entry is checked
    # under its old one. A broken chain is re-signed only up to the break, which stays visible.
    counts["audit_entries"], _ = resign(store, keyring)
    store.set_meta(KEY_CHECK, _seal_check(keyring))
    return counts
