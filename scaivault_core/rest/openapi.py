"""The OpenAPI 3.1 document, built from the same ``Operation`` list the routes are built from.

Paths, methods, parameters, request bodies and success statuses come from the operations; the
response shapes are written here as data, one schema per model's ``to_dict``.
"""

from __future__ import annotations

import re
from typing import Any

from .api import LEASE_STATES, version
from .routing import JSON, Operation

NULLABLE_STRING = {"type": ["string", "null"]}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _obj(properties: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": list(properties) if required is None else required}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def _list(key: str, item: str) -> dict[str, Any]:
    return _obj({key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}})


RULE = _obj({"path_pattern": {"type": "string"}, "permissions": {"type": "array", "items": {"type": "string"}}})

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": _obj({"code": {"type": "string"}, "message": {"type": "string"},
                                  "details": {"type": "object"}})}),
    "Health": _obj({"status": {"type": "string", "enum": ["ok"]}, "version": {"type": "string"}}),
    "OpenAPI": {"type": "object"},
    "PluginList": _obj({"plugins": {"type": "array", "items": _obj({
        "name": {"type": "string"}, "version": NULLABLE_STRING, "engines": {"type": "array", "items": {"type": "string"}},
        "error": NULLABLE_STRING})}}),
    "NewToken": _obj({"token": {"type": "string"}, "accessor": {"type": "string"}, "identity": {"type": "string"},
                      "expires_at": NULLABLE_TIME}),
    "TokenInfo": _obj({"accessor": {"type": "string"}, "identity": {"type": "string"}, "created_at": TIME,
                       "expires_at": NULLABLE_TIME, "revoked": {"type": "boolean"}, "display_name": {"type": "string"},
                       "parent": {**NULLABLE_STRING, "description": "Accessor of the token that minted this one."},
                       "ceilings": {"type": "array", "items": {"type": "string"},
                                    "description": "Identities that must also allow whatever this token does."}}),
    "TokenList": _list("tokens", "TokenInfo"),
    "SecretVersion": _obj({"path": {"type": "string"}, "version": {"type": "integer"}, "secret_type": {"type": "string"},
                           "created_at": TIME, "created_by": {"type": "string"}, "reason": NULLABLE_STRING,
                           "retired_at": NULLABLE_TIME, "data": {"description": "Only when reading."}},
                          required=["path", "version", "secret_type", "created_at", "created_by"]),
    "SecretVersionList": _obj({"path": {"type": "string"}, "versions": {"type": "array", "items": {
        "$ref": "#/components/schemas/SecretVersion"}}}),
    "RotationPeriod": _obj({"path": {"type": "string"},
                            "period": {**NULLABLE_STRING, "description": "e.g. '720h'; null: no scheduled rotation."},
                            "grace_period": {**NULLABLE_STRING, "description": "How long each previous version stays valid."}}),
    "Metrics": {"type": "string", "description": "Prometheus text exposition format 0.0.4."},
    "Policy": _obj({"name": {"type": "string"}, "rules": {"type": "array", "items": RULE},
                    "description": {"type": "string"}}),
    "PolicyList": _list("policies", "Policy"),
    "Binding": _obj({"policy": {"type": "string"}, "identity": {"type": "string"}}),
    "BindingList": _obj({"policy": {"type": "string"}, "identities": {"type": "array", "items": {"type": "string"}}}),
    "Engine": _obj({"name": {"type": "string"}, "type": {"type": "string"}, "config": {"type": "object"},
                    "default_ttl": {"type": "string"}, "max_ttl": {"type": "string"},
                    "max_leases": {"type": ["integer", "null"]}, "max_leases_per_identity": {"type": ["integer", "null"]},
                    "created_at": TIME, "updated_at": TIME}),
    "EngineList": _list("engines", "Engine"),
    "Role": _obj({"name": {"type": "string"}, "engine": {"type": "string"}, "default_ttl": NULLABLE_STRING,
                  "max_ttl": NULLABLE_STRING, "max_leases": {"type": ["integer", "null"]},
                  "max_leases_per_identity": {"type": ["integer", "null"]}, "created_at": TIME, "updated_at": TIME}),
    "RoleList": _list("roles", "Role"),
    "Credentials": _obj({"lease_id": {"type": "string"}, "data": {"type": "object"},
                         "lease_duration": {"type": "string"}, "renewable": {"type": "boolean"}, "expires_at": TIME}),
    "RenewResult": _obj({"lease_id": {"type": "string"}, "lease_duration": {"type": "string"},
                         "renewable": {"type": "boolean"}, "expires_at": TIME, "max_expires_at": TIME,
                         "capped": {"type": "boolean"}, "data": {"type": "object"}},
                        required=["lease_id", "lease_duration", "renewable", "expires_at", "max_expires_at", "capped"]),
    "Lease": _obj({"lease_id": {"type": "string"}, "engine": {"type": "string"}, "role": {"type": "string"},
                   "identity": {"type": "string"}, "state": {"type": "string", "enum": [s for s in LEASE_STATES if s != "live"]},
                   "subject": {"type": "string"}, "renewable": {"type": "boolean"}, "issued_at": TIME,
                   "expires_at": TIME, "max_expires_at": TIME, "metadata": {"type": "object"},
                   "attempts": {"type": "integer"}, "last_error": NULLABLE_STRING, "revoked_at": NULLABLE_TIME}),
    "LeaseList": _obj({"leases": {"type": "array", "items": {"$ref": "#/components/schemas/Lease"}},
                       "next": {**NULLABLE_STRING, "description": "Pass as `after` for the next page; null at the end."}}),
    "AuditEntry": _obj({"id": {"type": "integer"}, "time": TIME, "identity": {"type": "string"},
                        "operation": {"type": "string"}, "path": {"type": "string"},
                        "outcome": {"type": "string", "description": "`ok` or an error code."},
                        "lease_id": NULLABLE_STRING,
                        "details": {"type": "object", "description": "Secret values only as keyed hashes."}}),
    "AuditList": _obj({"entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
                       "next": {"type": ["integer", "null"],
                                "description": "Pass as `after` for the next page; null at the end."}}),
    "ReconcileResult": _obj({"engine": {"type": "string"},
                             "orphans": {"type": "array", "items": {"type": "string"}},
                             "revoked": {"type": "array", "items": {"type": "string"}},
                             "failed": {"type": "array", "items": _obj({"subject": {"type": "string"},
                                                                        "code": {"type": "string"},
                                                                        "message": {"type": "string"}})},
                             "skipped": {"type": "array", "items": _obj({"subject": {"type": "string"},
                                                                         "reason": {"type": "string"}})}}),
    "RevokePrefixResult": _obj({"revoked": {"type": "integer"}, "in_progress": {"type": "integer"},
                                "failed": {"type": "array", "items": _obj({"lease_id": {"type": "string"},
                                                                           "code": {"type": "string"},
                                                                           "message": {"type": "string"}})}}),
}

ERROR_TEXT = {
    400: "invalid_request, invalid_config, ttl_exceeds_max or lease_expired",
    401: "unauthenticated: no valid bearer token",
    403: "permission_denied: no policy grants this",
    404: "engine_not_found, role_not_found, lease_not_found or not_found",
    409: "conflict: exists already, or changed concurrently",
    413: "invalid_request: the body is larger than the server's limit",
    429: "quota_exceeded: the engine's or role's max_leases (or the caller's max_leases_per_identity) is reached",
    502: "engine_unreachable or engine_error: the target system is down or refused",
}
PATH_PARAMETERS = {  # name: (description, example)
    "engine": ("An engine's name.", "support-db"),
    "role": ("A role's name.", "readonly"),
    "name": ("A policy's name.", "reporting-service-dynamic"),
    "identity": ("An identity: sa:<name>, user:<name> or dynamic:<engine>.", "sa:reporting-service"),
    "accessor": ("A token's accessor, as GET /v1/auth/tokens lists it.", "acc_0123456789abcdef"),
    "lease_id": ("A lease id.", "lease_db_abc123xyz"),
    "path": ("A secret path: segments separated by '/'. Over REST its last segment cannot be `rotate`, "
             "`rotation` or `versions`.", "infra/postgres/support/root"),
}
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def document(operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI document for ``operations``."""
    paths: dict[str, Any] = {}
    for op in operations:
        paths.setdefault(_PARAM.sub(r"{\1}", op.path), {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ScaiVault", "version": version(),
                 "description": "Dynamic secrets: short-lived credentials minted on demand, leased, renewed and revoked. "
                                "Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "A token from `scaivault init` or POST /v1/auth/tokens."}},
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag] if op.tag else []}
    if op.description:
        body["description"] = op.description
    parameters = [_path_parameter(name) for name in _PARAM.findall(op.path)]
    parameters += [{"name": q.name, "in": "query", "required": False, "description": q.description, "schema": q.schema()}
                   for q in op.query]
    if parameters:
        body["parameters"] = parameters
    if op.body is not None:
        schema = op.body_schema if op.body is dict else op.body.schema
        body["requestBody"] = {"required": op.body_required, "content": {"application/json": {"schema": schema}}}
    body["security"] = [{"bearer": []}] if op.auth else []
    responses: dict[str, Any] = {}
    if op.status == 204:
        responses["204"] = {"description": "Done; no content."}
    else:
        schema = _response_schema(op)
        responses[str(op.status)] = {"description": "Success.", "content": {op.media_type: {"schema": schema}}}
    statuses = {400, *op.errors, *((401, 403) if op.auth else ())}
    if op.body is not None:
        statuses.add(413)
    for status in sorted(statuses):
        responses[str(status)] = {"description": ERROR_TEXT.get(status, "An error."),
                                  "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    body["responses"] = responses
    return body


def _response_schema(op: Operation) -> dict[str, Any]:
    """A component by name (the core's), a plugin's inline schema, or a string for text and bytes."""
    if isinstance(op.response, dict):
        return op.response
    if op.response:
        return {"$ref": f"#/components/schemas/{op.response}"}
    if op.media_type == JSON:
        return {}
    return {"type": "string"} if op.media_type.startswith("text/") else {"type": "string", "format": "binary"}


def _path_parameter(name: str) -> dict[str, Any]:
    """A path parameter; a plugin's own parameter names are described by name only."""
    description, example = PATH_PARAMETERS.get(name, (f"The {name}.", None))
    parameter = {"name": name, "in": "path", "required": True, "description": description,
                 "schema": {"type": "string", "minLength": 1}}
    if example is not None:
        parameter["example"] = example
    return parameter
