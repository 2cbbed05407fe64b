"""Role templates and durations as an attacker writes them, against a live server: expensive templates
and escapes are refused when the role is created (400 ``invalid_config``) while the server goes on
answering; malformed TTLs are 400 ``invalid_request`` with no traceback in the server's log."""

from __future__ import annotations

import threading

import httpx

from .conftest import grant

ROLES = "/v1/dynamic/engines/pg/roles"
CREATION = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"

EXPENSIVE = [
    "SELECT {{ (9 ** (9 ** 7)) > 1 }}",  # folded while compiling: seconds holding the GIL, then accepted
    "SELECT {{ 2 ** 20000 }}",  # accepted, then a 500 at every issue
    "SELECT '{{ 'x' * 300000000 }}'",  # 300 MB
    "SELECT '{{ name|center(300000000) }}'",
    "SELECT '{{ name.ljust(300000000) }}'",
    "SELECT '{{ ('x' * 10000)|replace('', 'x' * 10000) }}'",  # 100 MB from two small strings
    "SELECT '{{ '%300000000s' % name }}'",
    "SELECT '{{ '%300000000d' is odd }}'",
    "SELECT '{{ 7|round(-300000000) }}'",  # 10 ** 300000000
    "{% for x in range(100000) %}{% for y in range(100000) %}{% endfor %}{% endfor %}SELECT 1",
]
ESCAPES = [
    "SELECT '{{ name.__class__.__mro__ }}'",  # accepted before, and failed at issue
    "SELECT '{{ name['__class__'] }}'",
    "SELECT '{{ name|attr('__class__') }}'",
    "SELECT '{% if ttl_seconds < 0 %}{{ name.__class__ }}{% endif %}'",  # in a branch that never runs
    "SELECT '{{ name.format(name) }}'",
    "SELECT '{{ lipsum() }}'",
]
BAD_TTLS = ["9" * 5000, "9" * 5000 + "h", "٣", "５m", "1٣h", "²", "1h\u00a0", "\u30001h", "1" * 33]


def role(name: str, template: str) -> dict:
    return {"name": name, "creation_statements": [CREATION, template], "default_ttl": "1h", "max_ttl": "8h"}


def no_traceback(live) -> None:
    log = live.log.read_text(errors="replace")
    assert "Traceback" not in log, log[-3000:]


def test_expensive_templates_are_refused_at_creation_while_the_server_answers(server, pg_engine):
    live = server()
    pg_engine(live)
    for template in EXPENSIVE:
        answers: list[httpx.Response] = []
        creating = threading.Thread(
            target=lambda answers=answers, template=template: answers.append(
                live.admin.post(ROLES, role("costly", template))
            )
        )
        creating.start()
        with httpx.Client(base_url=live.url, timeout=60) as other:  # another caller, while that role is checked
            assert other.get("/v1/health").status_code == 200, template
        creating.join(120)
        assert not creating.is_alive(), template
        (answer,) = answers
        assert answer.status_code == 400, (template, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "invalid_config" and error["details"]["field"] == "creation_statements[1]", template
        assert "xxxx" not in error["message"]  # the reason, never the template's values
        assert live.admin.get(f"{ROLES}/costly").status_code == 404, template
    no_traceback(live)


def test_attribute_escapes_are_refused_at_creation_not_at_issue(server, pg_engine):
    live = server()
    pg_engine(live)
    for template in ESCAPES:
        answer = live.admin.post(ROLES, role("evil", template))
        assert answer.status_code == 400, (template, answer.text)
        assert answer.json()["error"]["code"] == "invalid_config", template
        assert answer.json()["error"]["details"]["field"] == "creation_statements[1]", template
        assert live.admin.post("/v1/dynamic/engines/pg/creds/evil", {}).json()["error"]["code"] == "role_not_found"
    no_traceback(live)


def test_a_template_within_the_limits_still_issues(server, pg_engine):
    live = server()
    pg_engine(live)
    comment = "COMMENT ON ROLE \"{{name}}\" IS '{{ name|upper ~ '-' ~ (ttl_seconds // 60) }}'"
    live.admin.ok("POST", ROLES, role("fine", comment))
    issued = live.admin.ok("POST", "/v1/dynamic/engines/pg/creds/fine", {"ttl": "30m"})
    assert issued["data"]["username"].startswith("v_fine_")
    assert live.admin.delete(f"/v1/dynamic/leases/{issued['lease_id']}").status_code == 204


def test_malformed_ttls_are_invalid_request_without_a_traceback(server, pg_engine):
    live = server()
    pg_engine(live)
    app = grant(live, "sa:app", [{"path_pattern": "dynamic/engines/pg/roles/readonly", "permissions": ["read"]}])
    engine = live.admin.ok("GET", "/v1/dynamic/engines/pg")
    for ttl in BAD_TTLS:
        for caller, method, path, body, field in [
            (app, "POST", "/v1/dynamic/engines/pg/creds/readonly", {"ttl": ttl}, "ttl"),
            (live.admin, "POST", ROLES, {**role("r", "SELECT 1"), "max_ttl": ttl}, "max_ttl"),
            (
                live.admin,
                "PUT",
                "/v1/dynamic/engines/pg",
                {
                    "type": "database",
                    "default_ttl": ttl,
                    "config": {**engine["config"], "plugin": "postgresql", "root_credentials_path": "infra/pg/root"},
                },
                "default_ttl",
            ),
        ]:
            answer = caller.http.request(method, path, json=body)
            assert answer.status_code == 400, (ttl, path, answer.text)
            assert answer.json()["error"]["code"] == "invalid_request", (ttl, answer.text)
            assert answer.json()["error"]["details"]["field"] == field, ttl
    assert live.admin.get(f"{ROLES}/r").status_code == 404
    assert live.admin.ok("GET", "/v1/dynamic/leases")["leases"] == []
    no_traceback(live)


def test_integer_query_parameters_take_ascii_digits(server):
    live = server()
    for limit in ["٣", "²", "--5", "9" * 5000]:
        answer = live.admin.get("/v1/dynamic/leases", params={"limit": limit})
        assert answer.status_code == 400, (limit, answer.text)
        assert answer.json()["error"] == {
            "code": "invalid_request",
            "message": "limit must be a whole number.",
            "details": {"field": "limit"},
        }, limit
    no_traceback(live)
