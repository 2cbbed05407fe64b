"""The engine contract (scaivault_core.testing) for both forms of the custom engine."""

from __future__ import annotations

from datetime import datetime

import pytest

from scaivault_core import Settings
from scaivault_core.testing import EngineContract
from scaivault_custom import CustomEngine


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class TestCommandContract(EngineContract):
    """Commands: userdir.py keeps users in a directory the test can take away (exit status 75)."""

    engine_class = CustomEngine

    @pytest.fixture
    def target(self, userdir):
        return userdir

    @pytest.fixture
    def contract_settings(self, scripts):
        return Settings(command_dirs=(str(scripts),))

    def engine_config(self, target, address):
        return {"environment": target.environment(), "verify": target.command, "timeout": 10}

    def root_credentials(self, target):
        return {"admin_token": target.admin_token}

    def make_unreachable(self, target, proxy):
        target.cut()

    def make_reachable(self, target, proxy):
        target.restore()

    def role(self, target):
        return {
            "create": target.command,
            "revoke": target.command,
            "renew": target.command,
            "pass_root_credentials": True,
        }

    def credential_works(self, target, issued):
        return target.login(issued.data["username"], issued.data["password"])

    def credential_expiry(self, target, issued):
        return target.expiration(issued.data["username"])

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        return {
            "admin token the target refuses": (good, {"admin_token": "not-the-admin-token"}),
            "verify program missing": ({**good, "verify": [target.command[0] + "-missing"]}, None),
            "verify program outside the operator's directories": ({**good, "verify": ["/bin/true"]}, None),
            "timeout out of range": ({**good, "timeout": 0}, None),
        }


class TestWebhookContract(EngineContract):
    """Webhooks: a real HTTP server that checks signatures, behind the suite's stoppable proxy."""

    engine_class = CustomEngine
    key = "webhook-hmac-key-5d1e0b6a8c2f4e97"

    @pytest.fixture
    def target(self, webhook_server):
        return webhook_server

    def target_address(self, target):
        return target.address

    def engine_config(self, target, address):
        target.proxied = address  # the role's URLs go through the proxy too
        return {"verify_url": target.url("verify", address), "timeout": 2}

    def root_credentials(self, target):
        return {"hmac_key": self.key}

    def role(self, target):
        return {
            name: target.url(name.removesuffix("_url"), target.proxied)
            for name in ("create_url", "revoke_url", "renew_url")
        }

    def credential_works(self, target, issued):
        user = target.users.get(issued.data["username"])
        return user is not None and user["password"] == issued.data["password"]

    def credential_expiry(self, target, issued):
        user = target.users.get(issued.data["username"])
        return _epoch(user["expiration"]) if user else None

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        return {
            "a key the service refuses": (good, {"hmac_key": "a-different-key-0123456789"}),
            "a key too short to sign with": (good, {"hmac_key": "short"}),
            "plain http to a remote host": ({**good, "verify_url": "http://provisioner.example/verify"}, None),
        }
