"""Field names and forms: what Vault's engine of each kind takes and returns, against ours.

Requests are mapped by field (the SSH fields are only the ssh engine's), responses by the
engine kind that the lease id names. Fields not named here pass through unchanged.
"""

from __future__ import annotations

from typing import Any

from ...errors import InvalidRequest

# Ours -> Vault's, per engine kind (the prefix of our lease ids).
RENAMED = {
    "aws": {"access_key_id": "access_key", "secret_access_key": "secret_key", "session_token": "security_token"},
}
# Fields Vault's engine always returns, null when it has no value (an IAM user's key has no session token).
ALWAYS = {"aws": ("security_token",)}


def vault_data(kind: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
    """Our engine's ``data`` in the names and forms Vault's engine of that kind returns."""
    if data is None:
        return None
    names = RENAMED.get(kind, {})
    out = {names.get(key, key): value for key, value in data.items()}
    for key in ALWAYS.get(kind, ()):
        out.setdefault(key, None)
    if kind == "ssh" and isinstance(out.get("serial_number"), str) and out["serial_number"].isdigit():
        out["serial_number"] = format(int(out["serial_number"]), "016x")  # Vault prints the serial in hex
    return out


def request_fields(params: dict[str, Any]) -> dict[str, Any]:
    """A Vault request's fields as our engines take them (Vault's ssh ``sign`` forms, mostly)."""
    params = dict(params)
    principals = params.get("valid_principals")
    if isinstance(principals, str):  # Vault: "a,b"; ours: a list
        params["valid_principals"] = [p.strip() for p in principals.split(",") if p.strip()]
    extensions = params.get("extensions")
    if isinstance(extensions, dict):  # Vault: {"permit-pty": ""}; ours: the names
        params["extensions"] = sorted(extensions)
    cert_type = params.pop("cert_type", "user")
    if cert_type != "user":
        raise InvalidRequest('Only user certificates are signed here (cert_type "user").', field="cert_type")
    return params
