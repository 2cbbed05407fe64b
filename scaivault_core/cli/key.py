"""``scaivault key``: make a new vault key, re-encrypt the store under it (docs/scale-out.md)."""

from __future__ import annotations

import click

from ..errors import InvalidConfig, InvalidRequest
from .output import done, emit
from .state import current, output


@click.group()
def key() -> None:
    """The vault key: make a new one, re-encrypt the store under it (docs/scale-out.md)."""


@key.command("new")
@output
def key_new() -> None:
    """Print a new random key (base64), for SCAIVAULT_KEY or a key file."""
    from ..crypto import encode_key, new_key

    key = encode_key(new_key())
    if current().for_scripts:
        emit({"key": key})
    else:
        click.echo(key)


@key.command("rotate")
@output
def key_rotate() -> None:
    """Re-encrypt everything stored under an older key with the newest key of the keyring.

    Give every process the keyring NEW,OLD first (SCAIVAULT_KEY or the key file); drop OLD after.
    """
    state = current()
    if state.address:
        raise InvalidRequest(
            "`key rotate` works on the store itself: run it with --store (SCAIVAULT_STORE) and "
            "the keyring NEW,OLD, not against a server.",
            field="address",
        )
    vault = state.open_vault()
    if len(vault.keyring) < 2:
        raise InvalidConfig(
            "The keyring holds one key, so nothing is under an older one: give NEW,OLD "
            "(newest first) in SCAIVAULT_KEY or the key file.",
            field="key",
        )
    counts = vault.rotate_encryption_key()
    if state.for_scripts:
        emit(counts)
    else:
        done(
            "Re-encrypted "
            + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items())
            + " under the newest key. Old keys read nothing in the store now: drop them."
        )
