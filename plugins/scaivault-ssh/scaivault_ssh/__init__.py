"""The ScaiVault `ssh` engine: an OpenSSH user-certificate authority whose leases are signed certificates.

`SSHEngine` is registered through the `register_engines` hook; the other names are its building
blocks (CA key handling, certificate signing, key checks, KRLs), usable without a vault.
"""

import functools

from scaivault_core import InvalidRequest, hookimpl

from .ca import (
    CRITICAL_OPTIONS,
    DEFAULT_BACKDATE,
    EXTENSIONS,
    SignedCertificate,
    ca_private_key_text,
    ca_public_key_line,
    check_ca_key,
    generate_ca_key,
    load_ca_key,
    random_serial,
    sign_user_certificate,
)
from .engine import SSHEngine
from .errors import InvalidCertificateRequest, InvalidKey, KeyNotAllowed, SSHError
from .keys import (
    KEY_ALGORITHMS,
    KEY_FAMILIES,
    KeyPair,
    check_key_policy,
    generate_key_pair,
    key_algorithm,
    key_bits,
    normalize_key_types,
    parse_public_key,
    public_key_line,
)
from .krl import build_krl, build_multi_ca_krl, export_krl, write_krl
from .revocations import RevocationList, Revoked

__all__ = [
    "CRITICAL_OPTIONS",
    "DEFAULT_BACKDATE",
    "EXTENSIONS",
    "KEY_ALGORITHMS",
    "KEY_FAMILIES",
    "InvalidCertificateRequest",
    "InvalidKey",
    "KeyNotAllowed",
    "KeyPair",
    "RevocationList",
    "Revoked",
    "SSHEngine",
    "SSHError",
    "SignedCertificate",
    "build_krl",
    "build_multi_ca_krl",
    "ca_private_key_text",
    "ca_public_key_line",
    "check_ca_key",
    "check_key_policy",
    "export_krl",
    "generate_ca_key",
    "generate_key_pair",
    "key_algorithm",
    "key_bits",
    "load_ca_key",
    "normalize_key_types",
    "parse_public_key",
    "public_key_line",
    "random_serial",
    "sign_user_certificate",
    "write_krl",
]


@hookimpl
def register_engines(register):
    register(SSHEngine)


# -- the front ends: REST endpoints and `scaivault ssh` commands, one definition for both ------------


@functools.cache
def rest_operations():
    """`GET .../ssh/ca` (the TrustedUserCAKeys lines) and `GET .../ssh/krl` (the KRL), as core REST operations."""
    from scaivault_core import Operation

    needs = "Needs `read` on `dynamic/engines/{engine}`; 400 for an engine that is not an ssh engine."
    path = "/v1/dynamic/engines/{engine}/ssh"
    return (
        Operation(
            "GET",
            path + "/ca",
            lambda api, call: _engine(api, call).trusted_ca_keys(),
            "The CA public keys hosts should trust (sshd's TrustedUserCAKeys)",
            "sshTrustedCaKeys",
            media_type="text/plain",
            errors=(404, 502),
            tag="ssh",
            description="One line per CA key not yet retired: the current one, and during a CA rotation's "
            "grace period the previous one. " + needs,
        ),
        Operation(
            "GET",
            path + "/krl",
            lambda api, call: _engine(api, call).krl(),
            "The current key revocation list (sshd's RevokedKeys)",
            "sshKrl",
            media_type="application/octet-stream",
            errors=(404, 502),
            tag="ssh",
            description="An OpenSSH KRL of the revoked certificates that have not expired. " + needs,
        ),
    )


def _engine(api, call) -> SSHEngine:
    name = call.path["engine"]
    engine = api.ops.engine(name)  # checks the caller's `read` on the engine
    if not isinstance(engine, SSHEngine):
        raise InvalidRequest(f"Engine {name!r} is not an ssh engine.", engine=name)
    return engine


@hookimpl
def register_routes(routes):
    routes.extend(rest_operations())


@hookimpl
def register_commands(cli):
    import click

    from scaivault_core import command_output, emit_raw, run_operation

    ca, krl = rest_operations()

    def deliver(answer: str | bytes, name: str, output: str | None) -> None:
        """To stdout as the command's --format says (JSON: ``{"text"}``, ``{"krl_base64"}``), or into a file;
        writing a file answers nothing, the exit status says how it went."""
        if output is None or output == "-":
            emit_raw(answer, name)
        else:  # an atomic replace, so sshd never reads half a file
            write_krl(output, answer.encode("utf-8") if isinstance(answer, str) else answer)

    @cli.group("ssh")
    def ssh():
        """The ssh engine's CA keys and revocation list, for the hosts."""

    @ssh.command("ca")
    @click.argument("engine")
    @click.option("--output", help="Write the lines to this file (sshd's TrustedUserCAKeys) instead of stdout.")
    @command_output
    def ssh_ca(engine, output):
        """The CA public keys hosts should trust for ENGINE, one line each."""
        deliver(run_operation(ca, {"engine": engine}), "text", output)

    @ssh.command("krl")
    @click.argument("engine")
    @click.option("--output", required=True, help="Write the KRL to this file (sshd's RevokedKeys); - for stdout.")
    @command_output
    def ssh_krl(engine, output):
        """The current key revocation list of ENGINE."""
        deliver(run_operation(krl, {"engine": engine}), "krl", output)
