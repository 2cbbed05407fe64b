"""Fixtures: a vault with an in-memory engine and the console, served in-process (``client``), and
helpers to sign in and read what a page shows."""

from __future__ import annotations

import html
import re
import warnings

import pytest

import scaivault_console
from scaivault_core import LeaseOptions, ManualClock
from scaivault_core.rest import create_app
from scaivault_core.testing import MemoryPlugin, MemoryTarget, VaultFactory

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what the core ships with
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ORIGIN = "http://127.0.0.1"
POLICIES = {
    # sa:app issues from role ro and may act on its own leases only.
    "app": ([{"path_pattern": "dynamic/engines/mem/roles/ro", "permissions": ["read"]}], "sa:app"),
    # user:oncall may see every lease of engine mem (list), the engines and the audit log, and revoke nothing.
    "oncall": (
        [
            {"path_pattern": "dynamic/engines/mem", "permissions": ["list", "read"]},
            {"path_pattern": "dynamic/engines", "permissions": ["list"]},
            {"path_pattern": "dynamic/engines/mem/roles", "permissions": ["list"]},
            {"path_pattern": "sys/audit", "permissions": ["read"]},
        ],
        "user:oncall",
    ),
}


@pytest.fixture
def target():
    target = MemoryTarget.new()
    yield target
    target.forget()


@pytest.fixture
def vault(tmp_path, target):
    """Engine ``mem`` with role ``ro``; policies ``app`` (sa:app) and ``oncall`` (user:oncall)."""
    factory = VaultFactory(
        tmp_path / "vault.db",
        plugins=[MemoryPlugin(), scaivault_console],
        clock=ManualClock(start=1_800_000_000),
        start_worker=False,
        lease_options=LeaseOptions(max_attempts=1, backoff_base=0.01),
    )
    vault = factory()
    vault.create_engine("mem", "database", {"plugin": "memory", "target": target.name}, default_ttl="1h", max_ttl="8h")
    vault.create_role("mem", "ro")
    for name, (rules, identity) in POLICIES.items():
        vault.create_policy(name, rules)
        vault.bind_policy(name, identity)
    yield vault
    factory.close_all()


class ConsoleClient(TestClient):
    """A TestClient that signs in and submits forms as a browser does."""

    vault: object

    def token_for(self, identity: str) -> str:
        return (
            self.vault.create_admin_token()
            if identity == "user:admin"
            else self.vault.create_token(identity, ttl="1h")["token"]
        )

    def sign_in(self, identity_or_token: str, next_page: str = "/ui/"):
        """Sign in through the form (with a fresh token for an identity); returns the page signed in to."""
        token = identity_or_token if identity_or_token.startswith("svt.") else self.token_for(identity_or_token)
        self.cookies.clear()  # as a fresh browser: signed in as someone else, /ui/sign-in just goes on
        form = self.get("/ui/sign-in")
        response = self.post(
            "/ui/sign-in",
            data={"csrf": csrf_of(form.text), "token": token, "next": next_page},
            headers={"Origin": ORIGIN},
        )
        assert response.status_code == 200, response.text
        return response

    def submit(self, path: str, page_html: str, **fields):
        """Submit a console form with the CSRF token of the page it is on, from this origin."""
        return self.post(path, data={"csrf": csrf_of(page_html), **fields}, headers={"Origin": ORIGIN})

    csrf_of = staticmethod(lambda page_html: csrf_of(page_html))
    flashes = staticmethod(lambda page_html: flashes(page_html))


@pytest.fixture
def client(vault):
    with ConsoleClient(create_app(vault), base_url=ORIGIN, raise_server_exceptions=True) as client:
        client.vault = vault
        yield client


def csrf_of(page_html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page_html).group(1)


def flashes(page_html: str) -> list[tuple[str, str]]:
    """(kind, text) of the messages a page shows."""
    return [
        (kind, html.unescape(re.sub(r"<[^>]+>", "", text)).strip())
        for kind, text in re.findall(r'<p class="flash (\w+)" role="(?:status|alert)">(.*?)</p>', page_html, re.S)
    ]
