"""The GCP double answers the documented requests the way Google does, for real clients."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest
from google.auth import crypt, jwt
from google.auth.exceptions import RefreshError

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _keys_url(double, email, project="-") -> str:
    return f"/v1/projects/{project}/serviceAccounts/{email}/keys"


def _create_key(double, http, token, email=None):
    return http.post(
        _keys_url(double, email or double.target_email),
        headers=_auth(token),
        json={"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE", "keyAlgorithm": "KEY_ALG_RSA_2048"},
    )


def _generate(double, http, token, email=None, project="-", **body):
    return http.post(
        f"/v1/projects/{project}/serviceAccounts/{email or double.target_email}:generateAccessToken",
        headers=_auth(token),
        json={"scope": [CLOUD_PLATFORM], **body},
    )


def test_google_auth_refreshes_the_root_key_against_the_double(gcp_double):
    credentials = gcp_double.credentials()
    credentials.refresh(gcp_double.auth_request())
    assert credentials.token.startswith("ya29.") and credentials.valid
    with gcp_double.client() as http:
        info = http.get("/tokeninfo", params={"access_token": credentials.token}).json()
    assert info["email"] == gcp_double.root_email and info["scope"] == CLOUD_PLATFORM
    assert 3500 < int(info["expires_in"]) <= 3599


def test_created_key_works_until_deleted(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        created = _create_key(gcp_double, http, root)
        assert created.status_code == 200
        body = created.json()
        assert body["keyType"] == "USER_MANAGED" and body["keyOrigin"] == "GOOGLE_PROVIDED"
        assert body["privateKeyType"] == "TYPE_GOOGLE_CREDENTIALS_FILE"
        assert body["keyAlgorithm"] == "KEY_ALG_RSA_2048" and body["validBeforeTime"] == "9999-12-31T23:59:59Z"
        info = json.loads(base64.b64decode(body["privateKeyData"]))
        assert info["type"] == "service_account" and info["client_email"] == gcp_double.target_email
        assert info["token_uri"] == gcp_double.token_uri and info["project_id"] == gcp_double.project_id
        assert body["name"] == (
            f"projects/{gcp_double.project_id}/serviceAccounts/{gcp_double.target_email}/keys/{info['private_key_id']}"
        )
        assert gcp_double.token(info)  # the new key signs its own token request

        key_url = f"{_keys_url(gcp_double, gcp_double.target_email)}/{info['private_key_id']}"
        deleted = http.delete(key_url, headers=_auth(root))
        assert (deleted.status_code, deleted.json()) == (200, {})
        with pytest.raises(RefreshError, match="invalid_grant: Invalid JWT Signature."):
            gcp_double.token(info)
        again = http.delete(key_url, headers=_auth(root))
        assert again.status_code == 400 and again.json()["error"]["status"] == "FAILED_PRECONDITION"
        missing = http.get(key_url, headers=_auth(root))
        assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


def test_list_keys_includes_system_managed_unless_filtered(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        url = _keys_url(gcp_double, gcp_double.target_email, gcp_double.project_id)
        everything = http.get(url, headers=_auth(root)).json()["keys"]
        assert [k["keyType"] for k in everything] == ["SYSTEM_MANAGED"]
        assert "privateKeyData" not in everything[0]
        # proto3 JSON leaves an empty list out entirely.
        assert http.get(url, params={"keyTypes": "USER_MANAGED"}, headers=_auth(root)).json() == {}
        _create_key(gcp_double, http, root)
        user = http.get(url, params={"keyTypes": "USER_MANAGED"}, headers=_auth(root)).json()["keys"]
        assert [k["keyType"] for k in user] == ["USER_MANAGED"]
        bad = http.get(url, params={"keyTypes": "BOTH"}, headers=_auth(root))
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_eleventh_user_managed_key_is_a_failed_precondition(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        for _ in range(10):
            assert _create_key(gcp_double, http, root).status_code == 200
        refused = _create_key(gcp_double, http, root)
    assert refused.status_code == 400
    assert refused.json() == {
        "error": {"code": 400, "message": "Precondition check failed.", "status": "FAILED_PRECONDITION"}
    }
    assert len(gcp_double.user_managed_keys(gcp_double.target_email)) == 10


def test_key_request_validation(gcp_double):
    root = gcp_double.token()
    url = _keys_url(gcp_double, gcp_double.target_email)
    with gcp_double.client() as http:
        unknown = http.post(
            url,
            headers=_auth(root),
            json={"privateKeyType": "TYPE_GOOGLE_CREDENTIALS_FILE", "keyAlgo": "KEY_ALG_RSA_2048"},
        )
        bad_enum = http.post(url, headers=_auth(root), json={"privateKeyType": "JSON"})
        defaults = http.post(url, headers=_auth(root))
    assert unknown.status_code == 400 and 'Unknown name "keyAlgo"' in unknown.json()["error"]["message"]
    assert bad_enum.status_code == 400 and "private_key_type" in bad_enum.json()["error"]["message"]
    assert defaults.status_code == 200 and defaults.json()["keyAlgorithm"] == "KEY_ALG_RSA_2048"


def test_iam_authentication_and_permission_errors(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        target_key = json.loads(base64.b64decode(_create_key(gcp_double, http, root).json()["privateKeyData"]))
        target = gcp_double.token(target_key)
        narrow = gcp_double.token(scopes=["https://www.googleapis.com/auth/devstorage.read_only"])
        nobody = f"nobody@{gcp_double.project_id}.iam.gserviceaccount.com"
        cases = [
            (http.get(_keys_url(gcp_double, gcp_double.target_email)), 401, "UNAUTHENTICATED"),
            (
                http.get(_keys_url(gcp_double, gcp_double.target_email), headers=_auth("ya29.nope")),
                401,
                "UNAUTHENTICATED",
            ),
            (http.get(_keys_url(gcp_double, gcp_double.target_email), headers=_auth(narrow)), 403, "PERMISSION_DENIED"),
            (_create_key(gcp_double, http, target, gcp_double.root_email), 403, "PERMISSION_DENIED"),
            (_create_key(gcp_double, http, root, nobody), 404, "NOT_FOUND"),
        ]
    for response, status, name in cases:
        error = response.json()["error"]
        assert (response.status_code, error["code"], error["status"]) == (status, status, name)
    denied = cases[3][0].json()["error"]
    assert denied["message"] == ("Permission 'iam.serviceAccountKeys.create' denied on resource (or it may not exist).")
    assert denied["details"][0]["reason"] == "IAM_PERMISSION_DENIED"
    assert cases[2][0].json()["error"]["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_generate_access_token_for_the_target(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        issued = _generate(gcp_double, http, root, lifetime="600s")
        assert issued.status_code == 200 and set(issued.json()) == {"accessToken", "expireTime"}
        info = http.get("/tokeninfo", params={"access_token": issued.json()["accessToken"]}).json()
        assert info["email"] == gcp_double.target_email and 590 < int(info["expires_in"]) <= 600
        assert issued.json()["expireTime"].endswith("Z")

        too_long = _generate(gcp_double, http, root, lifetime="3601s")
        assert too_long.status_code == 400 and too_long.json()["error"]["status"] == "INVALID_ARGUMENT"
        gcp_double.extended_lifetime_accounts.add(gcp_double.target_email)
        assert _generate(gcp_double, http, root, lifetime="43200s").status_code == 200
        assert _generate(gcp_double, http, root, lifetime="43201s").status_code == 400


def test_generate_access_token_refusals(gcp_double):
    root = gcp_double.token()
    nobody = f"nobody@{gcp_double.project_id}.iam.gserviceaccount.com"
    with gcp_double.client() as http:
        self_impersonation = _generate(gcp_double, http, root, email=gcp_double.root_email)
        unknown = _generate(gcp_double, http, root, email=nobody)
        with_project = _generate(gcp_double, http, root, project=gcp_double.project_id)
        bad_lifetime = _generate(gcp_double, http, root, lifetime="an hour")
        no_scope = http.post(
            f"/v1/projects/-/serviceAccounts/{gcp_double.target_email}:generateAccessToken",
            headers=_auth(root),
            json={"scope": []},
        )
        gcp_double.revoke(gcp_double.root_email, "roles/iam.serviceAccountTokenCreator", on=gcp_double.target_email)
        revoked = _generate(gcp_double, http, root)
    assert self_impersonation.status_code == 403
    assert self_impersonation.json()["error"]["message"].startswith(
        "Permission 'iam.serviceAccounts.getAccessToken' denied"
    )
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == f"Not found; Gaia id not found for email {nobody}"
    for response in (with_project, bad_lifetime, no_scope):
        assert response.status_code == 400 and response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert revoked.status_code == 403


def test_token_endpoint_checks_the_jwt(gcp_double):
    info = gcp_double.root_key_info
    signer = crypt.RSASigner.from_service_account_info(info)
    now = int(time.time())
    good = {
        "iss": info["client_email"],
        "aud": "https://oauth2.googleapis.com/token",
        "scope": CLOUD_PLATFORM,
        "iat": now,
        "exp": now + 3600,
    }

    def grant(claims, key_id=info["private_key_id"], grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer"):
        assertion = jwt.encode(signer, claims, key_id=key_id).decode()
        with gcp_double.client() as http:
            return http.post("/token", data={"grant_type": grant_type, "assertion": assertion})

    assert grant(good).status_code == 200
    assert grant({**good, "aud": gcp_double.token_uri}).status_code == 200
    cases = [
        (grant(good, key_id="0" * 40), "invalid_grant", "Invalid JWT Signature."),
        (grant({**good, "iss": gcp_double.target_email}), "invalid_grant", "Invalid JWT Signature."),
        (grant({**good, "aud": "https://example.com/token"}), "invalid_grant", "Invalid JWT: Failed audience"),
        (grant({**good, "iat": now - 7200, "exp": now - 3600}), "invalid_grant", "Invalid JWT: Token must be"),
        (grant({**good, "exp": now + 7200}), "invalid_grant", "Invalid JWT: Token must be"),
        (grant({k: v for k, v in good.items() if k != "scope"}), "invalid_scope", "Invalid OAuth scope"),
        (grant(good, grant_type="client_credentials"), "unsupported_grant_type", "Invalid grant_type"),
    ]
    for response, error, description in cases:
        assert response.status_code == 400
        assert response.json()["error"] == error and response.json()["error_description"].startswith(description)


def test_expired_tokens_are_refused(gcp_double):
    root = gcp_double.token()
    gcp_double.expire_tokens()
    with gcp_double.client() as http:
        refused = http.get(_keys_url(gcp_double, gcp_double.target_email), headers=_auth(root))
        info = http.get("/tokeninfo", params={"access_token": root})
    assert refused.status_code == 401
    assert info.status_code == 400 and info.json() == {"error": "invalid_token", "error_description": "Invalid Value"}


def test_faults_throttle_and_google_auth_retries_server_errors(gcp_double):
    gcp_double.fail_next("^/token$", status=503)
    assert gcp_double.token()  # google-auth retries a 503 from the token endpoint
    assert [r.status for r in gcp_double.requests_matching("^/token$")] == [503, 200]
    root = gcp_double.token()
    gcp_double.fail_next("/keys$", status=429, method="POST")
    with gcp_double.client() as http:
        throttled = _create_key(gcp_double, http, root)
        assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
        assert throttled.json()["error"] == {"code": 429, "message": "Injected fault.", "status": "RESOURCE_EXHAUSTED"}
        assert _create_key(gcp_double, http, root).status_code == 200
    gcp_double.fail_next(":generateAccessToken$", disconnect=True)
    with gcp_double.client() as http, pytest.raises(httpx.RemoteProtocolError):
        _generate(gcp_double, http, root)


def test_request_log_records_callers_without_credentials(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        key = _create_key(gcp_double, http, root).json()
        issued = _generate(gcp_double, http, root).json()
    log = gcp_double.requests
    assert [(r.method, r.path, r.caller) for r in log] == [
        ("POST", "/token", gcp_double.root_email),
        ("POST", _keys_url(gcp_double, gcp_double.target_email), gcp_double.root_email),
        (
            "POST",
            f"/v1/projects/-/serviceAccounts/{gcp_double.target_email}:generateAccessToken",
            gcp_double.root_email,
        ),
    ]
    assert log[0].body["assertion"] == "<redacted>"
    text = repr(log)
    for value in (root, key["privateKeyData"], issued["accessToken"], gcp_double.root_key_info["private_key"]):
        assert value not in text


def test_reset_restores_the_seed(gcp_double):
    root = gcp_double.token()
    with gcp_double.client() as http:
        _create_key(gcp_double, http, root)
    email = gcp_double.add_service_account("extra")
    gcp_double.extended_lifetime_accounts.add(email)
    gcp_double.reset()
    assert set(gcp_double.accounts) == {gcp_double.root_email, gcp_double.target_email}
    assert gcp_double.user_managed_keys(gcp_double.target_email) == []
    assert [k.id for k in gcp_double.user_managed_keys(gcp_double.root_email)] == [gcp_double.root_key_id]
    assert gcp_double.requests == [] and gcp_double.extended_lifetime_accounts == set()
    assert gcp_double.token()
