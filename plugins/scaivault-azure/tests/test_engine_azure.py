"""The azure engine through a real Vault, against the HTTPS double of Entra ID, Graph and ARM."""

from __future__ import annotations

import pytest

from scaivault_core import EngineUnreachable, InvalidConfig, LeaseState, TTLExceedsMax
from scaivault_core.testing import free_port

ENGINE = "prod-azure"


def _token_response(double, client_id, client_secret, scope="https://management.azure.com/.default"):
    with double.client() as http:
        return http.post(
            double.token_url,
            data={
                "grant_type": "client_credentials",
                "scope": scope,
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )


def _rg_scope(double):
    return f"/subscriptions/{double.subscription_id}/resourceGroups/{double.resource_group}"


def _reader_role(vault, double, name="rg-reader", **fields):
    vault.create_role(
        ENGINE,
        name,
        azure_roles=[
            {"role_name": "Reader", "scope": _rg_scope(double)},
            {"role_id": "b24988ac-6180-42a0-ab88-20f7382dd24c", "scope": f"/subscriptions/{double.subscription_id}"},
        ],
        default_ttl="1h",
        max_ttl="8h",
        **fields,
    )


def _assignments_of(double, principal_id):
    return sorted(
        (a.scope, a.role_definition_id.rsplit("/", 1)[-1], a.principal_type)
        for a in double.role_assignments.values()
        if a.principal_id == principal_id
    )


def test_dynamic_application_secret_works_with_its_roles_until_revoked(azure_vault, azure_double):
    _reader_role(azure_vault, azure_double)
    creds = azure_vault.issue(ENGINE, "rg-reader", ttl="2h")
    data = creds.data
    assert set(data) == {"client_id", "client_secret", "tenant_id"}
    assert data["tenant_id"] == azure_double.tenant_id and creds.lease_id.startswith("lease_azure_")

    # The secret gets a token, and the new principal holds exactly the role's assignments.
    assert _token_response(azure_double, data["client_id"], data["client_secret"]).status_code == 200
    app = azure_double.application(data["client_id"])
    principal = azure_double.service_principal(data["client_id"])
    assert app.unique_name == app.display_name and app.display_name.startswith("scaivault-v_rg_reader_")
    assert _assignments_of(azure_double, principal.id) == sorted(
        [
            (_rg_scope(azure_double), "acdd72a7-3d48-4cf4-a9b7-b3ebe5a9a8c0", "ServicePrincipal"),
            (
                f"/subscriptions/{azure_double.subscription_id}",
                "b24988ac-6180-42a0-ab88-20f7382dd24c",
                "ServicePrincipal",
            ),
        ]
    )
    [password] = app.passwords.values()
    assert password.end - password.start == pytest.approx(30 * 86400, abs=5)  # config.secret_lifetime

    azure_vault.revoke(creds.lease_id)
    refused = _token_response(azure_double, data["client_id"], data["client_secret"])
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    assert azure_double.application(data["client_id"]) is None
    assert azure_double.service_principal(data["client_id"]) is None
    assert _assignments_of(azure_double, principal.id) == []  # not left behind as "Identity not found"
    assert azure_vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    azure_vault.revoke(creds.lease_id)  # revoking again is success


def test_secret_on_existing_application_until_revoked(azure_vault, azure_double):
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    first = azure_vault.issue(ENGINE, "existing")
    second = azure_vault.issue(ENGINE, "existing")
    for creds in (first, second):
        assert creds.data["client_id"] == azure_double.existing_app_client_id
        assert (
            _token_response(azure_double, **{k: creds.data[k] for k in ("client_id", "client_secret")}).status_code
            == 200
        )
    assert len(azure_double.application(azure_double.existing_app_object_id).passwords) == 2

    azure_vault.revoke(first.lease_id)
    refused = _token_response(azure_double, first.data["client_id"], first.data["client_secret"])
    assert refused.status_code == 401 and refused.json()["error_codes"] == [7000215]
    assert _token_response(azure_double, second.data["client_id"], second.data["client_secret"]).status_code == 200
    azure_vault.revoke(second.lease_id)
    app = azure_double.application(azure_double.existing_app_object_id)
    assert app is not None and app.passwords == {}  # the application itself stays


def test_ttl_cannot_outlive_the_client_secret(vault_factory, azure_double, configure):
    vault = vault_factory()
    configure(vault, azure_double, secret_lifetime="2h")
    vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    with pytest.raises(TTLExceedsMax, match="secret_lifetime"):
        vault.issue(ENGINE, "existing", ttl="3h")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({}, "exactly one of azure_roles"),
        ({"azure_roles": [], "application_object_id": "x"}, "exactly one of azure_roles"),
        ({"azure_roles": []}, "at least one"),
        ({"azure_roles": [{"role_name": "Reader", "scope": "subscriptions/x"}]}, r"azure_roles\[0\]\.scope"),
        (
            {
                "azure_roles": [
                    {
                        "role_name": "Reader",
                        "role_id": "b24988ac-6180-42a0-ab88-20f7382dd24c",
                        "scope": "/subscriptions/x",
                    }
                ]
            },
            "exactly one of role_name or role_id",
        ),
        ({"azure_roles": [{"role_nme": "Reader", "scope": "/subscriptions/x"}]}, "role_nme"),
        ({"application_object_id": "my-app"}, "object id"),
    ],
)
def test_role_shape_is_checked(azure_vault, fields, message):
    with pytest.raises(InvalidConfig, match=message):
        azure_vault.create_role(ENGINE, "bad", **fields)


def test_role_names_and_applications_are_checked_against_azure(azure_vault, azure_double):
    with pytest.raises(InvalidConfig, match=r"azure_roles\[0\]\.role_name: no role definition named 'Reeder'"):
        azure_vault.create_role(ENGINE, "typo", azure_roles=[{"role_name": "Reeder", "scope": _rg_scope(azure_double)}])
    with pytest.raises(InvalidConfig, match=r"azure_roles\[0\]\.role_id: no role definition"):
        azure_vault.create_role(
            ENGINE,
            "typo2",
            azure_roles=[{"role_id": "00000000-0000-0000-0000-000000000000", "scope": _rg_scope(azure_double)}],
        )
    with pytest.raises(InvalidConfig, match="no application has the object id"):
        azure_vault.create_role(ENGINE, "gone", application_object_id="00000000-0000-0000-0000-000000000000")


def test_refused_root_secret_is_invalid_config_without_the_secret(vault_factory, azure_double, configure):
    vault = vault_factory()
    wrong = "wrong-secret-value-123"
    with pytest.raises(InvalidConfig) as caught:
        configure(
            vault,
            azure_double,
            root={
                "client_id": azure_double.root_client_id,
                "client_secret": wrong,
                "tenant_id": azure_double.tenant_id,
            },
        )
    assert "AADSTS7000215" in caught.value.message and wrong not in str(caught.value.to_dict())


def test_missing_tenant_is_named(vault_factory, azure_double, configure):
    with pytest.raises(InvalidConfig, match="tenant") as caught:
        configure(
            vault_factory(),
            azure_double,
            root={"client_id": azure_double.root_client_id, "client_secret": azure_double.root_client_secret},
        )
    assert caught.value.details["field"] == "config.tenant_id"


def test_tenant_from_config_overrides_root_credentials(vault_factory, azure_double, configure):
    vault = vault_factory()
    configure(
        vault,
        azure_double,
        tenant_id=azure_double.tenant_id,
        root={"client_id": azure_double.root_client_id, "client_secret": azure_double.root_client_secret},
    )
    vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    assert vault.issue(ENGINE, "existing").data["tenant_id"] == azure_double.tenant_id


def test_unreachable_endpoint_is_engine_unreachable(vault_factory, azure_double, configure):
    closed = f"https://127.0.0.1:{free_port()}"  # a port nobody listens on
    with pytest.raises(EngineUnreachable, match="Cannot reach"):
        configure(vault_factory(), azure_double, authority_host=closed, max_retries=1)


def test_untrusted_certificate_is_unreachable_not_ignored(vault_factory, azure_double, configure):
    with pytest.raises(EngineUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
        configure(vault_factory(), azure_double, ca_bundle=None, max_retries=0)


def test_config_typos_and_bad_values_are_named(vault_factory, azure_double, configure):
    vault = vault_factory()
    with pytest.raises(InvalidConfig, match="graph_endpont"):
        configure(vault, azure_double, graph_endpont="https://x")
    with pytest.raises(InvalidConfig, match="config.environment"):
        vault.create_engine(ENGINE, "azure", {"root_credentials_path": "infra/azure/root", "environment": "Mars"})
    with pytest.raises(InvalidConfig, match="https://"):
        vault.create_engine(
            ENGINE, "azure", {"root_credentials_path": "infra/azure/root", "graph_endpoint": "http://127.0.0.1:1"}
        )


def test_throttling_and_server_errors_are_retried_with_backoff(azure_vault, azure_double):
    _reader_role(azure_vault, azure_double)
    azure_double.fail_next(r"/addPassword$", status=429, retry_after=1)
    azure_double.fail_next(r"/roleAssignments/", status=500, method="PUT")
    azure_double.fail_next(r"/applications\(uniqueName=", status=503, method="PATCH")
    creds = azure_vault.issue(ENGINE, "rg-reader")
    assert _token_response(azure_double, creds.data["client_id"], creds.data["client_secret"]).status_code == 200

    add = azure_double.requests_matching(r"/addPassword$")
    assert [r.status for r in add] == [429, 200]
    assert add[1].at - add[0].at >= 0.95  # Retry-After: 1 was honoured
    assert [r.status for r in azure_double.requests_matching(r"/roleAssignments/", "PUT")][:2] == [500, 201]
    assert [r.status for r in azure_double.requests_matching(r"uniqueName=", "PATCH")] == [503, 201]
    assert len(azure_double.applications) == 3  # the retried upsert made one application, not two


def test_a_failed_create_is_undone_from_the_plan(azure_vault, azure_double):
    _reader_role(azure_vault, azure_double)
    # Creating a service principal is a POST: a 500 might hide a success, so it is not repeated.
    azure_double.fail_next(r"/servicePrincipals$", status=500, method="POST")
    before = set(azure_double.applications)
    with pytest.raises(EngineUnreachable, match="500"):
        azure_vault.issue(ENGINE, "rg-reader")
    assert set(azure_double.applications) == before  # the application made before the fault is gone
    [lease] = azure_vault.list_leases(engine=ENGINE)
    assert lease.state == LeaseState.ROLLED_BACK


def test_a_revocation_that_keeps_failing_stays_queued_and_is_retried(vault_factory, configure, azure_double, clock):
    azure_vault = vault_factory()
    configure(azure_vault, azure_double, max_retries=2)
    _reader_role(azure_vault, azure_double)
    creds = azure_vault.issue(ENGINE, "rg-reader")
    principal = azure_double.service_principal(creds.data["client_id"])
    azure_double.fail_next(r"/roleAssignments/", status=503, method="DELETE", count=1000)
    with pytest.raises(EngineUnreachable) as caught:
        azure_vault.revoke(creds.lease_id)
    assert "queued and will be retried" in caught.value.message
    assert len(azure_double.requests_matching(r"/roleAssignments/", "DELETE")) == 3  # bounded: 1 + max_retries
    lease = azure_vault.lookup(creds.lease_id)
    assert lease.state == LeaseState.REVOKING and lease.attempts == 1
    assert "503" in lease.last_error
    assert _token_response(azure_double, creds.data["client_id"], creds.data["client_secret"]).status_code == 200

    clock.advance(10)
    azure_vault.expire_due()  # still failing: a second attempt is recorded, the lease is kept
    assert azure_vault.lookup(creds.lease_id).attempts == 2

    azure_double.clear_faults()
    clock.advance(60)
    azure_vault.expire_due()
    assert azure_vault.lookup(creds.lease_id).state == LeaseState.REVOKED
    assert _assignments_of(azure_double, principal.id) == []
    assert azure_double.application(creds.data["client_id"]) is None


def test_expiry_revokes(azure_vault, azure_double, clock):
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    creds = azure_vault.issue(ENGINE, "existing", ttl="10m")
    clock.advance(601)
    assert azure_vault.expire_due() == 1
    assert _token_response(azure_double, creds.data["client_id"], creds.data["client_secret"]).status_code == 401


def test_renew_extends_the_lease_and_the_secret_keeps_working(azure_vault, azure_double):
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id, max_ttl="8h")
    creds = azure_vault.issue(ENGINE, "existing", ttl="1h")
    result = azure_vault.renew(creds.lease_id, "2h")
    assert not result.capped
    assert _token_response(azure_double, creds.data["client_id"], creds.data["client_secret"]).status_code == 200


def test_expired_root_token_is_refreshed(azure_vault, azure_double):
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    azure_vault.issue(ENGINE, "existing")
    azure_double.expire_tokens()  # the engine's cached Graph token is now refused with 401
    assert azure_vault.issue(ENGINE, "existing").data["client_secret"]


def test_no_secret_reaches_the_request_log_or_the_engine_repr(azure_vault, azure_double):
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    creds = azure_vault.issue(ENGINE, "existing")
    logged = repr(azure_double.requests)
    assert creds.data["client_secret"] not in logged and azure_double.root_client_secret not in logged
    assert creds.data["client_secret"] not in repr(creds)


def test_httpx_ignores_requests_ca_bundle_from_the_environment(vault_factory, azure_double, configure, monkeypatch):
    # This machine exports REQUESTS_CA_BUNDLE; the engine must trust config.ca_bundle alone.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent.pem")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent.pem")
    vault = vault_factory()
    configure(vault, azure_double)
    vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    assert vault.issue(ENGINE, "existing").data["client_id"] == azure_double.existing_app_client_id


def test_a_dropped_connection_is_retried_only_where_repeating_is_harmless(azure_vault, azure_double):
    _reader_role(azure_vault, azure_double)
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    # The upsert is keyed by uniqueName: sending it again cannot make a second application.
    azure_double.fail_next(r"/applications\(uniqueName=", method="PATCH", disconnect=True)
    assert azure_vault.issue(ENGINE, "rg-reader").data["client_secret"]
    assert [r.status for r in azure_double.requests_matching(r"uniqueName=", "PATCH")] == [None, 201]
    # addPassword is not repeated after a lost answer; the lease is undone and the error says why.
    azure_double.fail_next(r"/addPassword$", disconnect=True)
    with pytest.raises(EngineUnreachable, match="Cannot reach Microsoft Graph"):
        azure_vault.issue(ENGINE, "existing")
    assert len(azure_double.requests_matching(r"/addPassword$")) == 2  # the first lease's, and this one
    assert azure_double.application(azure_double.existing_app_object_id).passwords == {}


def test_a_retry_after_beyond_the_bound_is_not_waited_out(azure_vault, azure_double):
    azure_vault.create_role(ENGINE, "existing", application_object_id=azure_double.existing_app_object_id)
    azure_double.fail_next(r"/addPassword$", status=429, retry_after=3600)
    with pytest.raises(EngineUnreachable, match="429"):
        azure_vault.issue(ENGINE, "existing")
    assert len(azure_double.requests_matching(r"/addPassword$")) == 1
