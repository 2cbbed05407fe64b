"""Fixtures for scaivault-gcp's tests: a local HTTPS double of the Google Cloud APIs.

No emulator exists for IAM service-account keys or iamcredentials, so ``gcp_double.py``
answers the documented requests on 127.0.0.1 over HTTPS with a throwaway CA.

``gcp_double`` (function scope; the server itself is session scoped) is the double reset to its
seed state. What a test or a plugin fixture uses:

Endpoints (all on one host; configure the plugin's endpoints with them)
  base_url          "https://127.0.0.1:PORT"
  iam_url           = base_url, replaces https://iam.googleapis.com (paths /v1/projects/...)
  iamcredentials_url = base_url, replaces https://iamcredentials.googleapis.com
  token_uri         f"{base_url}/token" — the token_uri inside every key file the double issues
  tokeninfo_url     f"{base_url}/tokeninfo" (?access_token=...), to check issued access tokens
Seed (the same values after every reset; key ids and unique ids fixed for the session)
  project_id        "scaivault-test"
  root_email, root_key_id, root_key_info   the plugin's root credentials: a service-account key
                    file (dict) with roles/iam.serviceAccountKeyAdmin on the project and
                    roles/iam.serviceAccountTokenCreator on the target
  target_email      the account whose keys and access tokens the plugin issues
TLS
  ca_path, ssl_context(), client() -> httpx.Client(base_url=..., verify=ssl_context())
  auth_request()    -> google.auth.transport.requests.Request trusting the CA (its session
                    ignores REQUESTS_CA_BUNDLE, which this machine sets)
  fixture ``gcp_ca_env`` sets REQUESTS_CA_BUNDLE and SSL_CERT_FILE for clients that read them
Helpers
  credentials(info=root_key_info, scopes=(cloud-platform,)) -> service_account.Credentials
  token(info=root_key_info, scopes=(cloud-platform,)) -> access token (google-auth refresh)
  add_service_account(account_id, display_name="") -> email
  grant(member_email, role, on=None|account_email); revoke(...)   IAM bindings; on=None: project
  extended_lifetime_accounts  set of emails allowed generateAccessToken lifetimes up to 43200s
  expire_tokens()   every access token issued so far becomes expired
Faults and log (never reachable over HTTP)
  fail_next(path_regex, status=429, count=1, method=None, retry_after=None (1 for 429),
            body=None (the API's own error shape), disconnect=False); clear_faults()
  requests -> [LoggedRequest(method, path, query, body, status, caller, at)] with credential
  fields redacted; requests_matching(path_regex, method=None)
State (read it to assert revocation)
  accounts {email: ServiceAccount}, keys {key id: Key(id, email, key_type, algorithm, ...)},
  deleted_keys {key id}, user_managed_keys(email) -> [Key], tokens, bindings

The engine under test (plugin scaivault_gcp, engine "prod-gcp")
  vault_factory(**kwargs)  a Vault on tmp_path/vault.db with only this plugin, the ``clock``
                    fixture (ManualClock) and no worker thread; closed afterwards
  configure(vault, double, engine=, root=, **config)  root key at infra/gcp/root, its read
                    policy for dynamic:<engine>, and the engine (IAM endpoints at the double,
                    ca_bundle = the double's CA; the token URI comes from the key file)
  gcp_vault         vault_factory() already configured
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import google.auth.transport.requests
import pytest
import requests
from google.oauth2 import service_account

from scaivault_core.testing.https_double import HttpsDouble

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _load(name: str):
    # Test folders are not packages and may not import each other, so the double's modules
    # are loaded by path under names no other plugin's tests can collide with.
    spec = importlib.util.spec_from_file_location(f"scaivault_gcp_tests_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_gcp = _load("gcp_double")


class GcpDouble(HttpsDouble):
    """The HTTPS double serving the Google Cloud APIs, plus conveniences for tests."""

    @property
    def iam_url(self) -> str:
        return self.base_url

    @property
    def iamcredentials_url(self) -> str:
        return self.base_url

    @property
    def tokeninfo_url(self) -> str:
        return f"{self.base_url}/tokeninfo"

    def auth_request(self) -> google.auth.transport.requests.Request:
        """A google-auth transport whose session trusts only the double's CA."""
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides session.verify
        session.verify = str(self.ca_path)
        return google.auth.transport.requests.Request(session)

    def credentials(self, info: dict | None = None, scopes=(CLOUD_PLATFORM,)):
        """google-auth service-account credentials for a key file (the root key by default)."""
        return service_account.Credentials.from_service_account_info(info or self.root_key_info, scopes=list(scopes))

    def token(self, info: dict | None = None, scopes=(CLOUD_PLATFORM,)) -> str:
        """An access token for a key file, obtained the way google-auth refreshes."""
        credentials = self.credentials(info, scopes)
        credentials.refresh(self.auth_request())
        return credentials.token


@pytest.fixture(scope="session")
def gcp_double_server(tmp_path_factory):
    """The running GCP double for the whole session; tests use ``gcp_double``."""
    double = GcpDouble(_gcp.GcpApi(), tmp_path_factory.mktemp("gcp-double-tls")).start()
    yield double
    double.stop()


@pytest.fixture
def gcp_double(gcp_double_server):
    """The GCP double reset to its seed state (see this module's docstring for its API)."""
    gcp_double_server.reset()
    return gcp_double_server


@pytest.fixture
def gcp_ca_env(gcp_double, monkeypatch):
    """Point REQUESTS_CA_BUNDLE and SSL_CERT_FILE at the double's CA for this test."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(gcp_double.ca_path))
    monkeypatch.setenv("SSL_CERT_FILE", str(gcp_double.ca_path))
    return gcp_double.ca_path


# -- the engine under test, configured against the double ------------------------------------

ROOT_PATH = "infra/gcp/root"
ENGINE = "prod-gcp"


def configure(vault, double, *, engine: str = ENGINE, root: dict | None = None, **overrides) -> None:
    """Root key, the policy letting ``dynamic:<engine>`` read and rotate it, and the engine itself."""
    vault.put_secret(ROOT_PATH, root or double.root_key_info, "json")
    vault.create_policy(f"{engine}-root", [{"path_pattern": ROOT_PATH, "permissions": ["read", "rotate"]}])
    vault.bind_policy(f"{engine}-root", f"dynamic:{engine}")
    vault.create_engine(
        engine,
        "gcp",
        {
            "root_credentials_path": ROOT_PATH,
            "iam_endpoint": double.iam_url,
            "iamcredentials_endpoint": double.iamcredentials_url,
            "ca_bundle": str(double.ca_path),
            **overrides,
        },
        default_ttl="1h",
        max_ttl="24h",
    )


@pytest.fixture
def clock():
    import time

    from scaivault_core import ManualClock

    return ManualClock(start=time.time())


@pytest.fixture
def operator_settings(gcp_double_server):
    """What the operator of these tests allows: engines may read the double's CA bundle (``ca_bundle``)."""
    from scaivault_core import Settings

    return Settings(file_dirs=(str(gcp_double_server.ca_path.parent),))


@pytest.fixture(autouse=True)
def operator_environment(operator_settings, monkeypatch):
    """Processes a test starts (a crashing issuer, a rotation killed midway) get the operator's settings too."""
    import os

    monkeypatch.setenv("SCAIVAULT_FILE_DIRS", os.pathsep.join(operator_settings.file_dirs))


@pytest.fixture
def vault_factory(tmp_path, clock, operator_settings):
    """``vault_factory(**kwargs)``: a Vault on tmp_path/vault.db with only this plugin, a manual clock and the
    operator's settings."""
    import scaivault_gcp
    from scaivault_core import LeaseOptions
    from scaivault_core.testing import VaultFactory

    factory = VaultFactory(
        tmp_path / "vault.db",
        plugins=[scaivault_gcp],
        clock=clock,
        start_worker=False,
        lease_options=LeaseOptions(backoff_base=1.0),
        settings=operator_settings,
    )
    yield factory
    factory.close_all()


@pytest.fixture
def gcp_vault(vault_factory, gcp_double):
    """A vault with the engine ``prod-gcp`` configured against the double (no roles yet)."""
    vault = vault_factory()
    configure(vault, gcp_double)
    return vault


@pytest.fixture(name="configure")
def configure_fixture():
    """``configure(vault, double, engine=..., root=..., **config_overrides)``."""
    return configure
