"""The Azure double answers the documented requests the way Azure does, for real clients."""

from __future__ import annotations

import datetime
import ssl
import time
import uuid

import httpx
import msal
import pytest

GRAPH = "https://graph.microsoft.com/.default"
ARM = "https://management.azure.com/.default"


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _token_request(double, client_id, client_secret, scope=GRAPH) -> httpx.Response:
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


def _new_app_with_secret(double, http, root_graph, name="lease-app", **password):
    app = http.post("/v1.0/applications", json={"displayName": name}, headers=_auth(root_graph)).json()
    sp = http.post("/v1.0/servicePrincipals", json={"appId": app["appId"]}, headers=_auth(root_graph)).json()
    secret = http.post(
        f"/v1.0/applications/{app['id']}/addPassword",
        headers=_auth(root_graph),
        json={"passwordCredential": {"displayName": "scaivault", **password}},
    ).json()
    return app, sp, secret


def test_tls_is_trusted_only_through_the_throwaway_ca(azure_double):
    with azure_double.client() as http:
        assert http.get("/nowhere").status_code == 404
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(azure_double.base_url + "/nowhere", verify=ssl.create_default_context())


def test_client_credentials_token_has_the_documented_shape(azure_double):
    response = _token_request(azure_double, azure_double.root_client_id, azure_double.root_client_secret)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert body["access_token"]


@pytest.mark.parametrize(
    "field, change, status, error, code",
    [
        ("client_secret", "wrong", 401, "invalid_client", 7000215),
        ("client_id", "00000000-0000-4000-8000-00000000dead", 400, "unauthorized_client", 700016),
        ("scope", "https://graph.microsoft.com/User.Read", 400, "invalid_scope", 1002012),
        ("scope", "https://vault.example/.default", 400, "invalid_resource", 500011),
        ("grant_type", "password", 400, "unsupported_grant_type", 70003),
    ],
)
def test_token_endpoint_refusals_use_aadsts_codes(azure_double, field, change, status, error, code):
    data = {
        "grant_type": "client_credentials",
        "scope": GRAPH,
        "client_id": azure_double.root_client_id,
        "client_secret": azure_double.root_client_secret,
        field: change,
    }
    with azure_double.client() as http:
        response = http.post(azure_double.token_url, data=data)
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()


def test_unknown_tenant_is_aadsts90002(azure_double):
    with azure_double.client() as http:
        response = http.post(f"/{uuid.uuid4()}/oauth2/v2.0/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400 and response.json()["error_codes"] == [90002]


def test_msal_confidential_client_gets_tokens_and_reports_a_bad_secret(azure_double, azure_ca_env):
    # msal's verify= is overridden by REQUESTS_CA_BUNDLE from the environment (requests merges the
    # environment over Session.verify), so the CA is given through the environment here.
    def app(secret):
        return msal.ConfidentialClientApplication(
            azure_double.root_client_id,
            client_credential=secret,
            authority=azure_double.authority,
            instance_discovery=False,
        )

    result = app(azure_double.root_client_secret).acquire_token_for_client([ARM])
    assert result["token_type"] == "Bearer" and result["access_token"]
    refused = app("not-the-secret").acquire_token_for_client([ARM])
    assert refused["error"] == "invalid_client" and refused["error_codes"] == [7000215]


def test_new_application_secret_works_until_removed(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        app, sp, secret = _new_app_with_secret(azure_double, http, root)
        assert app["passwordCredentials"] == [] and sp["appId"] == app["appId"]
        assert secret["secretText"][:3] == secret["hint"] and len(secret["secretText"]) == 40
        assert _token_request(azure_double, app["appId"], secret["secretText"]).status_code == 200

        listed = http.get(f"/v1.0/applications(appId='{app['appId']}')", headers=_auth(root)).json()
        assert [p["keyId"] for p in listed["passwordCredentials"]] == [secret["keyId"]]
        assert listed["passwordCredentials"][0]["secretText"] is None

        removed = http.post(
            f"/v1.0/applications/{app['id']}/removePassword", headers=_auth(root), json={"keyId": secret["keyId"]}
        )
        assert removed.status_code == 204
        refused = _token_request(azure_double, app["appId"], secret["secretText"])
        assert refused.status_code == 401 and refused.json()["error_codes"] == [7000215]
        again = http.post(
            f"/v1.0/applications/{app['id']}/removePassword", headers=_auth(root), json={"keyId": secret["keyId"]}
        )
        assert again.status_code == 400 and again.json()["error"]["code"] == "Request_BadRequest"


def test_deleting_the_application_revokes_its_secret_and_service_principal(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        app, sp, secret = _new_app_with_secret(azure_double, http, root)
        assert http.delete(f"/v1.0/applications/{app['id']}", headers=_auth(root)).status_code == 204
        gone = http.get(f"/v1.0/servicePrincipals/{sp['id']}", headers=_auth(root))
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "Request_ResourceNotFound"
        assert {"date", "request-id", "client-request-id"} <= gone.json()["error"]["innerError"].keys()
    refused = _token_request(azure_double, app["appId"], secret["secretText"])
    assert refused.status_code == 400 and refused.json()["error_codes"] == [700016]


def test_secret_on_existing_application_and_expiry(azure_double):
    root, now = azure_double.token(), datetime.datetime.now(datetime.UTC)
    with azure_double.client() as http:
        url = f"/v1.0/applications/{azure_double.existing_app_object_id}/addPassword"
        fresh = http.post(url, headers=_auth(root), json={"passwordCredential": {"displayName": "a"}}).json()
        stale = http.post(
            url,
            headers=_auth(root),
            json={
                "passwordCredential": {
                    "startDateTime": (now - datetime.timedelta(hours=2)).isoformat(),
                    "endDateTime": (now - datetime.timedelta(hours=1)).isoformat(),
                }
            },
        ).json()
    client_id = azure_double.existing_app_client_id
    assert _token_request(azure_double, client_id, fresh["secretText"]).status_code == 200
    expired = _token_request(azure_double, client_id, stale["secretText"])
    assert expired.status_code == 401 and expired.json()["error_codes"] == [7000222]


def test_app_without_service_principal_cannot_get_tokens(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        app = http.post("/v1.0/applications", json={"displayName": "no-sp"}, headers=_auth(root)).json()
        secret = http.post(f"/v1.0/applications/{app['id']}/addPassword", headers=_auth(root), json={}).json()
    refused = _token_request(azure_double, app["appId"], secret["secretText"])
    assert refused.status_code == 400 and refused.json()["error_codes"] == [7000229]


def test_graph_authentication_and_authorization_errors(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        app, _, secret = _new_app_with_secret(azure_double, http, root, name="plain")
        plain = azure_double.token(client_id=app["appId"], client_secret=secret["secretText"])
        cases = [
            ({}, 401, "InvalidAuthenticationToken", "Access token is empty."),
            (_auth("garbage"), 401, "InvalidAuthenticationToken", "Access token validation failure."),
            (
                _auth(azure_double.token(ARM)),
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure. Invalid audience.",
            ),
            (_auth(plain), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
        ]
        for headers, status, code, message in cases:
            response = http.post("/v1.0/applications", json={"displayName": "x"}, headers=headers)
            assert (response.status_code, response.json()["error"]["code"], response.json()["error"]["message"]) == (
                status,
                code,
                message,
            )
        azure_double.expire_tokens()
        expired = http.get(f"/v1.0/applications/{app['id']}", headers=_auth(root))
        assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def test_graph_validates_bodies(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        bad_json = http.post("/v1.0/applications", content=b"{", headers=_auth(root))
        no_name = http.post("/v1.0/applications", json={}, headers=_auth(root))
        no_app = http.post("/v1.0/servicePrincipals", json={"appId": str(uuid.uuid4())}, headers=_auth(root))
        twice = http.post(
            "/v1.0/servicePrincipals", json={"appId": azure_double.existing_app_client_id}, headers=_auth(root)
        )
    assert bad_json.status_code == 400 and bad_json.json()["error"]["code"] == "BadRequest"
    assert no_name.status_code == 400 and no_app.status_code == 400
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "Request_MultipleObjectsWithSameKeyValue"


def test_role_assignment_lifecycle(azure_double):
    root_graph, root_arm = azure_double.token(), azure_double.token(ARM)
    scope = f"/subscriptions/{azure_double.subscription_id}/resourceGroups/{azure_double.resource_group}"
    with azure_double.client() as http:
        app, sp, secret = _new_app_with_secret(azure_double, http, root_graph)
        name = str(uuid.uuid4())
        url = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        body = {
            "properties": {
                "roleDefinitionId": azure_double.role_definition_id("Reader"),
                "principalId": sp["id"],
                "principalType": "ServicePrincipal",
            }
        }
        params = {"api-version": "2022-04-01"}
        created = http.put(url, params=params, json=body, headers=_auth(root_arm))
        assert created.status_code == 201
        assert created.json()["id"] == url and created.json()["name"] == name
        assert created.json()["type"] == "Microsoft.Authorization/roleAssignments"
        assert created.json()["properties"]["scope"] == scope
        assert http.put(url, params=params, json=body, headers=_auth(root_arm)).status_code == 200
        duplicate = http.put(
            f"{scope}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}",
            params=params,
            json=body,
            headers=_auth(root_arm),
        )
        assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "RoleAssignmentExists"

        # The new principal may read (it is Reader) but not write role assignments.
        reader = _auth(azure_double.token(ARM, app["appId"], secret["secretText"]))
        listed = http.get(
            f"{scope}/providers/Microsoft.Authorization/roleAssignments",
            headers=reader,
            params={**params, "$filter": f"principalId eq '{sp['id']}'"},
        )
        assert [a["name"] for a in listed.json()["value"]] == [name]
        denied = http.delete(url, params=params, headers=reader)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "AuthorizationFailed"

        assert http.delete(url, params=params, headers=_auth(root_arm)).status_code == 200
        assert http.delete(url, params=params, headers=_auth(root_arm)).status_code == 204
        missing = http.get(url, params=params, headers=_auth(root_arm))
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "RoleAssignmentNotFound"


def test_arm_request_errors(azure_double):
    sub = f"/subscriptions/{azure_double.subscription_id}"
    url = f"{sub}/providers/Microsoft.Authorization/roleAssignments/{uuid.uuid4()}"
    root_arm = _auth(azure_double.token(ARM))
    body = {
        "properties": {"roleDefinitionId": azure_double.role_definition_id("Reader"), "principalId": str(uuid.uuid4())}
    }
    with azure_double.client() as http:
        cases = [
            (http.get(url, params={"api-version": "2022-04-01"}), 401, "AuthenticationFailed"),
            (
                http.get(url, params={"api-version": "2022-04-01"}, headers=_auth(azure_double.token())),
                401,
                "InvalidAuthenticationTokenAudience",
            ),
            (http.get(url, headers=root_arm), 400, "MissingApiVersionParameter"),
            (
                http.put(url, params={"api-version": "2022-04-01"}, json=body, headers=root_arm),
                400,
                "PrincipalNotFound",
            ),
            (
                http.put(
                    url.replace(sub, f"/subscriptions/{uuid.uuid4()}"),
                    params={"api-version": "2022-04-01"},
                    json=body,
                    headers=root_arm,
                ),
                404,
                "SubscriptionNotFound",
            ),
            (
                http.put(
                    url.replace(sub, f"{sub}/resourceGroups/nope"),
                    params={"api-version": "2022-04-01"},
                    json=body,
                    headers=root_arm,
                ),
                404,
                "ResourceGroupNotFound",
            ),
            (
                http.put(
                    url.rsplit("/", 1)[0] + "/not-a-guid",
                    params={"api-version": "2022-04-01"},
                    json=body,
                    headers=root_arm,
                ),
                400,
                "InvalidRoleAssignmentId",
            ),
        ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)


def test_replication_delay(azure_double):
    azure_double.propagation_delay = 0.6
    root_graph, root_arm = azure_double.token(), azure_double.token(ARM)
    with azure_double.client() as http:
        app, sp, secret = _new_app_with_secret(azure_double, http, root_graph)
        assert _token_request(azure_double, app["appId"], secret["secretText"]).status_code == 401
        url = (
            f"/subscriptions/{azure_double.subscription_id}/providers/Microsoft.Authorization/"
            f"roleAssignments/{uuid.uuid4()}"
        )
        body = {"properties": {"roleDefinitionId": azure_double.role_definition_id("Reader"), "principalId": sp["id"]}}
        early = http.put(url, params={"api-version": "2022-04-01"}, json=body, headers=_auth(root_arm))
        assert early.status_code == 400 and early.json()["error"]["code"] == "PrincipalNotFound"
        body["properties"]["principalType"] = "ServicePrincipal"
        typed = http.put(url, params={"api-version": "2022-04-01"}, json=body, headers=_auth(root_arm))
        assert typed.status_code == 201
    time.sleep(0.7)
    assert _token_request(azure_double, app["appId"], secret["secretText"]).status_code == 200


def test_fault_injection_throttles_then_recovers(azure_double):
    root = azure_double.token()
    azure_double.fail_next(r"^/v1\.0/applications$", status=429, count=2, method="POST")
    azure_double.fail_next(r"/oauth2/v2\.0/token$", status=503)
    with azure_double.client() as http:
        for _ in range(2):
            throttled = http.post("/v1.0/applications", json={"displayName": "x"}, headers=_auth(root))
            assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
            assert throttled.json()["error"]["code"] == "TooManyRequests"
        assert http.post("/v1.0/applications", json={"displayName": "x"}, headers=_auth(root)).status_code == 201
    unavailable = _token_request(azure_double, azure_double.root_client_id, azure_double.root_client_secret)
    assert unavailable.status_code == 503 and unavailable.json()["error"] == "temporarily_unavailable"
    azure_double.fail_next("/v1.0/", disconnect=True)
    with azure_double.client() as http, pytest.raises(httpx.RemoteProtocolError):
        http.get("/v1.0/applications/x", headers=_auth(root))


def test_request_log_records_callers_without_credentials(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        _, _, secret = _new_app_with_secret(azure_double, http, root)
    log = azure_double.requests
    assert [(r.method, r.status) for r in log] == [("POST", 200), ("POST", 201), ("POST", 201), ("POST", 200)]
    assert {r.caller for r in log} == {azure_double.root_client_id}
    assert log[0].body["client_secret"] == "<redacted>"
    text = repr(log)
    for value in (azure_double.root_client_secret, secret["secretText"], root):
        assert value not in text
    assert len(azure_double.requests_matching("addPassword$", "POST")) == 1


def test_reset_restores_the_seed(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        _new_app_with_secret(azure_double, http, root)
    azure_double.fail_next("/v1.0/", status=500)
    azure_double.reset()
    assert set(azure_double.applications) == {azure_double.root_object_id, azure_double.existing_app_object_id}
    assert azure_double.requests == [] and len(azure_double.role_assignments) == 1
    with azure_double.client() as http:
        seeded = http.get(
            f"/v1.0/applications/{azure_double.existing_app_object_id}", headers=_auth(azure_double.token())
        )
    assert seeded.status_code == 200


def test_upsert_by_unique_name_creates_once_and_addresses_the_application(azure_double):
    root = azure_double.token()
    path = "/v1.0/applications(uniqueName='scaivault-v_x_1')"
    with azure_double.client() as http:
        without_prefer = http.patch(path, json={"displayName": "n"}, headers=_auth(root))
        assert without_prefer.status_code == 404  # an update of nothing
        headers = {**_auth(root), "Prefer": "create-if-missing"}
        created = http.patch(path, json={"displayName": "n"}, headers=headers)
        assert created.status_code == 201
        body = created.json()
        assert body["uniqueName"] == "scaivault-v_x_1" and body["displayName"] == "n"
        assert http.patch(path, json={"displayName": "n"}, headers=headers).status_code == 204  # no second app
        assert [a.id for a in azure_double.applications.values() if a.unique_name] == [body["id"]]
        assert http.get(path, headers=_auth(root)).json()["appId"] == body["appId"]
        no_name = http.patch("/v1.0/applications(uniqueName='other')", json={}, headers=headers)
        assert no_name.status_code == 400
        assert http.delete(path, headers=_auth(root)).status_code == 204
        assert http.get(path, headers=_auth(root)).json()["error"]["code"] == "Request_ResourceNotFound"
        assert http.delete(path, headers=_auth(root)).status_code == 404


def test_service_principal_delete_by_app_id(azure_double):
    root = azure_double.token()
    with azure_double.client() as http:
        path = f"/v1.0/servicePrincipals(appId='{azure_double.existing_app_client_id}')"
        assert http.delete(path, headers=_auth(root)).status_code == 204
        assert http.delete(path, headers=_auth(root)).status_code == 404


def test_role_definitions_list_by_name_and_get(azure_double):
    root_arm = _auth(azure_double.token(ARM))
    scope = f"/subscriptions/{azure_double.subscription_id}/resourceGroups/{azure_double.resource_group}"
    url = f"{scope}/providers/Microsoft.Authorization/roleDefinitions"
    params = {"api-version": "2022-04-01"}
    with azure_double.client() as http:
        [reader] = http.get(url, params={**params, "$filter": "roleName eq 'Reader'"}, headers=root_arm).json()["value"]
        assert reader["id"] == azure_double.role_definition_id("Reader")
        assert reader["properties"]["roleName"] == "Reader" and reader["properties"]["type"] == "BuiltInRole"
        assert (
            http.get(url, params={**params, "$filter": "roleName eq 'reader'"}, headers=root_arm).json()["value"] == []
        )
        assert len(http.get(url, params=params, headers=root_arm).json()["value"]) == 4
        one = http.get(f"{url}/{reader['name']}", params=params, headers=root_arm)
        assert one.status_code == 200 and one.json()["id"] == reader["id"]
        missing = http.get(f"{url}/{uuid.uuid4()}", params=params, headers=root_arm)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "RoleDefinitionDoesNotExist"
