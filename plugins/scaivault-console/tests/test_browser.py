"""The console in a real browser: headless Chromium (Debian's, driven through Debian's chromedriver by
selenium) against a real `scaivault server`, whose engine makes users in the machine's real PostgreSQL.

Each test saves screenshots of the pages it visits into build/console-screenshots/ (gitignored;
SCAIVAULT_SCREENSHOTS moves it), so what the console showed can be looked at after the run.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path

import attrs
import httpx
import psycopg
import pytest

from scaivault_core import LeaseOptions, ScaiVaultError, Vault
from scaivault_core.testing.browser import browser_problems, headless_chromium
from scaivault_core.testing.servers import LiveServer

REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = Path(os.environ.get("SCAIVAULT_SCREENSHOTS", REPO / "build" / "console-screenshots"))
PG = "postgresql://postgres@127.0.0.1:5432"
ROOT_PATH = "infra/postgres/console/root"
CREATION = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}"',
]
REVOCATION = [
    'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{{name}}"',
    'DROP OWNED BY "{{name}}"',
    'DROP ROLE IF EXISTS "{{name}}"',
]
# A role whose users own a table their revocation forgets to drop: DROP ROLE fails, as it would for real.
STICKY_CREATION = [
    *CREATION,
    'CREATE TABLE "{{name}}_scratch" (id int)',
    'ALTER TABLE "{{name}}_scratch" OWNER TO "{{name}}"',
]
STICKY_REVOCATION = ['DROP ROLE IF EXISTS "{{name}}"']
XSS = {
    "note": "<script>window.__pwned = 1; document.title = 'pwned'</script>",
    "owner": '"><img src=x onerror="window.__pwned = 2">',
    "link": "javascript:window.__pwned = 3",
}


@attrs.define
class Deployment:
    server: LiveServer
    database: str
    tokens: dict[str, str]  # identity -> token

    def api(self, identity: str, method: str, path: str, **kwargs) -> httpx.Response:
        return httpx.request(
            method,
            self.server.url + path,
            timeout=30,
            headers={"Authorization": f"Bearer {self.tokens[identity]}"},
            **kwargs,
        )

    def issue(self, role: str = "ro", metadata: dict | None = None, identity: str = "sa:app") -> dict:
        response = self.api(
            identity, "POST", f"/v1/dynamic/engines/pg/creds/{role}", json={"ttl": "2h", "metadata": metadata or {}}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def lease(self, lease_id: str) -> dict:
        return self.api("user:admin", "GET", f"/v1/dynamic/leases/{lease_id}").json()

    def role_exists(self, name: str) -> bool:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None


@pytest.fixture(scope="module")
def database():
    """A private database on the machine's PostgreSQL; dropped afterwards with every role made in it."""
    name = "sv_console_" + secrets.token_hex(4)
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
        conn.execute("CREATE TABLE reports (id int PRIMARY KEY, title text)")
    yield name
    with psycopg.connect(f"{PG}/{name}", autocommit=True) as conn:
        roles = conn.execute(
            "SELECT DISTINCT r.rolname FROM pg_shdepend d JOIN pg_roles r ON r.oid = d.refobjid "
            "WHERE d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND r.rolname LIKE 'v\\_%'"
        ).fetchall()
        for (role,) in roles:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, database):
    """`scaivault server` with the console installed, engine `pg` (roles `ro` and `sticky`) on the real
    PostgreSQL, and three identities: the admin, sa:app (issues from both roles) and user:oncall (sees
    every lease of `pg` and the audit log, revokes nothing)."""
    pytest.importorskip(
        "scaivault_postgresql",
        reason="the browser tests' engine is the in-tree postgresql plugin "
        "(scripts/bootstrap installs it; scripts/isolated does not)",
    )
    server = LiveServer(tmp_path_factory.mktemp("console"))
    tokens = {"user:admin": server.init()}
    with Vault(server.store, start_worker=False) as vault:  # set up embedded, as `scaivault` on the host would
        vault.put_secret(ROOT_PATH, {"username": "postgres", "password": "unused-with-trust-auth"})
        vault.create_policy("pg-root", [{"path_pattern": ROOT_PATH, "permissions": ["read"]}])
        vault.bind_policy("pg-root", "dynamic:pg")
        vault.create_engine(
            "pg",
            "database",
            {
                "plugin": "postgresql",
                "root_credentials_path": ROOT_PATH,
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{database}",
            },
            default_ttl="1h",
            max_ttl="24h",
        )
        vault.create_role(
            "pg", "ro", creation_statements=CREATION, revocation_statements=REVOCATION, default_ttl="1h", max_ttl="8h"
        )
        vault.create_role("pg", "sticky", creation_statements=STICKY_CREATION, revocation_statements=STICKY_REVOCATION)
        vault.create_policy("app", [{"path_pattern": "dynamic/engines/pg/roles/*", "permissions": ["read"]}])
        vault.bind_policy("app", "sa:app")
        vault.create_policy(
            "oncall",
            [
                {"path_pattern": "dynamic/engines/pg", "permissions": ["list", "read"]},
                {"path_pattern": "dynamic/engines", "permissions": ["list"]},
                {"path_pattern": "sys/audit", "permissions": ["read"]},
            ],
        )
        vault.bind_policy("oncall", "user:oncall")
        for identity in ("sa:app", "user:oncall"):
            tokens[identity] = vault.create_token(identity, ttl="2h")["token"]
    server.start()
    yield Deployment(server, database, tokens)
    server.stop()


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """One headless Chromium for the module, on a fresh profile, offline but for the test server."""
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


class Console:
    """The browser on the console: navigate, sign in, click, read what is shown, take screenshots."""

    def __init__(self, driver, deployment: Deployment) -> None:
        self.driver, self.deployment = driver, deployment
        from selenium.webdriver.common.by import By

        self.By = By

    def open(self, path: str) -> None:
        self.driver.get(self.deployment.server.url + path)

    def sign_in(self, identity: str, start: str = "/ui/") -> None:
        self.open(start)
        assert self.path() == "/ui/sign-in", "a stranger is sent to sign in"
        self.find("#token").send_keys(self.deployment.tokens[identity])
        self.find("form.stack button").click()
        self.wait_for(lambda: self.path() != "/ui/sign-in")
        assert self.find(".who .identity").text == identity

    def sign_out(self) -> None:
        self.find(".who button").click()
        self.wait_for(lambda: self.path() == "/ui/sign-in")

    def path(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.driver.current_url).path

    def find(self, css: str, within=None):
        return (within or self.driver).find_element(self.By.CSS_SELECTOR, css)

    def find_all(self, css: str, within=None):
        return (within or self.driver).find_elements(self.By.CSS_SELECTOR, css)

    def row_of(self, lease_id: str):
        link = self.driver.find_element(self.By.LINK_TEXT, lease_id)
        return link.find_element(self.By.XPATH, "./ancestor::tr")

    def click_and_confirm(self, button) -> str:
        """Click a button whose form asks for confirmation; accept it and return what it asked."""
        button.click()
        self.wait_for(lambda: self._alert() is not None)
        alert = self.driver.switch_to.alert
        question = alert.text
        alert.accept()
        return question

    def _alert(self):
        from selenium.common.exceptions import NoAlertPresentException

        try:
            return self.driver.switch_to.alert
        except NoAlertPresentException:
            return None

    def flashes(self) -> list[tuple[str, str]]:
        return [(e.get_attribute("class").split()[-1], e.text) for e in self.find_all("main > p.flash")]

    def wait_for(self, condition, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out on {self.driver.current_url}")
            time.sleep(0.05)

    def problems(self) -> list[str]:
        """What the browser logged as errors: CSP refusals, failed loads, script errors."""
        return browser_problems(self.driver)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture
def console(chromium, deployment):
    console = Console(chromium, deployment)
    chromium.get(deployment.server.url + "/ui/sign-in")
    chromium.delete_all_cookies()  # every test starts signed out
    chromium.get_log("browser")  # and with an empty log
    yield console
    assert console.problems() == []


def test_sign_in_find_a_lease_revoke_it_and_the_user_is_gone(console, deployment):
    lease = deployment.issue(metadata={"ticket": "INC-4711", "purpose": "nightly report"})
    user = lease["data"]["username"]
    assert deployment.role_exists(user)

    console.open("/ui/leases")
    console.screenshot("sign-in")
    console.sign_in("user:admin", start="/ui/leases")
    assert console.path() == "/ui/leases", "after signing in, the page asked for"
    # Find it: filter by identity and engine with the page's own form.
    console.find("input[name=identity]").send_keys("sa:app")
    console.find("input[name=engine]").send_keys("pg")
    console.find("form.filters button").click()
    console.wait_for(lambda: "identity=sa%3Aapp" in console.driver.current_url)
    row = console.row_of(lease["lease_id"])
    assert "INC-4711" in row.text and user in row.text and "active" in row.text
    assert "in 1h59m" in row.text or "in 2h" in row.text
    console.screenshot("leases")
    console.find("a.mono", within=row).click()
    console.wait_for(lambda: console.path() == f"/ui/leases/{lease['lease_id']}")
    console.screenshot("lease")
    console.driver.back()

    question = console.click_and_confirm(console.find("button.danger", within=console.row_of(lease["lease_id"])))
    assert question.startswith(f"Revoke {lease['lease_id']}?")
    console.wait_for(lambda: console.flashes())
    assert console.flashes() == [("ok", f"Revoked {lease['lease_id']}: {user} is gone from engine pg.")]
    console.screenshot("leases-revoked")
    assert not deployment.role_exists(user), "the user is gone from PostgreSQL"
    assert deployment.lease(lease["lease_id"])["state"] == "revoked"
    console.sign_out()


def test_a_denied_action_is_shown_as_denied(console, deployment):
    """user:oncall sees every lease of engine pg but may revoke none: the vault refuses, the page says so."""
    lease = deployment.issue(metadata={"ticket": "INC-4712"})
    console.sign_in("user:oncall", start="/ui/leases?engine=pg")
    row = console.row_of(lease["lease_id"])
    console.click_and_confirm(console.find("button.danger", within=row))
    console.wait_for(lambda: console.flashes())
    [(kind, text)] = console.flashes()
    assert kind == "denied" and text.startswith(f"Denied: {lease['lease_id']} is not a lease user:oncall may revoke")
    console.screenshot("leases-denied")
    assert deployment.role_exists(lease["data"]["username"])
    assert deployment.lease(lease["lease_id"])["state"] == "active"
    # A page the identity may not see at all says denied too, with the missing grant.
    console.open("/ui/explain?identity=sa:app&permission=read&path=dynamic/engines/pg/roles/ro")
    assert "Denied:" in console.find("main p.flash.denied").text
    console.screenshot("explain-denied")


def test_xss_through_lease_metadata_is_inert(console, deployment):
    lease = deployment.issue(metadata=XSS)
    console.sign_in("user:admin", start=f"/ui/leases/{lease['lease_id']}")
    for path in (
        f"/ui/leases/{lease['lease_id']}",
        "/ui/leases?engine=pg",
        f"/ui/audit?lease_id={lease['lease_id']}&since=",
    ):
        console.open(path)
        assert console.driver.execute_script("return window.__pwned === undefined")
        assert "pwned" not in console.driver.title
        assert console.find_all("main img") == [] and console.find_all("main script") == []
    console.open("/ui/leases?engine=pg")
    shown = console.find("dl.meta", within=console.row_of(lease["lease_id"])).text
    for value in XSS.values():
        assert value in shown, "shown as the text it is"
    console.screenshot("leases-xss-inert")
    console.open(f"/ui/leases/{lease['lease_id']}")
    assert json.loads(console.find("dl.fields pre").text) == XSS
    console.screenshot("lease-xss-inert")


def test_needs_attention_shows_the_last_error_and_forgets(console, deployment):
    """A revocation the target refuses: one lease still retried (revoking), one out of attempts (irrevocable)."""
    retried, stuck = deployment.issue(role="sticky"), deployment.issue(role="sticky")
    response = deployment.api("user:admin", "DELETE", f"/v1/dynamic/leases/{retried['lease_id']}")
    assert response.status_code >= 400  # the target refused; the revocation is queued for retry
    # A vault allowed a single attempt marks the other irrevocable at once (the server allows twelve, an hour).
    with (
        Vault(deployment.server.store, start_worker=False, lease_options=LeaseOptions(max_attempts=1)) as vault,
        pytest.raises(ScaiVaultError),
    ):
        vault.revoke(stuck["lease_id"])
    assert deployment.lease(stuck["lease_id"])["state"] == "irrevocable"

    console.sign_in("user:admin", start="/ui/attention")
    assert "cannot be dropped because some objects depend on it" in console.find("main").text
    assert retried["lease_id"] in console.find("main").text
    console.screenshot("attention")
    form = next(f for f in console.find_all("form.forget") if stuck["lease_id"] in f.text)
    console.find("input[name=understood]", within=form).click()
    question = console.click_and_confirm(console.find("button", within=form))
    assert "may remain in the target" in question
    console.wait_for(lambda: console.flashes())
    [(kind, text)] = console.flashes()
    assert kind == "ok" and text.startswith(f"Forgot {stuck['lease_id']}")
    assert deployment.lease(stuck["lease_id"])["state"] == "revoked"
    assert deployment.role_exists(stuck["data"]["username"]), "forgetting removes nothing from the target"


def test_a_tour_of_every_page(console, deployment):
    deployment.issue(metadata={"ticket": "INC-4713"})
    console.sign_in("user:admin")
    console.screenshot("overview")
    tour = [
        ("/ui/engines", "Engines", "engines"),
        ("/ui/engines/pg", "Engine pg", "engine"),
        ("/ui/audit?since=1h&operation=lease.issue", "Audit log", "audit"),
        (
            "/ui/explain?identity=sa%3Aapp&permission=read&path=dynamic%2Fengines%2Fpg%2Froles%2Fro",
            "Explain",
            "explain",
        ),
        (
            "/ui/explain?identity=user%3Aoncall&permission=revoke&path=dynamic%2Fengines%2Fpg%2Froles%2Fro",
            "Explain",
            "explain-no",
        ),
    ]
    for path, heading, name in tour:
        console.open(path)
        assert console.find("h1").text == heading, path
        console.screenshot(name)
    console.open(tour[3][0])
    assert console.find(".answer.yes .verdict").text == "Yes"
    assert "by rule 1 of policy 'app'" in console.find(".answer").text
    console.open(tour[4][0])
    assert console.find(".answer.no .verdict").text == "No"
