"""The ssh engine: a certificate authority whose leases are signed OpenSSH user certificates.

Issue signs the caller's public key (or a key pair the engine generates and returns once). Revoke
lists every certificate of the lease in the KRL the engine exports at once. Renew signs a new
certificate with a later `valid_before`; the lease handle keeps every serial it was given, so
revoking the lease revokes them all.

Rotating the root secret makes a new CA key. Hosts must trust the new CA before certificates signed
by it are used, and keep trusting the old one while its certificates are still in use: the engine
lists the CA key of every root secret version not yet retired (`trusted_ca_keys()`, and the file at
`trusted_ca_keys_path`). A certificate records the CA that signed it, so it stays revocable under
that CA after a rotation; renewing a lease signs with the CA that is current then.
"""

from __future__ import annotations

import hashlib
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scaivault_core import (
    Engine,
    EngineError,
    EngineUnreachable,
    InvalidConfig,
    InvalidRequest,
    Issued,
    IssueRequest,
    Renewed,
    parse_duration,
)

from . import policy
from .ca import ca_private_key_text, ca_public_key_line, generate_ca_key, load_ca_key, sign_user_certificate
from .errors import SSHError
from .fields import Config, Request, Role
from .keys import (
    ECDSA_CURVES,
    KEY_FAMILIES,
    MAX_RSA_BITS,
    MIN_GENERATED_RSA_BITS,
    PrivateKey,
    generate_key_pair,
    key_algorithm,
    parse_public_key,
    public_key_line,
)
from .revocations import RevocationList, Revoked, StateError
from .trust import trusted_keys_text, write_trusted_keys

_MAX_BACKDATE = 3600
# The key sizes `generate_ca_key` takes per type, checked when the config is read.
_CA_BITS = {
    "ed25519": lambda bits: bits == 256,
    "ecdsa": lambda bits: bits in ECDSA_CURVES,
    "rsa": lambda bits: MIN_GENERATED_RSA_BITS <= bits <= MAX_RSA_BITS,
}
_MAX_SERIAL = 2**63 - 1


class SSHEngine(Engine):
    """A lease is an OpenSSH user certificate signed by the engine's CA; revoking it lists it in a KRL."""

    type = "ssh"
    plugin = "ssh"
    lease_prefix = "ssh"
    Config = Config
    Role = Role
    Request = Request

    def __init__(self, context) -> None:
        super().__init__(context)
        config = self.config
        path = config.krl_path
        if not isinstance(path, str) or not path.strip() or not Path(path).is_absolute():
            raise InvalidConfig(
                "config.krl_path must be an absolute file path, e.g. /etc/ssh/scaivault.krl (sshd's RevokedKeys).",
                field="config.krl_path",
            )
        if not isinstance(config.generate_ca, bool):
            raise InvalidConfig("config.generate_ca must be true or false.", field="config.generate_ca")
        ca_type, ca_bits = str(config.ca_key_type).lower(), config.ca_key_bits
        if ca_type not in KEY_FAMILIES:
            raise InvalidConfig(
                f"config.ca_key_type must be one of {', '.join(KEY_FAMILIES)}.", field="config.ca_key_type"
            )
        if ca_bits is not None and not _CA_BITS[ca_type](ca_bits):
            raise InvalidConfig(
                f"config.ca_key_bits does not fit {ca_type}: ed25519 takes none, ecdsa 256, 384 "
                f"or 521, rsa {MIN_GENERATED_RSA_BITS} to {MAX_RSA_BITS}.",
                field="config.ca_key_bits",
            )
        try:
            self.backdate = parse_duration(config.backdate, "config.backdate")
        except InvalidRequest as exc:
            raise InvalidConfig(exc.message, field="config.backdate") from None
        if self.backdate is None or self.backdate > _MAX_BACKDATE:
            raise InvalidConfig(f"config.backdate must be from 0 to {_MAX_BACKDATE} seconds.", field="config.backdate")
        self._check_key_id_format()
        trusted = config.trusted_ca_keys_path
        if trusted is not None and (not isinstance(trusted, str) or not Path(trusted).is_absolute()):
            raise InvalidConfig(
                "config.trusted_ca_keys_path must be an absolute file path, e.g. "
                "/etc/ssh/scaivault_ca.pub (sshd's TrustedUserCAKeys).",
                field="config.trusted_ca_keys_path",
            )
        self.revocations = RevocationList(path, margin=self.backdate)
        self._lines: dict[str, str | None] = {}  # private key text -> its public line (None: unusable)
        self._ca_lock = threading.Lock()
        self._ca_cache: tuple[str, PrivateKey] | None = None

    # -- the CA --------------------------------------------------------------------------------

    def ca_public_key(self) -> str:
        """The CA public key as one line, as sshd's `TrustedUserCAKeys` file takes it."""
        return ca_public_key_line(self._ca_key(), f"scaivault-ca:{self.context.name}")

    def _ca_key(self) -> PrivateKey:
        """The CA key from the root secret (read each time, so a replaced key is picked up), parsed once."""
        data = self._root_secret()
        text = data.get("private_key")
        if not text:
            if not self.config.generate_ca:
                raise InvalidConfig(
                    'The root credentials hold no private_key: store the CA key as {"private_key": "<OpenSSH '
                    'or PEM text>"}, or set config.generate_ca: true to have the engine generate one.',
                    field="config.root_credentials_path",
                )
            data = self._generate_ca(data)
            text = data.get("private_key")
        if not isinstance(text, str):
            raise InvalidConfig(
                "The root credentials' private_key must be text (OpenSSH or PEM).", field="config.root_credentials_path"
            )
        with self._ca_lock:
            if self._ca_cache is not None and self._ca_cache[0] == text:
                return self._ca_cache[1]
        try:
            key = load_ca_key(text, data.get("passphrase"))
        except SSHError as exc:
            raise InvalidConfig(
                f"The CA key in the root credentials is unusable: {exc}.", field="config.root_credentials_path"
            ) from None
        with self._ca_lock:
            self._ca_cache = (text, key)
        return key

    def _root_secret(self) -> dict[str, Any]:
        try:
            return self.context.root_credentials()
        except InvalidConfig as exc:
            # Only "nothing stored there yet" may be answered by generating; a missing grant may not.
            absent = exc.details.get("field") == "config.root_credentials_path" and "missing_grant" not in exc.details
            if self.config.generate_ca and absent:
                return {}
            raise

    def _generate_ca(self, current: dict[str, Any]) -> dict[str, Any]:
        save = self.context.save_root_credentials
        if save is None:
            raise InvalidConfig(
                "This ScaiVault core cannot store generated root credentials; store the CA key yourself.",
                field="config.generate_ca",
            )
        key = generate_ca_key(str(self.config.ca_key_type).lower(), self.config.ca_key_bits)
        data = {**current, "private_key": ca_private_key_text(key), "public_key": ca_public_key_line(key)}
        data.pop("passphrase", None)
        save(data, f"ssh engine {self.context.name}: generated its {key_algorithm(key)} CA key")
        self.log.info("engine %s generated a %s CA key", self.context.name, key_algorithm(key))
        # Two processes generating at once both save; whichever version is current now is the CA.
        return self.context.root_credentials()

    def _ca_line(self) -> str:
        return ca_public_key_line(self._ca_key())

    # -- CA keys hosts trust ---------------------------------------------------------------------

    def trusted_ca_keys(self) -> str:
        """Every CA public key hosts should trust, one line each: the current CA and those not yet retired."""
        return self._trusted_text()

    def export_trusted_ca_keys(self) -> str:
        """Write `trusted_ca_keys()` to `config.trusted_ca_keys_path` (when set) and return it."""
        text = self._trusted_text()
        self._write_trusted(text)
        return text

    def _trusted_text(self, adding: dict[str, Any] | None = None, dropping: dict[str, Any] | None = None) -> str:
        versions = self.context.root_credential_versions
        lines = [self._version_line(data) for data in (versions() if versions else [])]
        lines += [self._ca_line(), self._version_line(adding) if adding else None]
        gone = self._version_line(dropping) if dropping else None
        comment = f"scaivault-ca:{self.context.name}"
        return trusted_keys_text(f"{line} {comment}" for line in lines if line and line != gone)

    def _version_line(self, data: dict[str, Any]) -> str | None:
        """The CA public key line of one root secret version; None if it holds no usable key."""
        text = data.get("private_key")
        if not isinstance(text, str) or not text:
            return None
        if text not in self._lines:
            try:
                self._lines[text] = ca_public_key_line(load_ca_key(text, data.get("passphrase")))
            except SSHError as exc:
                self.log.warning("a version of the root secret holds an unusable CA key (left out): %s", exc)
                self._lines[text] = None
        return self._lines[text]

    def _write_trusted(self, text: str) -> None:
        path = self.config.trusted_ca_keys_path
        if path is None:
            return
        try:
            write_trusted_keys(path, text)
        except OSError as exc:
            raise EngineUnreachable(
                f"The trusted CA keys file {path} could not be written: {exc.strerror or exc}."
            ) from None

    # -- the KRL -------------------------------------------------------------------------------

    def krl(self) -> bytes:
        """The current KRL (revoked, unexpired certificates of this engine's CAs), without writing it."""
        return self._revocations(lambda: self.revocations.krl(self.context.clock.time()))

    def export_krl(self) -> bytes:
        """Write the current KRL to `config.krl_path` (dropping expired entries) and return it."""
        return self._revocations(lambda: self.revocations.export(self.context.clock.time()))

    def revoked_certificates(self) -> list[dict[str, Any]]:
        """The certificates the KRL lists: serial, `valid_before` and the CA that signed them."""
        listed = self._revocations(lambda: self.revocations.listed(self.context.clock.time()))
        return [{"serial_number": str(r.serial), "valid_before": _iso(r.valid_before), "ca": r.ca} for r in listed]

    @staticmethod
    def _revocations(work):
        try:
            return work()
        except StateError as exc:
            if exc.unreachable:
                raise EngineUnreachable(f"The revocation list cannot be reached: {exc}.") from None
            raise EngineError(f"The revocation list could not be updated: {exc}.") from None

    # -- engine interface --------------------------------------------------------------------------

    def verify(self) -> None:
        """Load (or generate) the CA key and export the KRL once, so sshd's RevokedKeys file exists."""
        self._ca_key()
        try:
            self.revocations.check_writable()
        except StateError as exc:
            raise InvalidConfig(f"config.krl_path: {exc}.", field="config.krl_path") from None
        self.export_krl()
        trusted = self.config.trusted_ca_keys_path
        if trusted is not None:
            directory = Path(trusted).parent
            if not directory.is_dir() or not os.access(directory, os.W_OK | os.X_OK):
                raise InvalidConfig(
                    f"config.trusted_ca_keys_path: the directory of {trusted} does not exist or is "
                    "not writable by this process.",
                    field="config.trusted_ca_keys_path",
                )
            self.export_trusted_ca_keys()

    def validate_role(self, role: Role) -> None:
        policy.check_role(role)

    def plan(self, request: IssueRequest) -> dict[str, Any]:
        """Check the request against the role and fix the serial, so an undone intent revokes the right one."""
        return self._plan(request, self._ca_line())

    def _plan(self, request: IssueRequest, ca_line: str) -> dict[str, Any]:
        role, params = request.role, request.params
        mode = policy.key_mode(params)
        wanted = policy.asked(params)
        fields = policy.resolve(role, wanted)
        public_key = None
        if mode == "caller":
            public_key = self._caller_key(role, params.public_key)
        elif not role.allow_key_generation:
            raise InvalidRequest("This role does not generate keys: send your public_key.", field="generate_key")
        serial = _serial(request.lease_id, 0)
        return {
            "lease_id": request.lease_id,
            "ca": ca_line,
            "key_id": self._key_id(request.lease_id, request.role_name, fields.principals, serial),
            "certificates": [{"serial": serial, "valid_before": int(request.expires_at)}],
            "renewals": 0,
            "public_key": public_key,
            "asked": wanted.to_json(),
            "fields": fields.to_json(),
        }

    def create(self, request: IssueRequest) -> Issued:
        # The root secret is read once (each read is audited): the CA that signs is the one the handle names.
        ca = self._ca_key()
        handle = self._plan(request, ca_public_key_line(ca))  # the same answer as plan gave, but for the CA
        role = request.role
        data: dict[str, Any] = {}
        if handle["public_key"] is None:
            key_type, bits = policy.generated_key_spec(role)
            pair = generate_key_pair(
                key_type, bits if key_type != "ed25519" else None, comment=f"scaivault:{request.lease_id}"
            )
            handle["public_key"] = public_key_line(parse_public_key(pair.public_key))
            data = {"private_key": pair.private_key, "public_key": pair.public_key}
        serial = handle["certificates"][0]["serial"]
        signed = self._sign(
            ca, handle, policy.CertificateFields.from_json(handle["fields"]), serial, request.expires_at
        )
        subject = f"{','.join(signed.principals)} serial {serial}"
        # Only the public key goes into the handle (it is what renewal re-signs), with the CA that signed.
        return Issued(
            data={**_certificate_data(signed), **data},
            handle={"public_key": handle["public_key"], "ca": handle["ca"]},
            subject=subject[:200],
        )

    def renew(self, handle: dict[str, Any], role: Role | None, expires_at: float) -> Renewed:
        """Sign a new certificate for the same key, valid until `expires_at`, under the role as it is now."""
        fields = policy.CertificateFields.from_json(handle["fields"])
        if role is not None:
            # The role may have been narrowed since issue: the new certificate follows it, or is refused.
            policy.check_key(role, parse_public_key(handle["public_key"]))
            fields = policy.resolve(role, policy.Asked.from_json(handle["asked"]))
        renewals = int(handle.get("renewals", 0)) + 1
        serial = _serial(handle["lease_id"], renewals)
        # Signed by the CA that is current now, which after a rotation is not the one of the earlier ones.
        ca = self._ca_key()
        ca_line = ca_public_key_line(ca)
        signed = self._sign(ca, handle, fields, serial, expires_at)
        now = self.context.clock.time()
        earlier = [
            {**c, "ca": _ca_of(handle, c)} for c in handle["certificates"] if c["valid_before"] + self.backdate > now
        ]
        if fields.to_json() != handle["fields"] and earlier:
            # The earlier certificates grant what the role no longer allows: revoke them now.
            self._revoke_entries([Revoked(c["ca"], c["serial"], c["valid_before"]) for c in earlier])
        # Each certificate names its CA only where it differs from the handle's (the current one).
        for c in earlier:
            if c["ca"] == ca_line:
                del c["ca"]
        certificates = [*earlier, {"serial": serial, "valid_before": signed.valid_before}]
        return Renewed(
            data=_certificate_data(signed),
            handle={"certificates": certificates, "renewals": renewals, "fields": fields.to_json(), "ca": ca_line},
        )

    def revoke(self, handle: dict[str, Any]) -> None:
        error = self.revoke_many([handle])[0]
        if error is not None:
            raise error

    def revoke_many(self, handles: list[dict[str, Any]]) -> list[BaseException | None]:
        """List every certificate of these leases in the KRL and export it once."""
        entries = [
            Revoked(_ca_of(h, c), int(c["serial"]), int(c["valid_before"]))
            for h in handles
            for c in h.get("certificates", [])
        ]
        try:
            self._revoke_entries(entries)
        except Exception as exc:  # one shared file: all of them failed together
            return [exc] * len(handles)
        return [None] * len(handles)

    def _revoke_entries(self, entries: list[Revoked]) -> None:
        self._revocations(lambda: self.revocations.revoke(entries, self.context.clock.time()))

    # -- root credential rotation: a new CA key ------------------------------------------------------

    def new_root_credentials(self, current: dict[str, Any]) -> dict[str, Any]:
        """A fresh CA key of `ca_key_type`/`ca_key_bits`, stored unencrypted like a generated one."""
        key = generate_ca_key(str(self.config.ca_key_type).lower(), self.config.ca_key_bits)
        new = {**current, "private_key": ca_private_key_text(key), "public_key": ca_public_key_line(key)}
        new.pop("passphrase", None)
        return new

    def apply_root_credentials(self, current: dict[str, Any], new: dict[str, Any]) -> None:
        """No target holds the CA; hosts reading `trusted_ca_keys_path` trust the new CA from here on."""
        if self._version_line(new) is None:
            raise EngineError("The new CA key cannot be read back.")
        self._write_trusted(self._trusted_text(adding=new))

    def retire_root_credentials(self, old: dict[str, Any]) -> None:
        """Hosts reading `trusted_ca_keys_path` stop trusting the old CA (its certificates stay in the KRL)."""
        self._write_trusted(self._trusted_text(dropping=old))

    # -- helpers -------------------------------------------------------------------------------

    def _caller_key(self, role: Role, text: Any) -> str:
        if not isinstance(text, str):
            raise InvalidRequest("public_key must be text in OpenSSH one-line form.", field="public_key")
        try:
            key = parse_public_key(text)
        except SSHError as exc:
            raise InvalidRequest(f"public_key: {exc}.", field="public_key") from None
        policy.check_key(role, key)
        # The caller's comment (often user@host) is not needed to sign or re-sign; keep the key only.
        return public_key_line(key)

    def _sign(
        self, ca: PrivateKey, handle: dict[str, Any], fields: policy.CertificateFields, serial: int, expires_at: float
    ):
        try:
            return sign_user_certificate(
                ca,
                handle["public_key"],
                serial=serial,
                key_id=handle["key_id"],
                principals=fields.principals,
                valid_before=int(expires_at),
                backdate=self.backdate,
                extensions=fields.extensions,
                critical_options=fields.critical_options,
                now=self.context.clock.time(),
            )
        except SSHError as exc:
            raise InvalidRequest(f"The certificate could not be signed: {exc}.") from None

    def _key_id(self, lease_id: str, role: str, principals: tuple[str, ...], serial: int) -> str:
        variables = {
            "lease_id": lease_id,
            "engine": self.context.name,
            "role": role,
            "principals": ",".join(principals),
            "serial": serial,
        }
        return self.context.render(self.config.key_id_format, variables)

    def _check_key_id_format(self) -> None:
        template = self.config.key_id_format
        marker = "lease_ssh_keyidcheck0000000"
        try:
            rendered = self.context.render(
                template,
                {"lease_id": marker, "engine": self.context.name, "role": "role", "principals": "user", "serial": 1},
            )
        except InvalidConfig:
            raise InvalidConfig(
                "config.key_id_format is not a valid template; it may use lease_id, engine, role, "
                "principals and serial.",
                field="config.key_id_format",
            ) from None
        if marker not in rendered:
            raise InvalidConfig(
                "config.key_id_format must include {{lease_id}}: the key id names the lease, "
                "so sshd's logs lead back to it.",
                field="config.key_id_format",
            )


def _serial(lease_id: str, index: int) -> int:
    """The serial of a lease's `index`-th certificate: derived from the lease id, so `plan` and `create`
    agree without shared state; 63 random-looking bits, never 0 (a KRL cannot name serial 0)."""
    digest = hashlib.sha256(f"scaivault-ssh-serial\0{lease_id}\0{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _MAX_SERIAL + 1


def _ca_of(handle: dict[str, Any], certificate: dict[str, Any]) -> str:
    """The CA public key line that signed one certificate of a lease."""
    return certificate.get("ca") or handle["ca"]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificate_data(signed) -> dict[str, Any]:
    return {
        "signed_key": signed.certificate,
        "serial_number": str(signed.serial),
        "key_id": signed.key_id,
        "principals": list(signed.principals),
        "extensions": list(signed.extensions),
        "critical_options": dict(signed.critical_options),
        "valid_after": _iso(signed.valid_after),
        "valid_before": _iso(signed.valid_before),
    }
