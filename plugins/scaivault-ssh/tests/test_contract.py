"""The shared engine contract (scaivault_core.testing) against a real sshd that trusts the engine's CA.

A credential "works" when paramiko logs in with it; revocation is sshd refusing it through the
KRL the engine exports to sshd's RevokedKeys.
"""

from __future__ import annotations

import attrs
import paramiko
import pytest

from scaivault_core import Settings
from scaivault_core.testing import EngineContract
from scaivault_ssh import SSHEngine, ca_private_key_text, ca_public_key_line, generate_ca_key


@attrs.define
class Target:
    sshd: object
    ca_text: str = attrs.field(repr=False)


class TestSSHContract(EngineContract):
    engine_class = SSHEngine

    @pytest.fixture
    def target(self, sshd):
        """The session's sshd, trusting a CA made for this test and reading the engine's KRL."""
        ca = generate_ca_key("ed25519")
        sshd.trust(ca_public_key_line(ca))
        return Target(sshd, ca_private_key_text(ca))

    @pytest.fixture
    def contract_settings(self, target):
        return Settings(file_dirs=(str(target.sshd.directory),))  # the engine writes sshd's KRL

    def engine_config(self, target, address):
        return {"krl_path": str(target.sshd.krl_path)}

    def root_credentials(self, target):
        return {"private_key": target.ca_text}

    def make_unreachable(self, target, proxy):
        pytest.skip(
            "a CA has no target to lose: issuing needs only its key. A revocation list that cannot be "
            "reached is tested in test_engine_revocation.py"
        )

    def role(self, target):
        return {"allowed_users": ["deploy"], "default_user": "deploy"}

    def issue(self, vault, **kwargs):
        # The contract can check a login only with a private key in hand: let the engine make the pair.
        kwargs.setdefault("generate_key", True)
        return super().issue(vault, **kwargs)

    def credential_works(self, target, issued):
        sshd = target.sshd
        key = sshd.client_key(issued.data["private_key"], issued.data["signed_key"])
        try:
            with sshd.connect("deploy", key) as client:
                return sshd.run(client, "id -un") == (0, "deploy\n")
        except paramiko.AuthenticationException:
            return False

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        other_dir = str(target.sshd.krl_path.parent / "no-such-dir" / "revoked.krl")
        return {
            "root secret without a CA key": (good, {"certificate": "none"}),
            "CA key that is not a key": (
                good,
                {"private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"},
            ),
            "krl_path in a missing directory": ({**good, "krl_path": other_dir}, None),
            "relative krl_path": ({**good, "krl_path": "revoked.krl"}, None),
            "key id that does not name the lease": ({**good, "key_id_format": "{{role}}"}, None),
        }

    def secret_values(self, data):
        # Only private keys are secret here: certificates, public keys and key ids are shown on purpose.
        return [v for k, v in data.items() if k == "private_key" and isinstance(v, str)]
