"""``scaivault init``: create the store and its key, and print the first admin token once."""

from __future__ import annotations

import click

from ..errors import Conflict, InvalidRequest
from .output import emit
from .state import current, output


@click.command()
@output
def init() -> None:
    """Create the store and its key, and print the first admin token (shown only this once)."""
    from ..store.sqlite import is_sqlite_url, path_from_url

    state = current()
    if state.field not in (None, "admin_token"):  # checked first: the token is shown only this once
        raise InvalidRequest(f"The answer has no field {state.field!r} (fields here: admin_token).", field="field")
    url = state.store_url()
    exists = is_sqlite_url(url) and path_from_url(url).exists()
    vault = state.open_vault(create=not exists)
    shown = vault.store.url  # a postgresql:// URL with its password masked
    if vault.list_tokens("user:admin"):
        raise Conflict(
            f"The vault at {shown} is already initialised; use its admin token "
            "(or one created with `scaivault token create`)."
        )
    token = vault.create_admin_token()
    if state.for_scripts:
        emit({"admin_token": token})
    else:
        click.echo(f"Initialised the vault at {shown}.")
        click.echo(f"Admin token (shown only now; keep it safe): {token}")
