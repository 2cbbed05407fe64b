"""The shared engine contract (scaivault_core.testing) with service-account key leases on the GCP double.

The engine reaches the double through the suite's TCP proxy (the token URI too), so "unreachable"
is a refused or cut connection; whether a key works is asked of the double directly, by
google-auth refreshing a token with it. Access-token leases are outside the contract on purpose:
Google cannot revoke them, so "a revoked credential stops working" does not hold for them.

One case is replaced, not skipped: after a crash between keys.create and the lease being recorded,
the engine cannot tell its key from others made meanwhile (Google names a key only in the
create response), so the intent is kept, failing with the candidate key ids, instead of being
rolled back by deleting a key it cannot attribute. See docs/engines/gcp.md, "Crash safety".
"""

from __future__ import annotations

from urllib.parse import urlsplit

import google.auth.exceptions
import pytest

from scaivault_core import IssuedCredentials, LeaseState
from scaivault_core.testing import EngineContract, SimulatedCrash
from scaivault_gcp import GcpEngine

# Key-file fields that are identifiers or URLs, not secrets (key ids show in every JWT header).
NOT_SECRET = {"key_id", "private_key_id", "token_uri", "auth_provider_x509_cert_url", "client_x509_cert_url"}


class TestContract(EngineContract):
    engine_class = GcpEngine

    @pytest.fixture
    def contract_settings(self, operator_settings):
        return operator_settings  # the engine reads the double's CA bundle

    @pytest.fixture
    def target(self, gcp_double):
        yield gcp_double

    def target_address(self, target):
        url = urlsplit(target.base_url)
        return url.hostname, url.port

    def engine_config(self, target, address):
        base = f"https://{address[0]}:{address[1]}" if address else target.base_url
        return {
            "token_uri": f"{base}/token",
            "iam_endpoint": base,
            "iamcredentials_endpoint": base,
            "ca_bundle": str(target.ca_path),
            "max_retries": 1,
            "timeout": 5,
        }

    def root_credentials(self, target):
        return target.root_key_info

    def role(self, target):
        return {"secret_type": "service_account_key", "service_account_email": target.target_email}

    def secret_values(self, data):
        return super().secret_values({k: v for k, v in data.items() if k not in NOT_SECRET})

    def credential_works(self, target, issued):
        try:
            return bool(target.token(info=issued.data["key_json"]))
        except google.auth.exceptions.RefreshError:
            return False

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        return {
            "key Google does not know": (good, {**target.root_key_info, "private_key_id": "0" * 40}),
            "not a key file": (good, {"client_email": target.root_email}),
            "plain-http endpoint": ({**good, "iam_endpoint": "http://127.0.0.1:1"}, None),
            "bad universe": ({**good, "universe_domain": "not a domain"}, None),
        }

    def test_crash_after_create_is_rolled_back(self, open_vault, target, contract_proxy, contract_clock):
        """The documented gap: the intent stays queued, naming the key, until the key is gone; then it rolls back."""
        made = []

        class CrashingAfterCreate(GcpEngine):
            def create(self, request):
                issued = super().create(request)
                made.append((request, issued))
                raise SimulatedCrash()

        vault = open_vault(CrashingAfterCreate)
        self.configure(vault, target, contract_proxy)
        with pytest.raises(SimulatedCrash):
            self.issue(vault)
        request, issued = made[0]
        vault.close()
        restarted = open_vault()  # a new engine object: nothing remembered from the "dead" one
        contract_clock.advance(self.lease_options.intent_timeout + 1)
        restarted.expire_due()
        lease = restarted.lookup(request.lease_id)
        assert lease.state == LeaseState.INTENT and lease.attempts == 1
        assert issued.data["key_id"] in lease.last_error
        assert self.credential_works(target, IssuedCredentials.of(lease, issued.data))  # not lost: still queued

        with target.client() as http:
            url = f"/v1/projects/-/serviceAccounts/{target.target_email}/keys/{issued.data['key_id']}"
            assert http.delete(url, headers={"Authorization": f"Bearer {target.token()}"}).status_code == 200
        contract_clock.advance(self.lease_options.backoff_max * 2)
        restarted.expire_due()
        assert restarted.lookup(request.lease_id).state == LeaseState.ROLLED_BACK
