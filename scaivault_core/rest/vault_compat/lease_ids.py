"""Vault-shaped lease ids, derived from ours: ``{engine}/{verb}/{role}/{lease_id}``.

Nothing is stored: the Vault form is our id behind the path that issued it, and parsing takes the
id back off the end. The verb (``creds``, ``sign``, ``sts``) says which compatible path issued
the lease; it is not recorded, so any of them names the same lease.
"""

from __future__ import annotations

import re

import attrs

VERBS = ("creds", "sign", "sts")
_NATIVE_ID = re.compile(r"lease_[A-Za-z0-9_.-]{1,122}")  # leases.new_lease_id: lease_<prefix>_<random>, at most 128


@attrs.frozen
class VaultLeaseId:
    engine: str
    verb: str
    role: str
    lease_id: str  # ours

    def __str__(self) -> str:
        return f"{self.engine}/{self.verb}/{self.role}/{self.lease_id}"

    @property
    def path(self) -> str:
        """What Vault's lease lookup calls the lease's ``path``: the request path that issued it."""
        return f"{self.engine}/{self.verb}/{self.role}"

    def names(self, lease: object) -> bool:
        """Does this id's path name the engine and role that ``lease`` (a ``Lease``) was issued for?"""
        return getattr(lease, "engine", None) == self.engine and getattr(lease, "role", None) == self.role


def vault_lease_id(engine: str, verb: str, role: str, lease_id: str) -> str:
    return str(VaultLeaseId(engine, verb, role, lease_id))


def parse(value: object) -> VaultLeaseId | None:
    """The parts of a Vault-shaped lease id, or ``None`` for anything else (answered as a missing lease)."""
    if not isinstance(value, str) or len(value) > 512:
        return None
    parts = value.split("/")
    if len(parts) != 4 or parts[1] not in VERBS or not all(parts) or not _NATIVE_ID.fullmatch(parts[3]):
        return None
    return VaultLeaseId(*parts)


def kind(lease_id: str) -> str:
    """The engine kind our id names (``lease_db_…`` -> ``db``; ``aws``, ``ssh``, ...)."""
    return lease_id[len("lease_") :].rsplit("_", 1)[0]


def default_verb(lease_id: str) -> str:
    """The verb a listing shows for a lease: Vault signs SSH keys under ``sign``, issues the rest under ``creds``."""
    return "sign" if kind(lease_id) == "ssh" else "creds"
