"""The OpenAPI 3.1 document, built from the same ``Operation`` list the routes are built from.

Paths, methods, parameters, permissions and success statuses come from the operations; the
request and response schemas are generated from their classes (``api.bodies``, ``api.results``).
"""

from __future__ import annotations

from typing import Any

import attrs

from ..api import Operation
from ..api.operation import JSON, PATH_PARAMETER
from ..api.results import component_schemas
from ..api.schemas import schema_of
from ..api.vault_api import version

ERROR_TEXT = {
    400: "invalid_request, invalid_config, ttl_exceeds_max or lease_expired",
    401: "unauthenticated: no valid bearer token",
    403: "permission_denied: no policy grants this",
    404: "engine_not_found, role_not_found, lease_not_found, job_not_found or not_found",
    409: "conflict: exists already, or changed concurrently",
    413: "invalid_request: the body is larger than the server's limit",
    429: "quota_exceeded: the engine's or role's max_leases (or the caller's max_leases_per_identity) is reached",
    502: "engine_unreachable or engine_error: the target system is down or refused",
    503: "unavailable: not now (not ready; the failing parts in details.failing)",
}
REQUEST_ID = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}  # on every answer (rest.request_context)
PATH_PARAMETERS = {  # name: (description, example)
    "engine": ("An engine's name.", "support-db"),
    "role": ("A role's name.", "readonly"),
    "name": ("A policy's name.", "reporting-service-dynamic"),
    "identity": ("An identity: sa:<name>, user:<name> or dynamic:<engine>.", "sa:reporting-service"),
    "accessor": ("A token's accessor, as GET /v1/auth/tokens lists it.", "acc_0123456789abcdef"),
    "lease_id": ("A lease id.", "lease_db_abc123xyz"),
    "job_id": ("A job id, as the 202 of a `sync: false` call gave it.", "job_abc123xyz"),
    "path": (
        "A secret path: segments separated by '/'. Over REST its last segment cannot be `rotate`, "
        "`rotation` or `versions`.",
        "infra/postgres/support/root",
    ),
}


def document(operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI document for ``operations``."""
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(PATH_PARAMETER.sub(r"{\1}", op.path), {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ScaiVault",
            "version": version(),
            "description": "Dynamic secrets: short-lived credentials minted on demand, leased, renewed and revoked. "
            'Errors are `{"error": {"code", "message", "details"}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `scaivault init` or POST /v1/auth/tokens.",
                }
            },
            "headers": {
                "RequestId": {
                    "description": "The request's id: the X-Request-ID the request sent, "
                    "if 1 to 128 of A-Za-z0-9._:+/=-, else a new one. "
                    "The server's log lines and the audit entries of the request carry it.",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._:+/=-]{1,128}$"},
                }
            },
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag] if op.tag else []}
    description = " ".join(([f"Needs {op.permission}."] if op.permission else []) + [op.description])
    if description.strip():
        body["description"] = description.strip()
    parameters = [_path_parameter(name) for name in op.path_names()]
    parameters += [
        {"name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": q.schema()}
        for q in op.query
    ]
    if parameters:
        body["parameters"] = parameters
    if op.body is not None:
        body["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": _body_schema(op)}},
        }
    body["security"] = [{"bearer": []}] if op.auth else []
    responses: dict[str, Any] = {}
    if op.status == 204:
        responses["204"] = {"description": "Done; no content.", "headers": REQUEST_ID}
    else:
        schema = _response_schema(op)
        responses[str(op.status)] = {
            "description": "Success.",
            "headers": REQUEST_ID,
            "content": {op.media_type: {"schema": schema}},
        }
    if op.accepted is not None:
        responses["202"] = {
            "description": "Accepted as a job (`sync: false`): follow it at its Location.",
            "headers": {
                **REQUEST_ID,
                "Location": {"description": "The job: GET /v1/sys/jobs/{job_id}.", "schema": {"type": "string"}},
            },
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{op.accepted.__name__}"}}},
        }
    statuses = {400, *op.errors, *((401, 403) if op.auth else ())}
    if op.body is not None:
        statuses.add(413)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": ERROR_TEXT.get(status, "An error."),
            "headers": REQUEST_ID,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    body["responses"] = responses
    return body


def _body_schema(op: Operation) -> dict[str, Any]:
    """A body class's generated schema; a plugin's ``dict`` body's (or an older plugin class's) own."""
    if op.body is dict:
        return op.body_schema or {"type": "object"}
    given = getattr(op.body, "schema", None)
    return given if isinstance(given, dict) else schema_of(op.body, closed=True)


def _response_schema(op: Operation) -> dict[str, Any]:
    """A component (a class of ``api.results``, or its name), a plugin's inline schema, or a string
    for text and bytes."""
    if isinstance(op.response, dict):
        return op.response
    if op.response:
        name = op.response.__name__ if attrs.has(op.response) else op.response
        return {"$ref": f"#/components/schemas/{name}"}
    if op.media_type == JSON:
        return {}
    return {"type": "string"} if op.media_type.startswith("text/") else {"type": "string", "format": "binary"}


def _path_parameter(name: str) -> dict[str, Any]:
    """A path parameter; a plugin's own parameter names are described by name only."""
    description, example = PATH_PARAMETERS.get(name, (f"The {name}.", None))
    parameter = {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }
    if example is not None:
        parameter["example"] = example
    return parameter
