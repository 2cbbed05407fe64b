"""The paths of HashiCorp Vault's HTTP API served here, as data: one row per path, with the native
operation each answers as (its *twin*: the same core call, so the same policy check and audit entry).

Everything Vault serves that is not in this table answers ``404 {"errors": []}``, as Vault does for a
path it has no handler for (Vault Agent and consul-template probe ``sys/internal/ui/mounts/...`` and
take a 404 to mean "no KV v2 here"). docs/vault-compatibility.md lists the same rows, with what
differs from Vault.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from . import handlers as h


@attrs.frozen
class VaultPath:
    path: str  # starlette syntax
    methods: dict[str, Callable[[h.Call], Any]]  # LIST is Vault's list verb (also GET with ?list=true)
    twin: str  # the native operation id (or core call) it answers as
    auth: bool = True


def _writes(handler: Callable[[h.Call], Any]) -> dict[str, Callable[[h.Call], Any]]:
    return {"PUT": handler, "POST": handler}  # Vault treats PUT and POST alike


def _issues(verb: str) -> dict[str, Callable[[h.Call], Any]]:
    handler = h.issue(verb)
    return {"GET": handler, **_writes(handler)}  # bao read = GET (fields as query), bao write = PUT


PATHS: tuple[VaultPath, ...] = (
    VaultPath("/v1/sys/health", {"GET": h.health, "HEAD": h.health}, "health", auth=False),
    VaultPath("/v1/auth/token/lookup-self", {"GET": h.lookup_self}, "Session.own_token"),
    VaultPath("/v1/auth/token/renew-self", _writes(h.renew_self), "Session.renew_token_self"),
    VaultPath("/v1/sys/leases/lookup", _writes(h.lookup), "getLease"),
    VaultPath("/v1/sys/leases/lookup/{prefix:path}", {"LIST": h.list_prefix}, "listLeases"),
    VaultPath("/v1/sys/leases/renew", _writes(h.renew), "renewLease"),
    VaultPath("/v1/sys/leases/renew/{lease_id:path}", _writes(h.renew), "renewLease"),
    VaultPath("/v1/sys/leases/revoke", _writes(h.revoke), "revokeLease"),
    VaultPath("/v1/sys/leases/revoke/{lease_id:path}", _writes(h.revoke), "revokeLease"),
    VaultPath("/v1/sys/leases/revoke-prefix/{prefix:path}", _writes(h.revoke_prefix), "revokePrefix"),
    VaultPath("/v1/{engine}/creds/{role}", _issues("creds"), "issueCredentials"),
    VaultPath("/v1/{engine}/sign/{role}", _issues("sign"), "issueCredentials"),  # Vault's ssh engine
    VaultPath("/v1/{engine}/sts/{role}", _issues("sts"), "issueCredentials"),  # Vault's aws engine
)
