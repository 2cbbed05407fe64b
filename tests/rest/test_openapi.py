"""Property-based testing of the served OpenAPI document against the server (schemathesis).

schemathesis runs all its phases (examples, coverage, fuzzing, stateful) and the checks below
against a real HTTP server (uvicorn) serving the app over the core's memory-engine vault, set up
with the names the document's examples use (engine ``support-db``, role ``readonly``, ...), as the
admin so requests get past authorisation and really issue, renew and revoke. It must find no
5xx, no answer outside the document (status, content type, headers, body), no schema-invalid
input accepted, no undeclared method answered, no operation that works without a token, nothing
still served after it was deleted, and nothing missing right after it was created.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scaivault_core.rest import create_app
from scaivault_core.testing.servers import ThreadedServer

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "unsupported_method",
        "ignored_auth",
        "missing_required_header",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
    ]
)


def test_server_conforms_to_its_openapi_document(make_vault, target, tmp_path):
    vault = make_vault(start_worker=True)  # as a server runs, so it is ready (GET /v1/health/ready)
    vault.put_secret("infra/postgres/support/root", {"username": "scaivault_admin", "password": "REDACTED"})
    vault.create_engine("support-db", "database", {"plugin": "memory"}, default_ttl="1h", max_ttl="24h")
    vault.create_role("support-db", "readonly", default_ttl="1h", max_ttl="8h")
    vault.create_policy(
        "reporting-service-dynamic",
        [{"path_pattern": "dynamic/engines/support-db/roles/readonly", "permissions": ["read"]}],
    )
    vault.bind_policy("reporting-service-dynamic", "sa:reporting-service")
    vault.issue("support-db", "readonly", ttl="2h")
    token = vault.create_admin_token()
    with ThreadedServer(create_app(vault)) as server:
        st = Path(sys.executable).with_name("st")
        result = subprocess.run(
            [
                str(st),
                "run",
                f"{server.url}/v1/openapi.json",
                "--checks",
                CHECKS,
                "-H",
                f"Authorization: Bearer {token}",
                "--workers",
                "1",
                "--max-examples",
                "50",
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,
        )
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
