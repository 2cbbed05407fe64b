"""A FastAPI service that embeds ScaiVault, without blocking its event loop.

Each request to ``/report`` gets its own short-lived PostgreSQL user from the engine ``support-db``,
role ``readonly`` (as set up by the guide, docs/guide/dynamic-secrets.md), uses it, and has it
revoked when the request is done. ``AsyncVault`` runs every vault call in a worker thread, so other
requests go on meanwhile. ``/leases`` issues and revokes credentials by hand, for a client that
holds them longer (it answers the user name, never the password).

    SCAIVAULT_STORE=/path/to/vault.db uvicorn fastapi_app:app --app-dir examples

The store is the one ``scaivault init`` made (``SCAIVAULT_STORE``, default ``~/.scaivault/vault.db``);
the service acts as ``sa:reporting-service`` (``REPORTING_IDENTITY``), so it gets exactly what that
identity's policies grant.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException

from scaivault_core import AsyncVault, NotFound, ScaiVaultError, Vault

ENGINE, ROLE = "support-db", "readonly"
IDENTITY = os.environ.get("REPORTING_IDENTITY", "sa:reporting-service")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with AsyncVault(Vault()) as vault:  # the store's expiry worker runs while the service does
        app.state.vault = vault.as_identity(IDENTITY)
        yield


app = FastAPI(title="reports", lifespan=lifespan)


def vault() -> AsyncVault:
    return app.state.vault


@app.get("/report")
async def report() -> dict[str, Any]:
    """Count the reports as a database user that exists only for this request."""
    async with (
        vault().dynamic_credentials(ENGINE, ROLE, ttl="5m") as creds,
        await psycopg.AsyncConnection.connect(creds["connection_url"]) as conn,
    ):
        cursor = await conn.execute("SELECT current_user, count(*) FROM reports")
        user, count = await cursor.fetchone()
    return {"user": user, "reports": count, "lease_id": creds.lease_id}


@app.post("/leases", status_code=201)
async def issue(ttl: str = "15m") -> dict[str, Any]:
    try:
        issued = await vault().issue(ENGINE, ROLE, ttl=ttl)
    except ScaiVaultError as exc:
        raise HTTPException(exc.status, exc.to_dict()["error"]) from None
    return {
        "lease_id": issued.lease_id,
        "username": issued.data["username"],
        "expires_at": issued.to_dict()["expires_at"],
    }


@app.get("/leases/{lease_id}")
async def lookup(lease_id: str) -> dict[str, Any]:
    try:
        lease = await vault().lookup(lease_id)
    except NotFound as exc:
        raise HTTPException(404, exc.to_dict()["error"]) from None
    return {"lease_id": lease.lease_id, "state": lease.state}


@app.delete("/leases/{lease_id}", status_code=204)
async def revoke(lease_id: str) -> None:
    try:
        await vault().revoke(lease_id)
    except NotFound as exc:
        raise HTTPException(404, exc.to_dict()["error"]) from None
