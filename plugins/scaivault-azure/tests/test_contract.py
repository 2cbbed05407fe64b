"""The shared engine contract (scaivault_core.testing) with dynamic-application leases on the Azure double.

The engine reaches the double through the suite's TCP proxy (token endpoint, Graph and ARM), so
"unreachable" is a refused or cut connection; whether a secret works is asked of the double's
token endpoint directly.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from scaivault_azure import AzureEngine
from scaivault_core.testing import EngineContract


class TestContract(EngineContract):
    engine_class = AzureEngine

    @pytest.fixture
    def contract_settings(self, operator_settings):
        return operator_settings  # the engine reads the double's CA bundle

    @pytest.fixture
    def target(self, azure_double):
        yield azure_double

    def target_address(self, target):
        url = urlsplit(target.base_url)
        return url.hostname, url.port

    def engine_config(self, target, address):
        base = f"https://{address[0]}:{address[1]}" if address else target.base_url
        return {
            "authority_host": base,
            "graph_endpoint": base,
            "graph_resource": "https://graph.microsoft.com",
            "arm_endpoint": base,
            "arm_resource": "https://management.azure.com",
            "ca_bundle": str(target.ca_path),
            "max_retries": 1,
            "timeout": 5,
        }

    def root_credentials(self, target):
        return {
            "client_id": target.root_client_id,
            "client_secret": target.root_client_secret,
            "tenant_id": target.tenant_id,
        }

    def role(self, target):
        scope = f"/subscriptions/{target.subscription_id}/resourceGroups/{target.resource_group}"
        return {"azure_roles": [{"role_name": "Reader", "scope": scope}]}

    def credential_works(self, target, issued):
        with target.client() as http:
            response = http.post(
                target.token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": "https://management.azure.com/.default",
                    "client_id": issued.data["client_id"],
                    "client_secret": issued.data["client_secret"],
                },
            )
        return response.status_code == 200

    def bad_configs(self, target, address):
        good = self.engine_config(target, address)
        root = self.root_credentials(target)
        return {
            "wrong secret": (good, {**root, "client_secret": "wrong-secret-value-0000"}),
            "unknown client": (good, {**root, "client_id": "00000000-0000-0000-0000-000000000000"}),
            "unknown tenant": (good, {**root, "tenant_id": "00000000-0000-0000-0000-000000000000"}),
            "no secret": (good, {"client_id": root["client_id"], "tenant_id": root["tenant_id"]}),
            "plain-http endpoint": ({**good, "graph_endpoint": "http://127.0.0.1:1"}, None),
            "unknown environment": ({**good, "environment": "AzureMoon"}, None),
            "secret lifetime too short": ({**good, "secret_lifetime": "10m"}, None),
        }
