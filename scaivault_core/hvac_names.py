"""The lease methods under the names hvac (HashiCorp Vault's Python client) gives them, as aliases of
ours: one table, applied to every Python front end (``Vault`` and its sessions, ``AsyncVault``, the
sync and asyncio clients), so code written with hvac's verbs in mind reads naturally. Only the names
are hvac's; the arguments and answers are ours (``generate_credentials(engine, role, ttl=...)``).
"""

from __future__ import annotations

from typing import Any

ALIASES = {
    "generate_credentials": "issue",
    "renew_lease": "renew",
    "revoke_lease": "revoke",
    "lookup_lease": "lookup",
    "read_lease": "lookup",
}


def add_hvac_names(cls: Any) -> Any:
    """Give ``cls`` each alias as the very method it stands for; a class decorator."""
    for alias, ours in ALIASES.items():
        setattr(cls, alias, getattr(cls, ours))
    return cls
