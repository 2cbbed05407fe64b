"""The console over HTTP, in-process: every page, what each identity may see and do there, and the
defences (sign-in cookie, CSRF, headers, escaping)."""

from __future__ import annotations

import re

import pytest

from scaivault_console.console import CSP, safe_next
from scaivault_core import InvalidConfig, ScaiVaultError
from scaivault_core.rest import create_app

ORIGIN = "http://127.0.0.1"

PAGES = [
    "/ui/",
    "/ui/leases",
    "/ui/attention",
    "/ui/engines",
    "/ui/engines/mem",
    "/ui/audit",
    "/ui/explain?path=dynamic/engines/mem/roles/ro",
]
XSS = {"note": "<script>document.title='pwned'</script>", "owner": '"><img src=x onerror="document.title=1">'}


def lease_page(client, lease_id):
    return client.get(f"/ui/leases/{lease_id}")


# -- signing in ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES + ["/ui/leases/lease_db_x"])
def test_pages_send_a_stranger_to_sign_in(client, path):
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/sign-in")


def test_actions_of_a_stranger_do_nothing(client, vault):
    lease = vault.issue("mem", "ro")
    response = client.post(f"/ui/leases/{lease.lease_id}/revoke", data={"csrf": "x"}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/sign-in")
    assert vault.lookup(lease.lease_id).state == "active"


def test_sign_in_keeps_the_token_on_the_server(client, vault):
    """The cookie is a random id, HttpOnly and SameSite=Strict; the token is in no cookie, URL or page."""
    token = client.token_for("sa:app")
    form = client.get("/ui/sign-in?next=/ui/leases")
    response = client.post(
        "/ui/sign-in",
        data={"csrf": client.csrf_of(form.text), "token": token, "next": "/ui/leases"},
        headers={"Origin": ORIGIN},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/ui/leases"
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("scaivault_console="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/ui/" in session
    assert token not in " ".join(cookies) and token not in response.headers["location"]
    page = client.get("/ui/leases")
    assert page.status_code == 200 and token not in page.text and "sa:app" in page.text


def test_the_sign_in_form_asks_for_the_token_by_post_only(client, vault):
    page = client.get("/ui/sign-in")
    assert re.search(r'<form method="post" action="/ui/sign-in"', page.text)
    assert 'type="password"' in page.text and 'autocomplete="off"' in page.text
    # A token in the URL signs nobody in.
    token = client.token_for("sa:app")
    client.get(f"/ui/sign-in?token={token}")
    assert client.get("/ui/leases", follow_redirects=False).status_code == 303


def test_a_bad_token_is_refused_and_starts_nothing(client):
    form = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in", data={"csrf": client.csrf_of(form.text), "token": "svt.nope"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 401
    assert "not valid" in response.text and "svt.nope" not in response.text
    assert not any(c.startswith("scaivault_console=") for c in response.headers.get_list("set-cookie"))


@pytest.mark.parametrize("forgery", ["no csrf", "wrong csrf", "other origin"])
def test_a_forged_sign_in_form_is_refused(client, vault, forgery):
    """Login CSRF: a page elsewhere cannot sign a browser in as the attacker's identity."""
    form = client.get("/ui/sign-in")
    data = {"token": client.token_for("sa:app"), "csrf": client.csrf_of(form.text)}
    headers = {"Origin": ORIGIN}
    if forgery == "no csrf":
        del data["csrf"]
    elif forgery == "wrong csrf":
        data["csrf"] = "0" * 64
    else:
        headers = {"Origin": "https://evil.example"}
    response = client.post("/ui/sign-in", data=data, headers=headers)
    assert response.status_code == 403
    assert client.get("/ui/leases", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session_for_good(client, vault):
    page = client.sign_in("sa:app")
    cookie = client.cookies.get("scaivault_console")
    response = client.submit("/ui/sign-out", page.text)
    assert "You are signed out." in response.text
    client.cookies.set("scaivault_console", cookie, path="/ui/")  # replaying the old cookie
    assert client.get("/ui/leases", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_console_session_at_once(client, vault):
    token = vault.create_token("sa:app", ttl="1h")
    client.sign_in(token["token"])
    vault.revoke_token(token["accessor"])
    response = client.get("/ui/leases")
    assert response.url.path == "/ui/sign-in" and "expired or was revoked" in response.text


@pytest.mark.parametrize(
    "value, expected",
    [
        ("/ui/leases?engine=mem", "/ui/leases?engine=mem"),
        ("//evil.example/ui/", "/ui/"),
        ("https://evil.example/ui/", "/ui/"),
        ("/ui/\\evil", "/ui/"),
        ("/v1/sys/audit", "/ui/"),
        ("/ui/x\r\nSet-Cookie: a=b", "/ui/"),
        (None, "/ui/"),
    ],
)
def test_redirects_stay_on_the_console(value, expected):
    assert safe_next(value) == expected


# -- every page, every form ------------------------------------------------------------------------


def test_every_page_renders_with_a_strict_policy_and_no_inline_code(client, vault):
    lease = vault.issue("mem", "ro")
    client.sign_in("user:admin")
    for path in [*PAGES, f"/ui/leases/{lease.lease_id}", "/ui/sign-in"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
        body = response.text
        assert not re.search(r"<script(?![^>]*\ssrc=)", body), f"inline script on {path}"
        assert not re.search(r"\sstyle=|\son[a-z]+=", body), f"inline style or handler on {path}"
        assert not re.search(r'(src|href)="(https?:)?//', body), f"another origin on {path}"
        for form in re.findall(r'<form method="post".*?</form>', body, re.S):
            assert 'name="csrf"' in form, f"a form without its CSRF token on {path}"


def test_static_assets_are_versioned_and_nothing_else_is_served(client):
    css = client.get("/ui/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/console.js").headers["content-type"].startswith("text/javascript")
    for path in ("/ui/static/console.py", "/ui/static/..%2F__init__.py", "/ui/static/templates%2Fbase.html"):
        assert client.get(path).status_code == 404


@pytest.mark.parametrize("forgery", ["no csrf", "wrong csrf", "cross-site", "other origin"])
def test_a_forged_action_is_refused(client, vault, forgery):
    lease = vault.issue("mem", "ro")
    page = client.sign_in("user:admin")
    data, headers = {"csrf": client.csrf_of(page.text)}, {"Origin": ORIGIN}
    if forgery == "no csrf":
        del data["csrf"]
    elif forgery == "wrong csrf":
        data["csrf"] = "x" * 43
    elif forgery == "cross-site":
        headers = {"Sec-Fetch-Site": "cross-site"}
    else:
        headers = {"Origin": "https://evil.example"}
    response = client.post(f"/ui/leases/{lease.lease_id}/revoke", data=data, headers=headers)
    assert response.status_code == 403 and "CSRF" in response.text
    assert vault.lookup(lease.lease_id).state == "active"


def test_a_csrf_token_belongs_to_one_sign_in(client, vault):
    lease = vault.issue("mem", "ro")
    first = client.sign_in("user:admin")
    client.sign_in("user:admin")
    response = client.submit(f"/ui/leases/{lease.lease_id}/revoke", first.text)
    assert response.status_code == 403 and vault.lookup(lease.lease_id).state == "active"


# -- leases ------------------------------------------------------------------------------------------


def test_find_a_lease_and_revoke_it(client, vault, target):
    lease = vault.as_identity("sa:app").issue("mem", "ro", metadata={"ticket": "OPS-1"})
    other = vault.issue("mem", "ro")
    client.sign_in("user:admin")
    page = client.get("/ui/leases?identity=sa:app&state=active")
    assert lease.lease_id in page.text and other.lease_id not in page.text
    assert "OPS-1" in page.text and "in 1h" in page.text
    response = client.submit(f"/ui/leases/{lease.lease_id}/revoke", page.text, back="/ui/leases?identity=sa:app")
    assert response.url.path == "/ui/leases"
    assert client.flashes(response.text) == [
        ("ok", f"Revoked {lease.lease_id}: {lease.lease.subject} is gone from engine mem.")
    ]
    assert lease.lease.subject not in target.users
    assert vault.lookup(lease.lease_id).state == "revoked"


def test_renew_from_the_lease_page(client, vault):
    lease = vault.as_identity("sa:app").issue("mem", "ro", ttl="30m")
    client.sign_in("sa:app")
    page = lease_page(client, lease.lease_id)
    response = client.submit(
        f"/ui/leases/{lease.lease_id}/renew", page.text, increment="1h", back=f"/ui/leases/{lease.lease_id}"
    )
    [(kind, text)] = client.flashes(response.text)
    assert kind == "ok" and text.startswith(f"Renewed {lease.lease_id}")
    assert vault.lookup(lease.lease_id).expires_at == lease.lease.expires_at + 3600


def test_an_issuer_sees_and_acts_on_its_own_leases_only(client, vault):
    """sa:app may not list every lease: the page says so and shows its own; another's lease is not its to see."""
    mine = vault.as_identity("sa:app").issue("mem", "ro")
    theirs = vault.issue("mem", "ro")
    client.sign_in("sa:app")
    page = client.get("/ui/leases")
    assert mine.lease_id in page.text and theirs.lease_id not in page.text
    assert "Showing your own leases only" in page.text
    assert lease_page(client, theirs.lease_id).status_code == 404
    response = client.submit(f"/ui/leases/{theirs.lease_id}/revoke", page.text, back="/ui/leases")
    [(kind, text)] = client.flashes(response.text)
    assert kind == "denied" and text.startswith(f"Denied: {theirs.lease_id} is not a lease sa:app may revoke")
    assert vault.lookup(theirs.lease_id).state == "active"
    client.submit(f"/ui/leases/{mine.lease_id}/revoke", page.text)
    assert vault.lookup(mine.lease_id).state == "revoked"


def test_pages_ask_before_listing_so_browsing_adds_no_refusal_to_the_audit_log(client, vault):
    """Choosing what to show (everyone's leases or one's own, an engine's roles) is asked with explain: a
    refusal in the audit log stays a sign that someone tried something, not that they opened a page."""
    vault.as_identity("sa:app").issue("mem", "ro")
    client.sign_in("user:oncall")  # may list engines but not every lease outside engine mem
    before = len(vault.audit_log(operation="access.denied"))
    for path in ("/ui/", "/ui/leases", "/ui/attention", "/ui/engines", "/ui/engines/mem"):
        assert client.get(path).status_code == 200, path
    assert len(vault.audit_log(operation="access.denied")) == before


def test_seeing_a_lease_is_not_revoking_it(client, vault):
    """user:oncall lists every lease of the engine but holds no revoke: the button is there, the vault says no."""
    lease = vault.as_identity("sa:app").issue("mem", "ro")
    client.sign_in("user:oncall")
    page = client.get("/ui/leases?engine=mem")
    assert lease.lease_id in page.text and "Showing your own" not in page.text
    response = client.submit(f"/ui/leases/{lease.lease_id}/revoke", page.text, back="/ui/leases?engine=mem")
    assert client.flashes(response.text)[0][0] == "denied"
    renewed = client.submit(f"/ui/leases/{lease.lease_id}/renew", page.text, back="/ui/leases?engine=mem")
    assert client.flashes(renewed.text)[0][0] == "denied"
    assert vault.lookup(lease.lease_id).state == "active"
    assert vault.lookup(lease.lease_id).expires_at == lease.lease.expires_at


def test_lease_filters_are_checked(client, vault):
    client.sign_in("user:admin")
    page = client.get("/ui/leases?state=<b>bogus</b>")
    assert page.status_code == 200 and "state must be one of" in page.text and "<b>bogus" not in page.text


def test_leases_are_paged(client, vault):
    from scaivault_console.pages import PAGE_SIZE

    ids = sorted(vault.issue("mem", "ro").lease_id for _ in range(PAGE_SIZE + 2))
    client.sign_in("user:admin")
    first = client.get("/ui/leases")
    assert ids[PAGE_SIZE - 1] in first.text and ids[PAGE_SIZE] not in first.text
    next_link = re.search(r'<a href="([^"]+)" rel="next"', first.text).group(1).replace("&amp;", "&")
    second = client.get(next_link)
    assert ids[PAGE_SIZE] in second.text and ids[0] not in second.text and 'rel="next"' not in second.text


def test_lease_metadata_is_rendered_as_text(client, vault):
    """Metadata is whatever an issuer wrote: on every page it appears as escaped text, never as markup."""
    lease = vault.as_identity("sa:app").issue("mem", "ro", metadata=XSS)
    client.sign_in("user:admin")
    for path in ("/ui/leases", f"/ui/leases/{lease.lease_id}", f"/ui/audit?lease_id={lease.lease_id}"):
        body = client.get(path).text
        assert "<script>document.title" not in body and "<img src=x" not in body, path
    body = client.get("/ui/leases").text
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in body
    assert "&#34;&gt;&lt;img src=x onerror=&#34;document.title=1&#34;&gt;" in body


# -- needs attention: failed revocations, forget ------------------------------------------------------


@pytest.fixture
def irrevocable(vault, target):
    """A lease whose revocation failed on its only attempt (the vault allows one here)."""
    lease = vault.as_identity("sa:app").issue("mem", "ro")
    target.down = True
    with pytest.raises(ScaiVaultError):
        vault.revoke(lease.lease_id)
    target.down = False
    assert vault.lookup(lease.lease_id).state == "irrevocable"
    return lease


def test_irrevocable_leases_show_their_last_error(client, vault, irrevocable, target):
    client.sign_in("user:admin")
    page = client.get("/ui/attention")
    assert irrevocable.lease_id in page.text
    assert f"Memory target {target.name} is down." in page.text
    assert client.get("/ui/").text.count("<strong>1</strong>") == 1  # the overview counts it


def test_forget_needs_the_box_ticked_and_revoke_on_the_engine(client, vault, irrevocable):
    client.sign_in("sa:app")  # the issuer: may revoke its lease, may not forget it
    page = client.get("/ui/attention")
    response = client.submit(f"/ui/leases/{irrevocable.lease_id}/forget", page.text, understood="yes")
    assert client.flashes(response.text)[0][0] == "denied"
    assert vault.lookup(irrevocable.lease_id).state == "irrevocable"

    client.sign_in("user:admin")
    page = client.get("/ui/attention")
    response = client.submit(f"/ui/leases/{irrevocable.lease_id}/forget", page.text)
    assert client.flashes(response.text)[0] == (
        "error",
        "Tick the box saying you understand the credential may remain in the target, then forget the lease.",
    )
    assert vault.lookup(irrevocable.lease_id).state == "irrevocable"
    response = client.submit(
        f"/ui/leases/{irrevocable.lease_id}/forget", page.text, understood="yes", back="/ui/attention"
    )
    assert client.flashes(response.text)[0][1].startswith(f"Forgot {irrevocable.lease_id}")
    assert vault.lookup(irrevocable.lease_id).state == "revoked"


def test_an_irrevocable_lease_can_be_revoked_again_once_the_target_is_back(client, vault, irrevocable, target):
    client.sign_in("user:admin")
    page = client.get("/ui/attention")
    response = client.submit(f"/ui/leases/{irrevocable.lease_id}/revoke", page.text, back="/ui/attention")
    assert client.flashes(response.text)[0][0] == "ok"
    assert irrevocable.lease.subject not in target.users


# -- engines, audit, explain ------------------------------------------------------------------------


def test_engines_and_roles(client, vault):
    client.sign_in("user:oncall")
    page = client.get("/ui/engines")
    assert 'href="/ui/engines/mem"' in page.text and ">ro</a>" in page.text
    detail = client.get("/ui/engines/mem")
    assert detail.status_code == 200 and 'id="role-ro"' in detail.text


def test_a_denied_page_says_denied_and_offers_explain(client, vault):
    client.sign_in("sa:app")
    page = client.get("/ui/engines")
    assert page.status_code == 403
    assert "sa:app has no policy granting &#39;list&#39; on &#39;dynamic/engines&#39;" in page.text
    assert "/ui/explain?path=dynamic%2Fengines&amp;permission=list" in page.text
    assert client.get("/ui/audit").status_code == 403


def test_audit_log_filtered_and_paged(client, vault):
    from scaivault_console.pages import PAGE_SIZE

    for _ in range(PAGE_SIZE + 1):
        vault.issue("mem", "ro")
    client.sign_in("user:oncall")
    page = client.get("/ui/audit?operation=lease.issue")
    assert page.text.count("<td>lease.issue</td>") == PAGE_SIZE
    next_link = re.search(r'<a href="([^"]+)" rel="next"', page.text).group(1).replace("&amp;", "&")
    assert client.get(next_link).text.count("<td>lease.issue</td>") == 1
    bad = client.get("/ui/audit?since=yesterday-ish")
    assert bad.status_code == 200 and "since" in "".join(t for _, t in client.flashes(bad.text))


def test_audit_first_visit_shows_the_last_hour(client, vault):
    client.sign_in("user:oncall")
    page = client.get("/ui/audit")
    assert 'name="since" value="1h"' in page.text


def test_explain_answers_rule_by_rule(client, vault):
    client.sign_in("user:admin")
    page = client.get("/ui/explain?identity=sa:app&permission=read&path=dynamic/engines/mem/roles/ro")
    assert (
        "Yes: sa:app may read dynamic/engines/mem/roles/ro. sa:app is granted it by rule 1 of policy "
        "&#39;app&#39;" in page.text
    )
    no = client.get("/ui/explain?identity=sa:app&permission=revoke&path=dynamic/engines/mem/roles/ro")
    assert 'class="answer no"' in no.text


def test_explain_of_another_identity_is_denied_without_read_on_every_policy(client, vault):
    client.sign_in("sa:app")
    own = client.get("/ui/explain?path=dynamic/engines/mem/roles/ro")  # identity defaults to the signed-in one
    assert 'class="answer yes"' in own.text
    other = client.get("/ui/explain?identity=user:oncall&permission=list&path=dynamic/engines/mem")
    [(kind, text)] = client.flashes(other.text)
    assert kind == "denied" and "may explain only its own access" in text


def test_operator_settings_are_checked_at_start(vault, monkeypatch):
    monkeypatch.setenv("SCAIVAULT_CONSOLE_IDLE_TIMEOUT", "soon")
    with pytest.raises(InvalidConfig) as err:
        create_app(vault)
    assert err.value.details["field"] == "SCAIVAULT_CONSOLE_IDLE_TIMEOUT"
