"""``/docs``: the API reference, rendered in headless Chromium from a real `scaivault server`.

The page is Swagger UI, vendored in the package and served by the server itself: the browser
must render every operation of the server's own OpenAPI document, log no error (a CSP refusal
would be one), and send no request anywhere but to the server.
"""

from __future__ import annotations

import hashlib
import re
import time
from importlib import resources

import httpx
import pytest

from scaivault_core.rest.api_docs import ASSETS, CSP
from scaivault_core.testing.browser import browser_problems, headless_chromium, requested_urls
from scaivault_core.testing.servers import LiveServer

ISSUE = "/v1/dynamic/engines/{engine}/creds/{role}"
STATIC = resources.files("scaivault_core.rest").joinpath("static")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("api-docs")) as live:
        yield live


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with headless_chromium(tmp_path_factory.mktemp("chromium-profile"), network_log=True) as driver:
        yield driver


def wait_for(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)
    return found


def test_the_browser_renders_every_operation_from_the_servers_own_document(server, browser):
    from selenium.webdriver.common.by import By

    spec = httpx.get(server.url + "/v1/openapi.json", timeout=30).json()
    operations = {(method.upper(), path) for path, methods in spec["paths"].items() for method in methods}
    requested_urls(browser)  # from here on: what the page asks for (not the browser's own start page)
    browser.get(server.url + "/docs")
    blocks = wait_for(
        lambda: len(found := browser.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(operations) and found
    )
    rendered = {
        (
            b.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
            b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"),
        )
        for b in blocks
    }
    assert rendered == operations
    assert browser.title == "ScaiVault API"

    # Open the issue-credentials operation: its path parameters and its permission are shown.
    issue = next(
        b
        for b in blocks
        if b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") == ISSUE
    )
    issue.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    names = wait_for(lambda: [e.text.split()[0] for e in issue.find_elements(By.CSS_SELECTOR, ".parameter__name")])
    assert names[:2] == ["engine", "role"]
    assert "read` on" in issue.text or "read on" in issue.text

    assert browser_problems(browser) == [], "no script error, no CSP refusal, no failed load"
    sent = requested_urls(browser)
    assert server.url + "/v1/openapi.json" in sent
    # Over the network (chrome:// and data: are the browser's own); the start page may still be loading its own.
    foreign = [url for url in sent if re.match(r"(https?|wss?|ftp)://", url) and not url.startswith(server.url + "/")]
    assert foreign == [], "the page asked nothing of any other origin"


def test_try_it_out_with_a_token_asks_this_server(server, browser):
    """Authorize with the admin token, run GET /v1/auth/tokens/self from the page: the server answers who it is."""
    import json

    from selenium.webdriver.common.by import By

    browser.get(server.url + "/docs")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, ".opblock"))
    browser.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
    wait_for(lambda: browser.find_elements(By.ID, "auth-bearer-value"))[0].send_keys(server.admin_token)
    browser.find_element(By.CSS_SELECTOR, ".modal-btn.authorize").click()
    browser.find_element(By.CSS_SELECTOR, ".modal-btn.btn-done").click()
    block = browser.find_element(By.ID, "operations-auth-getTokenSelf")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait_for(lambda: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))[0].click()
    wait_for(lambda: block.find_elements(By.CSS_SELECTOR, ".execute"))[0].click()
    answer = wait_for(
        lambda: block.find_elements(By.CSS_SELECTOR, ".live-responses-table .response-col_description pre")
    )
    assert json.loads(answer[0].text)["identity"] == "user:admin"
    assert browser.execute_script("return window.localStorage.length") == 0, "the token is not kept in the browser"
    assert browser_problems(browser) == []


def test_the_page_allows_only_its_own_origin(server):
    page = httpx.get(server.url + "/docs", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    policy = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert policy["default-src"] == "'none'"
    assert {policy[d] for d in ("script-src", "style-src", "connect-src")} == {"'self'"}
    assert policy["img-src"] == "'self' data:", "data: only: Swagger UI's icons are inline images, no request"
    assert page.headers["x-content-type-options"] == "nosniff"
    # Nothing our page or our initializer names is on another host (the vendored bundle's strings are
    # schema and licence URLs it never loads: the browser test above sees every request it makes).
    ours = page.text + httpx.get(server.url + "/docs/api-docs.js", timeout=30).text
    assert not re.search(r"https?://", ours)
    for name, (_, media_type) in ASSETS.items():
        served = httpx.get(f"{server.url}/docs/{name}", timeout=30)
        assert served.status_code == 200 and served.headers["content-type"] == media_type, name
    stranger = httpx.get(server.url + "/docs/..%2Fapi_docs.py", timeout=30)
    assert stranger.status_code == 404 and stranger.json()["error"]["code"] == "not_found"


def test_the_vendored_files_are_the_release_recorded_in_vendored_md():
    record = STATIC.joinpath("swagger-ui", "VENDORED.md").read_text()
    listed = dict(re.findall(r"^\| ([\w.-]+) \| ([0-9a-f]{64}) \|$", record, re.M))
    on_disk = {f.name for f in STATIC.joinpath("swagger-ui").iterdir() if f.name != "VENDORED.md"}
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256(STATIC.joinpath("swagger-ui", name).read_bytes()).hexdigest() == digest, name
    assert "Apache-2.0" in record and "5.35.0" in record
