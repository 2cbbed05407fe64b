"""The gcp engine through a real Vault, against the HTTPS double of Google's token endpoint, IAM and iamcredentials."""

from __future__ import annotations

import base64
import json
import re

import google.auth.exceptions
import pytest

from scaivault_core import EngineError, EngineUnreachable, InvalidConfig, InvalidRequest, LeaseState, TTLExceedsMax
from scaivault_core.testing import free_port

ENGINE = "prod-gcp"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _key_role(vault, double, name="keys"):
    vault.create_role(ENGINE, name, secret_type="service_account_key", service_account_email=double.target_email)


def _token_role(vault, double, name="tokens"):
    vault.create_role(
        ENGINE,
        name,
        secret_type="access_token",
        service_account_email=double.target_email,
        token_scopes=[CLOUD_PLATFORM],
        default_ttl="30m",
    )


def _tokeninfo(double, token):
    with double.client() as http:
        return http.get("/tokeninfo", params={"access_token": token})


def test_issued_key_gets_a_token_with_google_auth_until_revoked(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    creds = gcp_vault.issue(ENGINE, "keys", ttl="2h")
    data = creds.data
    assert set(data) == {"private_key_data", "key_json", "key_id", "service_account_email"}
    assert json.loads(base64.b64decode(data["private_key_data"])) == data["key_json"]
    assert data["key_json"]["client_email"] == gcp_double.target_email
    assert data["key_json"]["private_key_id"] == data["key_id"] and creds.lease_id.startswith("lease_gcp_")
    lease = gcp_vault.lookup(creds.lease_id)
    assert lease.subject == f"{gcp_double.target_email}/keys/{data['key_id']}" and lease.renewable

    token = gcp_double.token(info=data["key_json"])  # google-auth's own refresh, as applications do it
    assert _tokeninfo(gcp_double, token).json()["email"] == gcp_double.target_email

    gcp_vault.revoke(creds.lease_id)
    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        gcp_double.token(info=data["key_json"])
    assert data["key_id"] in gcp_double.deleted_keys and gcp_double.user_managed_keys(gcp_double.target_email) == []
    gcp_vault.revoke(creds.lease_id)  # again: success


def test_the_eleventh_key_is_a_clear_error(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    for _ in range(10):
        gcp_vault.issue(ENGINE, "keys")
    with pytest.raises(EngineError) as caught:
        gcp_vault.issue(ENGINE, "keys")
    message = caught.value.message
    # The core masks every value of the root secret in messages, the key file's project_id too.
    assert re.search(
        r"Service account app-runtime@(scaivault-test|\*\*\*)\.iam\.gserviceaccount\.com already "
        r"has 10 user-managed keys, Google's limit per service account",
        message,
    ), message
    assert caught.value.details["limit"] == 10
    assert len(gcp_double.user_managed_keys(gcp_double.target_email)) == 10
    assert len(gcp_vault.list_leases(engine=ENGINE)) == 10  # refused before any intent was recorded
    assert gcp_double.requests_matching(r"/keys$", "POST")[-1].status == 200  # and before asking Google


def test_the_limit_reached_in_a_race_is_the_same_clear_error(vault_factory, configure, gcp_double):
    from scaivault_core import hookimpl, make_plugin_manager
    from scaivault_gcp import GcpEngine

    def add_key():  # another client, straight to the API with the root account
        with gcp_double.client() as http:
            url = f"/v1/projects/-/serviceAccounts/{gcp_double.target_email}/keys"
            assert http.post(url, json={}, headers={"Authorization": f"Bearer {gcp_double.token()}"}).status_code == 200

    class RacedGcpEngine(GcpEngine):
        def plan(self, request):
            handle = super().plan(request)  # counted 9 keys: one slot left...
            add_key()  # ...which someone else takes before our keys.create
            return handle

    class Plugin:
        @hookimpl
        def register_engines(self, register):
            register(RacedGcpEngine)

    vault = vault_factory(plugin_manager=make_plugin_manager(load_entrypoints=False, plugins=[Plugin()]))
    configure(vault, gcp_double)
    _key_role(vault, gcp_double)
    for _ in range(9):
        add_key()
    with pytest.raises(EngineError, match=r"already has 10 user-managed keys"):
        vault.issue(ENGINE, "keys")
    assert gcp_double.requests_matching(r"/keys$", "POST")[-1].status == 400  # Google's own refusal
    [lease] = vault.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.ROLLED_BACK  # refused outright: the other client's key is left alone
    assert len(gcp_double.user_managed_keys(gcp_double.target_email)) == 10


def test_key_creation_forbidden_by_policy_is_not_mistaken_for_the_limit(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    gcp_double.fail_next(
        r"/keys$",
        status=400,
        method="POST",
        body={
            "error": {
                "code": 400,
                "message": "Key creation is not allowed on this service account.",
                "status": "FAILED_PRECONDITION",
            }
        },
    )
    with pytest.raises(EngineError, match="FAILED_PRECONDITION: Key creation is not allowed") as caught:
        gcp_vault.issue(ENGINE, "keys")
    assert "limit" not in caught.value.message
    [lease] = gcp_vault.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.ROLLED_BACK


def test_access_token_is_neither_renewable_nor_revocable_and_capped_at_one_hour(gcp_vault, gcp_double):
    _token_role(gcp_vault, gcp_double)
    creds = gcp_vault.issue(ENGINE, "tokens")
    data = creds.data
    assert set(data) == {"token", "expires_at", "token_type", "service_account_email"}
    info = _tokeninfo(gcp_double, data["token"]).json()
    assert info["email"] == gcp_double.target_email and info["scope"] == CLOUD_PLATFORM
    assert 1795 <= int(info["expires_in"]) <= 1800  # the lease's ttl, 30m
    assert gcp_double.requests_matching(r":generateAccessToken$")[-1].body["lifetime"] == "1800s"

    lease = gcp_vault.lookup(creds.lease_id)
    assert not lease.renewable
    with pytest.raises(InvalidRequest, match="not renewable"):
        gcp_vault.renew(creds.lease_id)
    with pytest.raises(TTLExceedsMax, match="generateAccessToken allows at most 1h"):
        gcp_vault.issue(ENGINE, "tokens", ttl="2h")
    gcp_vault.revoke(creds.lease_id)  # ends the lease; Google offers no way to revoke the token
    assert gcp_vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    assert _tokeninfo(gcp_double, data["token"]).status_code == 200


def test_token_creator_missing_is_an_engine_error_naming_the_permission(gcp_vault, gcp_double):
    _token_role(gcp_vault, gcp_double)
    gcp_double.revoke(gcp_double.root_email, "roles/iam.serviceAccountTokenCreator", on=gcp_double.target_email)
    with pytest.raises(EngineError, match="PERMISSION_DENIED.*iam.serviceAccounts.getAccessToken"):
        gcp_vault.issue(ENGINE, "tokens")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"secret_type": "oauth", "service_account_email": "a@b.iam.gserviceaccount.com"}, "secret_type"),
        ({"secret_type": "access_token", "service_account_email": "a@b.iam.gserviceaccount.com"}, "token_scopes"),
        (
            {
                "secret_type": "access_token",
                "service_account_email": "a@b.iam.gserviceaccount.com",
                "token_scopes": ["cloud-platform"],
            },
            r"token_scopes\[0\]",
        ),
        (
            {
                "secret_type": "service_account_key",
                "service_account_email": "a@b.iam.gserviceaccount.com",
                "token_scopes": [CLOUD_PLATFORM],
            },
            "token_scopes applies only",
        ),
        ({"secret_type": "service_account_key", "service_account_email": "app-runtime"}, "service_account_email"),
        (
            {
                "secret_type": "service_account_key",
                "service_account_email": "a@b.iam.gserviceaccount.com",
                "key_algorithm": "KEY_ALG_EC",
            },
            "key_algorithm",
        ),
        ({"secret_type": "service_account_key"}, "service_account_email"),
    ],
)
def test_role_shape_is_checked(gcp_vault, fields, message):
    with pytest.raises(InvalidConfig, match=message):
        gcp_vault.create_role(ENGINE, "bad", **fields)


def test_a_key_role_for_a_missing_account_is_refused_at_creation(gcp_vault, gcp_double):
    with pytest.raises(InvalidConfig, match="service_account_email: .*does not exist"):
        gcp_vault.create_role(
            ENGINE,
            "ghost",
            secret_type="service_account_key",
            service_account_email=f"ghost@{gcp_double.project_id}.iam.gserviceaccount.com",
        )


def test_refused_root_key_is_invalid_config_without_the_key(vault_factory, gcp_double, configure):
    info = dict(gcp_double.root_key_info, private_key_id="0" * 40)  # a key id Google does not know
    with pytest.raises(InvalidConfig, match="invalid_grant") as caught:
        configure(vault_factory(), gcp_double, root=info)
    assert info["private_key"].splitlines()[1] not in str(caught.value.to_dict())


@pytest.mark.parametrize(
    "root, field",
    [
        ({"hello": "world"}, "root_credentials"),
        (
            {"type": "service_account", "client_email": "x@y.iam.gserviceaccount.com", "private_key_id": "k"},
            "root_credentials.private_key",
        ),
        ({"credentials": "{not json"}, "root_credentials.credentials"),
    ],
)
def test_malformed_root_credentials_name_the_field(vault_factory, gcp_double, configure, root, field):
    with pytest.raises(InvalidConfig) as caught:
        configure(vault_factory(), gcp_double, root=root)
    assert caught.value.details["field"] == field


def test_root_key_may_be_stored_as_a_credentials_string(vault_factory, gcp_double, configure):
    vault = vault_factory()
    configure(vault, gcp_double, root={"credentials": json.dumps(gcp_double.root_key_info)})
    _token_role(vault, gcp_double)
    assert vault.issue(ENGINE, "tokens").data["token"]


def test_unreachable_endpoint_is_engine_unreachable(vault_factory, gcp_double, configure):
    closed = f"https://127.0.0.1:{free_port()}/token"  # a port nobody listens on
    with pytest.raises(EngineUnreachable, match="Cannot reach"):
        configure(vault_factory(), gcp_double, token_uri=closed, max_retries=1)


def test_throttling_and_server_errors_are_retried_with_backoff(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    _token_role(gcp_vault, gcp_double)
    gcp_double.fail_next(r"/keys$", status=500, method="GET")
    gcp_double.fail_next(r"/keys$", status=429, method="POST", retry_after=1)
    gcp_double.fail_next(r"/keys$", status=503, method="POST")
    gcp_double.fail_next(r":generateAccessToken$", status=502)
    creds = gcp_vault.issue(ENGINE, "keys")
    assert gcp_double.token(info=creds.data["key_json"])
    posts = gcp_double.requests_matching(r"/keys$", "POST")
    assert [r.status for r in posts] == [429, 503, 200]
    assert posts[1].at - posts[0].at >= 0.95  # Retry-After: 1 was honoured
    assert [r.status for r in gcp_double.requests_matching(r"/keys$", "GET")][-2:] == [500, 200]
    assert len(gcp_double.user_managed_keys(gcp_double.target_email)) == 1
    assert gcp_vault.issue(ENGINE, "tokens").data["token"]
    assert [r.status for r in gcp_double.requests_matching(r":generateAccessToken$")] == [502, 200]


def test_a_key_create_that_may_have_succeeded_is_not_repeated(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    gcp_double.fail_next(r"/keys$", status=500, method="POST")
    with pytest.raises(EngineUnreachable, match="500"):
        gcp_vault.issue(ENGINE, "keys")
    assert len(gcp_double.requests_matching(r"/keys$", "POST")) == 1
    [lease] = gcp_vault.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.ROLLED_BACK  # no key appeared on the account, so nothing to undo


def test_a_revocation_that_keeps_failing_stays_queued_and_is_retried(vault_factory, configure, gcp_double, clock):
    vault = vault_factory()
    configure(vault, gcp_double, max_retries=1)
    _key_role(vault, gcp_double)
    creds = vault.issue(ENGINE, "keys")
    gcp_double.fail_next(r"/keys/", status=503, method="DELETE", count=1000)
    with pytest.raises(EngineUnreachable) as caught:
        vault.revoke(creds.lease_id)
    assert "queued and will be retried" in caught.value.message
    lease = vault.lookup(creds.lease_id)
    assert lease.state == LeaseState.REVOKING and lease.attempts == 1 and "503" in lease.last_error
    assert len(gcp_double.requests_matching(r"/keys/", "DELETE")) == 2  # bounded: 1 + max_retries
    assert gcp_double.token(info=creds.data["key_json"])  # the key still works: the lease must not be lost

    clock.advance(10)
    vault.expire_due()
    assert vault.lookup(creds.lease_id).attempts == 2
    gcp_double.clear_faults()
    clock.advance(60)
    vault.expire_due()
    assert vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    with pytest.raises(google.auth.exceptions.RefreshError):
        gcp_double.token(info=creds.data["key_json"])


def test_a_key_deleted_outside_the_vault_revokes_cleanly(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    creds = gcp_vault.issue(ENGINE, "keys")
    with gcp_double.client() as http:
        url = f"/v1/projects/-/serviceAccounts/{gcp_double.target_email}/keys/{creds.data['key_id']}"
        assert http.delete(url, headers={"Authorization": f"Bearer {gcp_double.token()}"}).status_code == 200
    gcp_vault.revoke(creds.lease_id)  # Google now answers 400 FAILED_PRECONDITION: already deleted
    assert gcp_vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    assert [r.status for r in gcp_double.requests_matching(r"/keys/", "DELETE")] == [200, 400]


def test_expired_root_token_is_refreshed(gcp_vault, gcp_double):
    _token_role(gcp_vault, gcp_double)
    gcp_vault.issue(ENGINE, "tokens")
    gcp_double.expire_tokens()
    assert gcp_vault.issue(ENGINE, "tokens").data["token"]


def test_no_secret_reaches_the_request_log(gcp_vault, gcp_double):
    _key_role(gcp_vault, gcp_double)
    _token_role(gcp_vault, gcp_double)
    key = gcp_vault.issue(ENGINE, "keys")
    token = gcp_vault.issue(ENGINE, "tokens")
    logged = repr(gcp_double.requests)
    assert key.data["private_key_data"] not in logged and token.data["token"] not in logged
    assert key.data["private_key_data"] not in repr(key)
