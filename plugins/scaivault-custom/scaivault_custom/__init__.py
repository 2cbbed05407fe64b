"""ScaiVault engine plugin ``custom``: operators' own commands or webhooks create, renew and revoke credentials."""

from scaivault_core import hookimpl

from .engine import CustomEngine
from .webhooks import SIGNATURE_HEADER, sign, verify_signature

__all__ = ["CustomEngine", "SIGNATURE_HEADER", "sign", "verify_signature"]


@hookimpl
def register_engines(register):
    register(CustomEngine)
