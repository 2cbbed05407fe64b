"""Embedded and remote answer the same shapes: what the client builds from a server's JSON is the object the
embedded ``Vault`` answers for the same data (same class, same value in every field the answer carries), and
``client.json`` answers the body ``VaultAPI`` does. The server is uvicorn over the very vault the test holds,
on a manual clock in whole seconds, so both sides see the same records at the same times."""

from __future__ import annotations

import asyncio
import typing

import attrs
import pytest

from scaivault_core.api import OPERATIONS, VaultAPI
from scaivault_core.api.paging import Page
from scaivault_core.api.table import audit_entry
from scaivault_core.client import AsyncScaiVaultClient, ScaiVaultClient
from scaivault_core.models import AuditEvent, IssuedCredentials, Job, Lease, RenewResult, SecretVersion, Token
from scaivault_core.rest import create_app
from scaivault_core.testing.servers import ThreadedServer
from scaivault_core.vault import Vault

# What a REST answer never carries, by class: the client leaves these at their neutral defaults.
NOT_CARRIED = {
    Lease: {"handle", "claimed_by", "claim_deadline"},
    Token: {"token_hash"},
    Job: {"ceilings", "claimed_by", "claim_deadline"},
    IssuedCredentials: {"lease"},
    RenewResult: {"lease"},
}


def carried(obj):
    """An answer's class and the fields its JSON carries (nested models and lists of them alike)."""
    if isinstance(obj, (list, tuple)):
        return [carried(item) for item in obj]
    if not attrs.has(type(obj)):
        return obj
    hidden = NOT_CARRIED.get(type(obj), set())
    return (type(obj), {f.name: carried(getattr(obj, f.name)) for f in attrs.fields(type(obj)) if f.name not in hidden})


def same(remote, embedded):
    assert carried(remote) == carried(embedded)
    for name in NOT_CARRIED.get(type(remote), ()):  # and the rest at their defaults, never a guess
        field = attrs.fields_dict(type(remote))[name]
        default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default
        assert getattr(remote, name) == default, name


@pytest.fixture
def served(vault):
    """``vault`` (engine ``mem``, role ``readonly``) served over HTTP in this process, and an admin token."""
    vault.put_secret("app/db", {"password": "first"})
    vault.put_secret("app/db", {"password": "second"})
    vault.create_policy("readers", [{"path_pattern": "app/*", "permissions": ["read", "list"]}], "app readers")
    vault.bind_policy("readers", "sa:app")
    with ThreadedServer(create_app(vault)) as server:
        server.vault, server.token = vault, vault.create_admin_token()
        yield server


@pytest.fixture
def client(served):
    with ScaiVaultClient(served.url, served.token) as client:
        yield client


def test_records_read_remotely_are_the_vaults_own(served, client):
    vault = served.vault
    same(client.get_engine("mem"), vault.get_engine("mem"))
    same(client.get_role("mem", "readonly"), vault.get_role("mem", "readonly"))
    same(client.get_policy("readers"), vault.get_policy("readers"))
    same(client.get_secret("app/db"), vault.get_secret("app/db"))
    same(client.get_secret("app/db", version=1), vault.get_secret("app/db", 1))
    same(client.explain("sa:app", "read", "app/db"), vault.explain("sa:app", "read", "app/db"))
    same(client.explain("sa:app", "delete", "app/db"), vault.explain("sa:app", "delete", "app/db"))
    same(client.create_policy("writers", [{"path_pattern": "app/*", "permissions": ["update"]}]),
         vault.get_policy("writers"))  # fmt: skip
    created = client.create_role("mem", "brief", default_ttl="5m", max_ttl="10m")
    same(created, vault.get_role("mem", "brief"))
    assert created.default_ttl == 300 and created.params == vault.get_role("mem", "brief").params


def test_lists_are_pages_of_the_vaults_records(served, client):
    vault = served.vault
    for n in range(3):
        vault.issue("mem", "readonly", metadata={"n": n})
    same(list(client.list_engines()), vault.list_engines())
    same(list(client.list_roles("mem")), vault.list_roles("mem"))
    same(list(client.list_policies()), vault.list_policies())
    same(list(client.list_tokens()), vault.list_tokens())
    same(list(client.list_leases(engine="mem")), vault.list_leases(engine="mem"))
    assert list(client.list_bindings("readers")) == vault.list_bindings("readers")
    same(list(client.plugins()), vault.plugins())
    entries = client.audit_log(operation="lease.issue")
    assert isinstance(entries, Page) and entries.next is None
    same(list(entries), vault.audit_log(operation="lease.issue"))
    versions = client.list_secret_versions("app/db")
    assert [v.version for v in versions] == [1, 2] and {v.data for v in versions} == {None}  # never the values

    first = client.list_leases(engine="mem", limit=2)
    assert isinstance(first, Page) and first.next == first[-1].lease_id
    rest = client.list_leases(engine="mem", after=first.next, limit=2)
    assert rest.next is None
    same([*first, *rest], vault.list_leases(engine="mem"))
    same(list(client.iterate("list_leases", engine="mem", limit=1)), vault.list_leases(engine="mem"))


def test_lease_answers_carry_the_guides_fields(served, client):
    vault = served.vault
    issued = client.issue("mem", "readonly", ttl="30m", metadata={"job": "nightly"})
    assert isinstance(issued, IssuedCredentials) and issued.lease is None  # the REST answer carries no record
    lease = vault.lookup(issued.lease_id)
    same(issued, IssuedCredentials.of(lease, issued.data))  # what the vault answered its issue with
    assert issued.lease_duration == 1800 and issued.expires_at == lease.expires_at
    embedded = vault.issue("mem", "readonly", ttl="30m")  # in-process the record comes along
    assert embedded.lease is not None and embedded.to_dict().keys() == issued.to_dict().keys()

    same(client.lookup(issued.lease_id), vault.lookup(issued.lease_id))
    renewed = client.renew(issued.lease_id, increment="1h")
    assert isinstance(renewed, RenewResult) and renewed.lease is None
    lease = vault.lookup(issued.lease_id)
    same(renewed, RenewResult.of(lease, False, 5400, {}))  # now = issue time on this clock: 30m + 1h left
    assert renewed.expires_at == issued.expires_at + 3600 and renewed.max_expires_at == lease.max_expires_at
    assert renewed.to_dict()["lease_duration"] == "1h30m"  # to_dict gives the guide's JSON again
    assert client.revoke(issued.lease_id) is None  # 204: the vault's revoke answers the Lease, REST nothing
    same(client.lookup(issued.lease_id), vault.lookup(issued.lease_id))
    assert client.read_lease(issued.lease_id).state == "revoked"  # hvac's names answer the same objects


def test_dicts_where_the_vault_answers_dicts_and_jobs_as_jobs(served, client):
    vault = served.vault
    session = vault.authenticate(served.token)
    assert client.token_self() == session.token_self()
    minted = client.create_token("sa:app", ttl="1h")
    assert isinstance(minted, dict) and minted.keys() == vault.create_token("sa:app", ttl="1h").keys()
    for _ in range(2):
        vault.issue("mem", "readonly")
    job = client.revoke_prefix("lease_", engine="mem", sync=False)
    assert isinstance(job, Job) and job.href == f"/v1/sys/jobs/{job.job_id}"
    heard = []
    result = client.wait_job(job.job_id, timeout=60, interval=0.01, progress=heard.append)
    assert result == {"revoked": 2, "failed": [], "in_progress": 0} and isinstance(heard[-1], Job)
    same(client.get_job(job.job_id), vault.get_job(job.job_id))
    assert client.revoke_prefix("lease_", engine="mem") == vault.revoke_prefix("lease_", engine="mem")
    stored = client.put_secret("app/new", {"k": "v"})
    assert isinstance(stored, SecretVersion) and stored.data is None and stored.version == 1


def test_client_json_answers_the_bodies_vault_api_does(served, client):
    api = VaultAPI(served.vault)
    lease_id = served.vault.issue("mem", "readonly").lease_id
    for name, args in (
        ("get_engine", ("mem",)),
        ("get_role", ("mem", "readonly")),
        ("list_policies", ()),
        ("get_secret", ("app/db",)),
        ("lookup", (lease_id,)),
        ("list_leases", ()),
        ("explain", ("sa:app", "read", "app/db")),
        ("list_bindings", ("readers",)),
    ):
        assert getattr(client.json, name)(*args) == getattr(api, name)(*args), name
    assert list(client.json.iterate("list_leases", limit=1)) == api.list_leases()["leases"]
    assert client.json.revoke(lease_id) is None
    assert repr(client.json) == f"{client!r}.json"
    assert client.with_timeout(5).json.lookup(lease_id) == api.lookup(lease_id)


def test_the_async_client_answers_the_same_objects(served):
    vault = served.vault
    lease_id = vault.issue("mem", "readonly").lease_id

    async def scenario():
        async with AsyncScaiVaultClient(served.url, served.token) as client:
            same(await client.lookup(lease_id), vault.lookup(lease_id))
            same(await client.get_engine("mem"), vault.get_engine("mem"))
            page = await client.list_policies(limit=1)
            assert isinstance(page, Page) and page.next == page[0].name
            same([p async for p in client.iterate("list_policies", limit=1)], vault.list_policies())
            assert await client.json.lookup(lease_id) == VaultAPI(vault).lookup(lease_id)
            issued = await client.issue("mem", "readonly")
            same(issued, IssuedCredentials.of(vault.lookup(issued.lease_id), issued.data))
            job = await client.revoke_prefix("lease_", engine="mem", sync=False)
            assert isinstance(job, Job)
            assert (await client.wait_job(job.job_id, timeout=60, interval=0.01))["revoked"] == 2

    asyncio.run(scenario())


def test_every_operation_answers_the_class_its_vault_method_does():
    """The table names, for each operation, the model of the ``Vault`` method of the same name (an item's,
    for a list), so a new operation cannot come to the client untyped by mistake."""
    checked = 0
    for op in OPERATIONS:
        method = getattr(Vault, str(op.name), None)
        if method is None or op.status == 204:  # health, ready, metrics: no Vault method; 204: no body to type
            assert op.answer is None, op.name
            continue
        answer = typing.get_type_hints(method)["return"]
        if typing.get_origin(answer) is list:
            (answer,) = typing.get_args(answer)
        model = getattr(op.answer, "__self__", None)  # a from_dict classmethod, bound to its class
        if attrs.has(answer):
            assert model is answer, op.name
            checked += 1
        elif typing.get_origin(answer) is tuple:  # audit_log's (id, AuditEvent)
            assert op.answer is audit_entry and typing.get_args(answer)[1] is AuditEvent
        else:  # dict, str, None: the body as it is
            assert op.answer is None, op.name
    assert checked >= 20
