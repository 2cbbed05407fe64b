"""How records map to table rows, column by column, and the SQL both store backends share.

The SQLite and PostgreSQL stores differ in SQL dialect and connection handling, not in what a row
holds; their tables mirror each other column for column. What they would otherwise each write
(the lease states as SQL, the compare-and-set lease update, the filtered lease and audit lists)
is built here once, in SQL both dialects read, with the dialect's placeholder as a parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..models import (
    POOL_IDENTITY,
    AuditEvent,
    EngineRecord,
    Job,
    Lease,
    LeaseState,
    Policy,
    RoleRecord,
    Rule,
    SecretVersion,
    Token,
)
from . import LEASE_COLUMNS

ENGINE_COLUMNS = (
    "name",
    "type",
    "plugin",
    "config",
    "root_credentials_path",
    "default_ttl",
    "max_ttl",
    "max_leases",
    "created_at",
    "updated_at",
    "max_leases_per_identity",
)
ROLE_COLUMNS = (
    "engine",
    "name",
    "params",
    "default_ttl",
    "max_ttl",
    "max_leases",
    "created_at",
    "updated_at",
    "max_leases_per_identity",
)
SECRET_COLUMNS = ("path", "version", "secret_type", "created_at", "created_by", "reason", "retired_at")
TOKEN_COLUMNS = (
    "accessor",
    "token_hash",
    "identity",
    "created_at",
    "expires_at",
    "revoked",
    "display_name",
    "parent",
    "ceilings",
)
# The accessors of the token named by the parameter and of every token minted from it, however far
# down (both dialects; a subquery, as Python's sqlite3 counts no rows for a statement starting WITH).
TOKEN_TREE = (
    "(WITH RECURSIVE tree(accessor) AS (SELECT accessor FROM tokens WHERE accessor = {param} "
    "UNION SELECT t.accessor FROM tokens t JOIN tree ON t.parent = tree.accessor) SELECT accessor FROM tree)"
)
LEASE_LIST_COLUMNS = tuple(c for c in LEASE_COLUMNS if c != "sealed_handle")


def sql_list(values: Iterable[str]) -> str:
    """``('a', 'b')``: known words as a literal SQL list (never a request's values)."""
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# Literal rather than bound, so each planner can use the partial indexes written on these states.
LIVE_STATES = sql_list(LeaseState.LIVE)
UNFINISHED_STATES = sql_list(LeaseState.UNFINISHED)


def lease_update(lease_id: str, changes: dict[str, Any], expect: dict[str, Any], param: str) -> tuple[str, list[Any]]:
    """The compare-and-set ``UPDATE`` behind both stores' ``update_lease``, and its parameters.

    ``changes`` apply only if every ``expect`` column still holds its value (a tuple: one of them;
    None: NULL). ``param`` is the dialect's placeholder (``?`` or ``%s``). Column names are checked
    against the table's, since they are written into the statement.
    """
    return _compare_and_set("leases", "lease_id", LEASE_COLUMNS, ("metadata",), lease_id, changes, expect, param)


def job_update(job_id: str, changes: dict[str, Any], expect: dict[str, Any], param: str) -> tuple[str, list[Any]]:
    """The compare-and-set ``UPDATE`` behind both stores' ``update_job`` (as ``lease_update``)."""
    return _compare_and_set("jobs", "job_id", JOB_COLUMNS, JOB_JSON, job_id, changes, expect, param)


def _compare_and_set(
    table: str,
    key: str,
    columns: tuple[str, ...],
    json_columns: tuple[str, ...],
    key_value: str,
    changes: dict[str, Any],
    expect: dict[str, Any],
    param: str,
) -> tuple[str, list[Any]]:
    sets, params = _sets(table, columns, json_columns, changes, param)
    where = [f"{key} = {param}"]
    params.append(key_value)
    for column, value in expect.items():
        column = _checked(table, columns, column)
        if isinstance(value, tuple):
            where.append(f"{column} IN ({', '.join([param] * len(value))})")
            params.extend(value)
        elif value is None:
            where.append(f"{column} IS NULL")
        else:
            where.append(f"{column} = {param}")
            params.append(value)
    return f"UPDATE {table} SET {sets} WHERE {' AND '.join(where)}", params


def _sets(
    table: str, columns: tuple[str, ...], json_columns: tuple[str, ...], changes: dict[str, Any], param: str
) -> tuple[str, list[Any]]:
    """``a = ?, b = ?`` for the columns of ``changes``, and their values (JSON columns encoded)."""
    sets, params = [], []
    for column, value in changes.items():
        sets.append(f"{_checked(table, columns, column)} = {param}")
        params.append(json.dumps(value) if column in json_columns and value is not None else value)
    return ", ".join(sets), params


def _checked(table: str, columns: tuple[str, ...], column: str) -> str:
    """A column name, checked against the table's: it is written into the statement."""
    if column not in columns:
        raise ValueError(f"{table} has no column {column!r}")
    return column


JOB_COLUMNS = (
    "job_id",
    "operation",
    "params",
    "identity",
    "ceilings",
    "state",
    "done",
    "total",
    "result",
    "error",
    "created_at",
    "updated_at",
    "finished_at",
    "claimed_by",
    "claim_deadline",
)
JOB_JSON = ("params", "ceilings", "result", "error")


def job_row(job: Job) -> tuple:
    return tuple(
        json.dumps(getattr(job, c)) if c in JOB_JSON and getattr(job, c) is not None else getattr(job, c)
        for c in JOB_COLUMNS
    )


def job_from_row(row: Iterable[Any]) -> Job:
    values = dict(zip(JOB_COLUMNS, row, strict=True))
    for column in JOB_JSON:
        if values[column] is not None:
            values[column] = json.loads(values[column])
    return Job(**values)


def lease_sets(changes: dict[str, Any], param: str) -> tuple[str, list[Any]]:
    """``a = ?, b = ?`` for the lease columns of ``changes``, and their values."""
    return _sets("leases", LEASE_COLUMNS, ("metadata",), changes, param)


def pool_count_query(param: str) -> str:
    """A role's pool: its pooled users, and the ones being made (intents of the pool identity)."""
    return (
        f"SELECT COUNT(*) FROM leases WHERE engine = {param} AND role = {param} AND "
        f"(state = '{LeaseState.POOLED}' OR (state = '{LeaseState.INTENT}' AND identity = '{POOL_IDENTITY}'))"
    )


def pooled_query(param: str, engine: str, role: str | None, limit: int) -> tuple[str, list[Any]]:
    """``SELECT lease_id`` of up to ``limit`` pooled users of an engine (of one role, if given), and its parameters."""
    conditions, params = equal_to((("engine", engine), ("role", role)), param)
    conditions.append(f"state = '{LeaseState.POOLED}'")
    return f"SELECT lease_id FROM leases{where(conditions)} LIMIT {param}", [*params, limit]


def engine_row(e: EngineRecord) -> tuple:
    return (
        e.name,
        e.type,
        e.plugin,
        json.dumps(e.config),
        e.root_credentials_path,
        e.default_ttl,
        e.max_ttl,
        e.max_leases,
        e.created_at,
        e.updated_at,
        e.max_leases_per_identity,
    )


def engine_from_row(row: Iterable[Any]) -> EngineRecord:
    values = dict(zip(ENGINE_COLUMNS, row, strict=True))
    values["config"] = json.loads(values["config"])
    return EngineRecord(**values)


def role_row(r: RoleRecord) -> tuple:
    return (
        r.engine,
        r.name,
        json.dumps(r.params),
        r.default_ttl,
        r.max_ttl,
        r.max_leases,
        r.created_at,
        r.updated_at,
        r.max_leases_per_identity,
    )


def role_from_row(row: Iterable[Any]) -> RoleRecord:
    values = dict(zip(ROLE_COLUMNS, row, strict=True))
    values["params"] = json.loads(values["params"])
    return RoleRecord(**values)


def secret_from_row(row: Iterable[Any]) -> SecretVersion:
    return SecretVersion(**dict(zip(SECRET_COLUMNS, row, strict=True)), data=None)


def token_row(t: Token) -> tuple:
    return (
        t.accessor,
        t.token_hash,
        t.identity,
        t.created_at,
        t.expires_at,
        t.revoked,
        t.display_name,
        t.parent,
        json.dumps(list(t.ceilings)),
    )


def token_from_row(row: Iterable[Any]) -> Token:
    values = dict(zip(TOKEN_COLUMNS, row, strict=True))
    values["revoked"] = bool(values["revoked"])  # SQLite stores 0/1
    values["ceilings"] = json.loads(values["ceilings"] or "[]")  # tokens from before ceilings have none
    return Token(**values)


def rules_json(policy: Policy) -> str:
    return json.dumps([{"path_pattern": r.path_pattern, "permissions": list(r.permissions)} for r in policy.rules])


def policy_from_row(row: Iterable[Any]) -> Policy:
    name, rules, description = row
    return Policy(name=name, rules=[Rule(**r) for r in json.loads(rules)], description=description or "")


def lease_from_row(row: Iterable[Any]) -> tuple[Lease, bytes]:
    """A lease and its sealed handle, from a row of ``LEASE_COLUMNS``."""
    values = dict(zip(LEASE_COLUMNS, row, strict=True))
    sealed = values.pop("sealed_handle")
    return _lease(values), sealed


def listed_lease_from_row(row: Iterable[Any]) -> Lease:
    """A lease from a row of ``LEASE_LIST_COLUMNS`` (a listing leaves the sealed handle out)."""
    return _lease(dict(zip(LEASE_LIST_COLUMNS, row, strict=True)))


def _lease(values: dict[str, Any]) -> Lease:
    values["metadata"] = json.loads(values["metadata"] or "{}")
    values["renewable"] = bool(values["renewable"])  # SQLite stores 0/1
    return Lease(**values)


def where(conditions: list[str]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def equal_to(pairs: Iterable[tuple[str, Any]], param: str) -> tuple[list[str], list[Any]]:
    """Conditions for the (column, value) pairs whose value is given, and their parameters.

    Literal conditions rather than ``? IS NULL OR ...``: the planner then picks the index that fits.
    """
    conditions, params = [], []
    for column, value in pairs:
        if value is not None:
            conditions.append(f"{column} = {param}")
            params.append(value)
    return conditions, params


def lease_list_query(
    param: str,
    *,
    engine: str | None,
    role: str | None,
    identity: str | None,
    states: Iterable[str] | None,
    prefix: str | None,
    after: str | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """``list_leases``: leases by filter, ordered by id, a page after ``after``."""
    conditions, params = equal_to((("engine", engine), ("role", role), ("identity", identity)), param)
    if states:
        states = tuple(states)
        conditions.append(f"state IN ({', '.join([param] * len(states))})")
        params.extend(states)
    else:  # pooled users are no leases until issued: listed only when asked for by state
        conditions.append(f"state <> '{LeaseState.POOLED}'")
    if prefix:
        conditions.append(f"substr(lease_id, 1, {param}) = {param}")
        params.extend((len(prefix), prefix))
    if after:
        conditions.append(f"lease_id > {param}")
        params.append(after)
    sql = f"SELECT {', '.join(LEASE_LIST_COLUMNS)} FROM leases{where(conditions)} ORDER BY lease_id LIMIT {param}"
    return sql, [*params, limit]


AUDIT_LIST_COLUMNS = ("id", "time", "identity", "operation", "path", "outcome", "lease_id", "details")


def audit_list_query(
    param: str,
    *,
    lease_id: str | None,
    operation: str | None,
    after: int,
    limit: int,
    identity: str | None,
    path_prefix: str | None,
    outcome: str | None,
    since: float | None,
    until: float | None,
) -> tuple[str, list[Any]]:
    """``list_audit``: entries by filter, oldest first, a page after the id ``after``."""
    conditions, params = equal_to(
        (("lease_id", lease_id), ("operation", operation), ("identity", identity), ("outcome", outcome)), param
    )
    if path_prefix:
        conditions.append(f"substr(path, 1, {param}) = {param}")
        params.extend((len(path_prefix), path_prefix))
    for condition, value in ((f"time >= {param}", since), (f"time < {param}", until)):
        if value is not None:
            conditions.append(condition)
            params.append(value)
    conditions.append(f"id > {param}")
    sql = f"SELECT {', '.join(AUDIT_LIST_COLUMNS)} FROM audit{where(conditions)} ORDER BY id LIMIT {param}"
    return sql, [*params, after, limit]


def audit_from_row(row: Iterable[Any]) -> tuple[int, AuditEvent]:
    """(id, event) from a row of ``AUDIT_LIST_COLUMNS``."""
    values = dict(zip(AUDIT_LIST_COLUMNS, row, strict=True))
    entry_id = values.pop("id")
    values["details"] = json.loads(values["details"] or "{}")
    return entry_id, AuditEvent(**values)


def head_values(head: Any) -> tuple:
    """An audit chain head (``audit_chain.ChainHead``) as the columns of its row, after ``id``."""
    return (head.seq, head.mac, head.key_id, head.head_mac, head.resign_seq, head.resign_mac)
