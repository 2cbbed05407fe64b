"""Refusals raised by this package; the engine maps them onto the core's error codes."""

from __future__ import annotations


class SSHError(ValueError):
    """Base of every refusal here; messages never contain key material."""


class InvalidKey(SSHError):
    """The text given is not a usable key (a caller's public key or the CA's private key)."""


class KeyNotAllowed(SSHError):
    """The key parses but the role does not accept it (its type, or an RSA key too short)."""


class InvalidCertificateRequest(SSHError):
    """A certificate field is malformed: serial, key id, principals, times, extensions, options."""
