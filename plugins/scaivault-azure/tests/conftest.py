"""Fixtures for scaivault-azure's tests: a local HTTPS double of the Azure APIs.

No Azure emulator exists, so ``azure_double.py`` (identity platform + Microsoft Graph) and
``azure_arm.py`` (ARM role assignments) answer the documented requests on 127.0.0.1 over
HTTPS with a throwaway CA (MSAL and azure-identity refuse plain-http authorities).

``azure_double`` (function scope; the server itself is session scoped) is the double reset to
its seed state. What a test or a plugin fixture uses:

Endpoints (all on one host; configure the plugin's authority/Graph/ARM endpoints with them)
  base_url        "https://127.0.0.1:PORT"; also the ARM endpoint (role assignment paths)
  authority       f"{base_url}/{tenant_id}" — MSAL: ConfidentialClientApplication(...,
                  authority=authority, instance_discovery=False, verify=str(ca_path))
  token_url       f"{authority}/oauth2/v2.0/token" (client_credentials, client_secret_post)
  graph_url       f"{base_url}/v1.0"
Seed (the same values after every reset)
  tenant_id, subscription_id, resource_group ("rg-scaivault")
  root_client_id, root_client_secret   the plugin's root credentials: may call Graph
                  (Application.ReadWrite.All) and is Owner of /subscriptions/{subscription_id}
  existing_app_object_id, existing_app_client_id   an application with a service principal and
                  no secrets, for the "add a secret to an existing application" mode
TLS
  ca_path         PEM file of the throwaway CA; ssl_context() -> ssl.SSLContext trusting it;
  client()        -> httpx.Client(base_url=base_url, verify=ssl_context()); close it after use
  fixture ``azure_ca_env`` sets REQUESTS_CA_BUNDLE and SSL_CERT_FILE for clients that read them
Helpers
  token(scope="https://graph.microsoft.com/.default", client_id=root, client_secret=root) -> str
                  an access token from the token endpoint (AssertionError with the error if refused)
  role_definition_id("Reader" | "Contributor" | "Owner" | "User Access Administrator" | guid)
  graph_writers   set of appIds holding Application.ReadWrite.All (only the root; others get
                  403 Authorization_RequestDenied from Graph)
Faults and log (never reachable over HTTP)
  fail_next(path_regex, status=429, count=1, method=None, retry_after=None (1 for 429),
            body=None (the API's own error shape), disconnect=False)
  clear_faults(); requests -> [LoggedRequest(method, path, query, body, status, caller, at)],
  credential fields redacted; requests_matching(path_regex, method=None)
State (read it to assert revocation; change it only through the API)
  applications {object id: Application(id, app_id, display_name, created, passwords{keyId:
  Password})}, service_principals {object id: ServicePrincipal}, role_assignments {name:
  RoleAssignment}, application(id or appId), service_principal(id or appId)
  propagation_delay = seconds (reset to 0) before new secrets work at the token endpoint and
  new service principals are found by ARM without principalType — Azure's replication delay
  expire_tokens()  every access token issued so far becomes expired
Graph also answers the upsert PATCH/GET/DELETE /applications(uniqueName='...') the engine uses,
and ARM lists the built-in roleDefinitions (by $filter=roleName eq '...') and gets one by GUID.

The engine under test (plugin scaivault_azure, engine "prod-azure")
  vault_factory(**kwargs)  a Vault on tmp_path/vault.db with only this plugin, the ``clock``
                  fixture (ManualClock) and no worker thread; closed afterwards
  configure(vault, double, engine=, root=, **config)  root secret at infra/azure/root, its
                  read policy for dynamic:<engine>, and the engine (endpoints at the double,
                  audiences Azure's own, ca_bundle = the double's CA)
  engine_config(double, **overrides)  that engine config as a dict
  azure_vault     vault_factory() already configured
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from scaivault_core.testing.https_double import HttpsDouble


def _load(name: str):
    # Test folders are not packages and may not import each other, so the double's modules
    # are loaded by path under names no other plugin's tests can collide with.
    spec = importlib.util.spec_from_file_location(
        f"scaivault_azure_tests_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_directory = _load("azure_double")
_arm = _load("azure_arm")


class AzureDouble(HttpsDouble):
    """The HTTPS double serving the Azure APIs, plus conveniences for tests."""

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def token(
        self,
        scope: str = "https://graph.microsoft.com/.default",
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> str:
        """An access token from the double's token endpoint (root credentials by default)."""
        with self.client() as http:
            response = http.post(
                self.token_url,
                data={
                    "grant_type": "client_credentials",
                    "scope": scope,
                    "client_id": client_id or self.root_client_id,
                    "client_secret": client_secret or self.root_client_secret,
                },
            )
        assert response.status_code == 200, response.json()
        return response.json()["access_token"]


@pytest.fixture(scope="session")
def azure_double_server(tmp_path_factory):
    """The running Azure double for the whole session; tests use ``azure_double``."""
    double = AzureDouble(
        _directory.AzureApi(_arm.RoleAssignmentsApi), tmp_path_factory.mktemp("azure-double-tls")
    ).start()
    yield double
    double.stop()


@pytest.fixture
def azure_double(azure_double_server):
    """The Azure double reset to its seed state (see this module's docstring for its API)."""
    azure_double_server.reset()
    return azure_double_server


@pytest.fixture
def azure_ca_env(azure_double, monkeypatch):
    """Point REQUESTS_CA_BUNDLE and SSL_CERT_FILE at the double's CA for this test."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(azure_double.ca_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(azure_double.ca_path))
    return azure_double.ca_path


# -- the engine under test, configured against the double ------------------------------------

ROOT_PATH = "infra/azure/root"
ENGINE = "prod-azure"
GRAPH_RESOURCE, ARM_RESOURCE = "https://graph.microsoft.com", "https://management.azure.com"


def engine_config(double, **overrides) -> dict:
    """The engine config pointing every endpoint at the double (audiences stay Azure's own)."""
    return {
        "root_credentials_path": ROOT_PATH,
        "authority_host": double.base_url,
        "graph_endpoint": double.base_url,
        "graph_resource": GRAPH_RESOURCE,
        "arm_endpoint": double.base_url,
        "arm_resource": ARM_RESOURCE,
        "ca_bundle": str(double.ca_path),
        **overrides,
    }


def configure(vault, double, *, engine: str = ENGINE, root: dict | None = None, **overrides) -> None:
    """Root secret, the policy letting ``dynamic:<engine>`` read and rotate it, and the engine itself."""
    vault.put_secret(
        ROOT_PATH,
        root
        or {
            "client_id": double.root_client_id,
            "client_secret": double.root_client_secret,
            "tenant_id": double.tenant_id,
        },
        "json",
    )
    vault.create_policy(f"{engine}-root", [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}])
    vault.bind_policy(f"{engine}-root", f"dynamic:{engine}")
    vault.create_engine(engine, "azure", engine_config(double, **overrides), default_ttl="1h", max_ttl="24h")


@pytest.fixture
def clock():
    from scaivault_core import ManualClock

    return ManualClock(start=__import__("time").time())


@pytest.fixture
def operator_settings(azure_double_server):
    """What the operator of these tests allows: engines may read the double's CA bundle (``ca_bundle``)."""
    from scaivault_core import Settings

    return Settings(file_dirs=(str(azure_double_server.ca_path.parent),))


@pytest.fixture(autouse=True)
def operator_environment(operator_settings, monkeypatch):
    """Processes a test starts (a crashing issuer, a rotation killed midway) get the operator's settings too."""
    import os

    monkeypatch.setenv("SCAIVAULT_FILE_DIRS", os.pathsep.join(operator_settings.file_dirs))


@pytest.fixture
def vault_factory(tmp_path, clock, operator_settings):
    """``vault_factory(**kwargs)``: a Vault on tmp_path/vault.db with only this plugin, a manual clock and the
    operator's settings."""
    import scaivault_azure
    from scaivault_core import LeaseOptions
    from scaivault_core.testing import VaultFactory

    factory = VaultFactory(
        tmp_path / "vault.db",
        plugins=[scaivault_azure],
        clock=clock,
        start_worker=False,
        lease_options=LeaseOptions(backoff_base=1.0),
        settings=operator_settings,
    )
    yield factory
    factory.close_all()


@pytest.fixture
def azure_vault(vault_factory, azure_double):
    """A vault with the engine ``prod-azure`` configured against the double (no roles yet)."""
    vault = vault_factory()
    configure(vault, azure_double)
    return vault


@pytest.fixture(name="configure")
def configure_fixture():
    """``configure(vault, double, engine=..., root=..., **config_overrides)``."""
    return configure


@pytest.fixture(name="engine_config")
def engine_config_fixture():
    """``engine_config(double, **overrides)``: the engine config dict pointing at the double."""
    return engine_config
