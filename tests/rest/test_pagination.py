"""Every list answers a page at a time, in one shape: ``after`` and ``limit`` in, ``next`` out.

Against a real `scaivault server` whose engines make users in the machine's PostgreSQL: each list
is walked two items a page until ``next`` is null, and must show every item exactly once, in the
order of the whole list. The client's ``iterate`` and the CLI's ``--all`` follow ``next`` the same way.
"""

from __future__ import annotations

import json
import os
import subprocess

import attrs
import httpx
import pytest

from scaivault_core.api import OPERATIONS
from scaivault_core.api.paging import MAX_PAGE, Page
from scaivault_core.client import AsyncScaiVaultClient, ScaiVaultClient
from scaivault_core.testing.servers import LiveServer, scaivault_command

MANY = 5  # of each kind of thing, so a walk two at a time takes three pages
# Each paged list: (its VaultAPI method, its URL, its other arguments).
LISTS = {
    "list_leases": ("/v1/dynamic/leases", {"engine": "pg0"}),
    "audit_log": ("/v1/sys/audit", {"operation": "lease.issue"}),
    "list_engines": ("/v1/dynamic/engines", {}),
    "list_roles": ("/v1/dynamic/engines/pg0/roles", {}),
    "list_policies": ("/v1/policies", {}),
    "list_bindings": ("/v1/policies/team/bindings", {}),
    "list_tokens": ("/v1/auth/tokens", {"identity": "sa:svc"}),
    "list_secret_versions": ("/v1/secrets/apps/rotating/versions", {}),
    "plugins": ("/v1/sys/plugins", {}),
}
POSITIONAL = {"list_roles": ("pg0",), "list_bindings": ("team",), "list_secret_versions": ("apps/rotating",)}
CREATION = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"]
REVOCATION = ['DROP ROLE IF EXISTS "{{name}}"']


@pytest.fixture(scope="module")
def server(tmp_path_factory, pg_database):
    """MANY engines (pg0 has MANY roles), policies, bindings of policy `team`, tokens of sa:svc, versions of
    one secret, and MANY leases of pg0, all made over REST."""
    pytest.importorskip("scaivault_postgresql", reason="the engines are the in-tree postgresql plugin's")
    live = LiveServer(tmp_path_factory.mktemp("pagination")).start()
    try:
        with ScaiVaultClient(live.url, live.admin_token) as admin:
            admin.put_secret("infra/pg/root", {"username": "postgres", "password": "unused-with-trust"})
            for n in range(MANY):
                admin.create_policy(f"pg{n}-root", [{"path_pattern": "infra/pg/root", "permissions": ["read"]}])
                admin.bind_policy(f"pg{n}-root", f"dynamic:pg{n}")
                admin.create_engine(
                    f"pg{n}",
                    "database",
                    {
                        "plugin": "postgresql",
                        "root_credentials_path": "infra/pg/root",
                        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{pg_database}",
                    },
                )
                admin.create_role("pg0", f"r{n}", creation_statements=CREATION, revocation_statements=REVOCATION)
                admin.create_token("sa:svc", ttl="1h")
                admin.put_secret("apps/rotating", {"n": n})
            admin.create_policy("team", [{"path_pattern": "apps/*", "permissions": ["read"]}])
            for n in range(MANY):
                admin.bind_policy("team", f"sa:member{n}")
                admin.issue("pg0", f"r{n}", ttl="10m")
        yield live
        with ScaiVaultClient(live.url, live.admin_token) as admin:
            admin.revoke_prefix("lease_", engine="pg0")  # the users go from PostgreSQL
    finally:
        live.stop()


def get(server: LiveServer, url: str, **query) -> dict:
    response = httpx.get(
        server.url + url, params=query, timeout=30, headers={"Authorization": f"Bearer {server.admin_token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def items_key(name: str) -> str:
    return next(op.items for op in OPERATIONS if op.name == name)


def test_every_list_operation_is_paged_and_tested_here():
    """A list the table answers (an operation whose answer holds a list of records) pages, and is walked below."""
    lists = {
        op.name
        for op in OPERATIONS
        if op.response is not None
        and not isinstance(op.response, (str, dict))
        and "next" in attrs.fields_dict(op.response)
    }
    assert lists == {op.name for op in OPERATIONS if op.items} == set(LISTS)
    for op in OPERATIONS:
        if op.items:
            assert {"after", "limit"} <= {q.name for q in op.query}, op.name
            assert next(q for q in op.query if q.name == "limit").maximum == MAX_PAGE


@pytest.mark.parametrize("name", LISTS)
def test_walking_the_pages_shows_every_item_once(server, name):
    url, query = LISTS[name]
    key = items_key(name)
    whole = get(server, url, **query, limit=MAX_PAGE)
    assert whole["next"] is None and len(whole[key]) >= (2 if name == "plugins" else MANY)
    walked, after, pages = [], None, 0
    while True:
        page = get(server, url, **query, limit=2, **({"after": after} if after is not None else {}))
        assert len(page[key]) <= 2
        walked += page[key]
        pages += 1
        after = page["next"]
        if after is None:
            break
        assert pages <= len(whole[key]), "next must come to an end"
    assert walked == whole[key], "every item exactly once, in the order of the whole list"
    assert len({json.dumps(item, sort_keys=True) for item in walked}) == len(walked)
    assert {k: v for k, v in page.items() if k not in (key, "next")} == {
        k: v for k, v in whole.items() if k not in (key, "next")
    }, "the rest of the answer is the same on every page"


@pytest.mark.parametrize("name", LISTS)
def test_the_clients_follow_next(server, name):
    url, query = LISTS[name]
    whole = get(server, url, **query, limit=MAX_PAGE)[items_key(name)]
    answer = next(op.answer for op in OPERATIONS if op.name == name) or (lambda item: item)
    typed = [answer(item) for item in whole]  # the models (Lease, Policy, ...) the embedded Vault lists
    args = POSITIONAL.get(name, ())
    with ScaiVaultClient(server.url, server.admin_token) as client:
        assert list(client.iterate(name, *args, **query, limit=2)) == typed
        assert list(client.json.iterate(name, *args, **query, limit=2)) == whole
        first = getattr(client, name)(*args, **query, limit=2)
        assert isinstance(first, Page) and first == typed[:2]
        assert first.next == getattr(client.json, name)(*args, **query, limit=2)["next"]
        if first.next is not None:
            assert getattr(client, name)(*args, **query, limit=2, after=first.next) == typed[2:4]

    async def walk() -> list:
        async with AsyncScaiVaultClient(server.url, server.admin_token) as client:
            return [item async for item in client.iterate(name, *args, **query, limit=3)]

    import asyncio

    assert asyncio.run(walk()) == typed


def test_a_list_that_is_not_paged_is_refused_by_iterate(server):
    with ScaiVaultClient(server.url, server.admin_token) as client, pytest.raises(Exception) as refused:
        client.iterate("get_engine", "pg0")
    assert "not a paged list" in str(refused.value)


def test_limit_is_bounded_on_every_list(server):
    for name, (url, query) in LISTS.items():
        response = httpx.get(
            server.url + url,
            params={**query, "limit": MAX_PAGE + 1},
            timeout=30,
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
        assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "limit", name


@pytest.mark.parametrize(
    "command, key",
    [
        (("engine", "list"), "engines"),
        (("role", "list", "pg0"), "roles"),
        (("policy", "list"), "policies"),
        (("policy", "bindings", "team"), "identities"),
        (("token", "list", "--identity", "sa:svc"), "tokens"),
        (("secrets", "versions", "apps/rotating"), "versions"),
        (("lease", "list", "--engine", "pg0"), "leases"),
    ],
)
def test_the_cli_follows_next_with_all(server, command, key):
    env = {**os.environ, "SCAIVAULT_ADDR": server.url, "SCAIVAULT_TOKEN": server.admin_token}
    env.pop("SCAIVAULT_STORE", None)

    def scaivault(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*scaivault_command(), *command, *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done

    everything = json.loads(scaivault("--all", "--limit", "2", "--format", "json").stdout)
    first = json.loads(scaivault("--limit", "2", "--format", "json").stdout)
    assert everything["next"] is None and len(everything[key]) >= MANY
    assert everything[key][:2] == first[key] and first["next"] is not None
    table = scaivault("--limit", "2").stdout
    assert f"(more: --after {first['next']})" in table


def test_an_after_of_another_list_is_invalid_request_in_process(vault):
    """From Python no query parser types ``after``: a name given to the version list is refused, not a crash."""
    from scaivault_core.api import VaultAPI
    from scaivault_core.errors import InvalidRequest

    api = VaultAPI(vault)
    api.put_secret("apps/x", {"v": 1})
    api.put_secret("apps/x", {"v": 2})
    assert [v["version"] for v in api.list_secret_versions("apps/x", after=1)["versions"]] == [2]
    with pytest.raises(InvalidRequest) as refused:
        api.list_secret_versions("apps/x", after="one")
    assert refused.value.details == {"field": "after"}
    assert [e["name"] for e in api.iterate("list_engines", limit=1)] == [
        e["name"] for e in api.list_engines()["engines"]
    ]
