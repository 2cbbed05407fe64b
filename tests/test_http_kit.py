"""The HTTP kit's root-token auth: a stale token is replaced once, refused credentials are invalid_config."""

from __future__ import annotations

import httpx
import pytest

from scaivault_core import InvalidConfig
from scaivault_core.kits.http import RootBearer


def client(accepted: set[str], seen: list[str]) -> httpx.Client:
    """A client whose API accepts only the ``accepted`` tokens, noting each Authorization it is sent."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"].removeprefix("Bearer ") in accepted:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json={"error": {"code": "InvalidAuthenticationToken", "message": "expired"}})

    return httpx.Client(transport=httpx.MockTransport(answer))


def tokens(*issued: str):
    """``token(fresh)``: the cached token, or the next one issued when asked for a fresh one."""
    state = {"current": issued[0], "next": list(issued[1:])}

    def token(fresh: bool) -> str:
        if fresh:
            state["current"] = state["next"].pop(0)
        return state["current"]

    return token


def test_a_stale_token_is_replaced_once_and_the_call_goes_through():
    seen: list[str] = []
    auth = RootBearer(tokens("stale", "fresh"), service="the Graph API", holder="the root client")
    response = client({"fresh"}, seen).get("https://graph.test/v1/apps", auth=auth)
    assert response.status_code == 200 and seen == ["Bearer stale", "Bearer fresh"]


def test_a_token_refused_twice_is_invalid_config_on_the_root_credentials():
    seen: list[str] = []
    auth = RootBearer(tokens("stale", "also-refused"), service="the Graph API", holder="the root client")
    with pytest.raises(InvalidConfig) as refused:
        client(set(), seen).get("https://graph.test/v1/apps", auth=auth)
    assert refused.value.message == (
        "the Graph API does not accept the root client's token: InvalidAuthenticationToken: expired"
    )
    assert refused.value.details == {"field": "root_credentials", "api_code": "InvalidAuthenticationToken"}
    assert len(seen) == 2
