"""Behind a proxy that terminates TLS, the console's cookies are ``Secure``: the served process takes
``X-Forwarded-Proto`` from a trusted peer (``FORWARDED_ALLOW_IPS``, by default loopback), under either
front end, and from nobody else."""

from __future__ import annotations

import httpx
import pytest

from scaivault_core.testing.servers import FRONT_ENDS, LiveServer


def form_cookie(live: LiveServer, **headers: str) -> str:
    answer = httpx.get(f"{live.url}/ui/sign-in", headers=headers)
    assert answer.status_code == 200
    return answer.headers["set-cookie"].lower()


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_a_trusted_proxy_saying_https_makes_the_cookies_secure(tmp_path, front_end):
    with LiveServer(tmp_path, front_end=front_end) as live:
        assert "secure" not in form_cookie(live)
        assert "secure" in form_cookie(live, **{"X-Forwarded-Proto": "https"})


@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_an_untrusted_peer_saying_https_changes_nothing(tmp_path, front_end):
    with LiveServer(tmp_path, front_end=front_end, env={"FORWARDED_ALLOW_IPS": "192.0.2.1"}) as live:
        assert "secure" not in form_cookie(live, **{"X-Forwarded-Proto": "https"})
