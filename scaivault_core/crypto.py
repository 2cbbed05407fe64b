"""Encryption at rest (AES-256-GCM) and keyed hashes for the audit log.

The key never lives in the store: it comes from a key file beside it (owner-only), from
``SCAIVAULT_KEY``, or from the caller. Every ciphertext names the key that made it, so a keyring
holding old and new keys can read both while material is re-encrypted under the new one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .errors import InvalidConfig
from .private_files import create_private_file, private_directory, read_private_file

_FORMAT = b"\x01"
_NONCE = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class Keyring:
    """Encrypts under the newest key; decrypts with whichever key a ciphertext names."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys or any(len(k) != 32 for k in keys):
            raise InvalidConfig("A vault key is 32 random bytes (base64 in files and SCAIVAULT_KEY).")
        self._by_id = {self.key_id(k): AESGCM(_derive(k, b"scaivault/encrypt")) for k in keys}
        self.current_id = self.key_id(keys[0])
        # Audit hashes use the oldest key so they stay comparable across key rotation.
        self._mac_key = _derive(keys[-1], b"scaivault/audit-hmac")
        # The audit chain is signed under the newest key instead: key rotation re-signs it (audit_chain.py).
        self._chain_keys = {self.key_id(k).hex(): _derive(k, b"scaivault/audit-chain") for k in keys}

    @staticmethod
    def key_id(key: bytes) -> bytes:
        return hashlib.sha256(b"scaivault/key-id" + key).digest()[:4]

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id.hex()}, keys={len(self)})"

    def __len__(self) -> int:
        return len(self._by_id)

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """Seal ``plaintext``, bound to ``context`` (a record id) so ciphertexts can't be swapped."""
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._by_id[self.current_id].encrypt(nonce, plaintext, context.encode())
        return _FORMAT + self.current_id + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> bytes:
        if blob[:1] != _FORMAT:
            raise InvalidConfig("Stored material has an unknown format.")
        key_id, nonce, sealed = blob[1:5], blob[5 : 5 + _NONCE], blob[5 + _NONCE :]
        aead = self._by_id.get(bytes(key_id))
        if aead is None:
            raise InvalidConfig(
                f"Stored material was encrypted under key {bytes(key_id).hex()}, which this vault "
                "was not given; configure the keyring with that key."
            )
        return aead.decrypt(nonce, sealed, context.encode())

    def needs_reencrypt(self, blob: bytes) -> bool:
        return bytes(blob[1:5]) != self.current_id

    def encrypt_json(self, value: Any, context: str) -> bytes:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode(), context)

    def decrypt_json(self, blob: bytes, context: str) -> Any:
        return json.loads(self.decrypt(blob, context))

    def mac(self, value: Any) -> str:
        """A keyed hash of a secret value: comparable in the audit log, useless to a reader."""
        raw = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True).encode()
        return "hmac-sha256:" + hmac.new(self._mac_key, raw, hashlib.sha256).hexdigest()[:32]

    def chain_mac(self, data: bytes, key_id: str | None = None) -> str | None:
        """An audit chain MAC of ``data`` under key ``key_id`` (hex; default the current key); None if not held."""
        key = self._chain_keys.get(key_id or self.current_id.hex())
        return None if key is None else hmac.digest(key, data, "sha256")[:16].hex()


def new_key() -> bytes:
    return secrets.token_bytes(32)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode()


def decode_keys(text: str) -> list[bytes]:
    """Keys from text: one base64 key per line or comma, newest first."""
    parts = [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]
    try:
        return [base64.b64decode(p, validate=True) for p in parts]
    except ValueError:
        raise InvalidConfig("The vault key is not valid base64.") from None


def load_keyring(key_file: Path | None, *, create: bool, key: str | None = None) -> Keyring:
    """The keyring from ``key`` (the operator's ``SCAIVAULT_KEY``) or ``key_file``; a new key file when
    ``create`` is set."""
    if key:
        return Keyring(decode_keys(key))
    if key_file is None:
        raise InvalidConfig("No vault key: set SCAIVAULT_KEY or give a key file.")
    if not os.path.lexists(key_file):
        if not create:
            raise InvalidConfig(f"No vault key at {key_file}; run `scaivault init` or set SCAIVAULT_KEY.")
        private_directory(key_file.parent, "The key file's directory")
        create_private_file(key_file, encode_key(new_key()) + "\n")
    return Keyring(decode_keys(read_private_file(key_file, "The key file")))
