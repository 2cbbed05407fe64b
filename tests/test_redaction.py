"""``redact``: a secret is masked in every form a target or a driver commonly writes it back."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from scaivault_core import redact

SECRET = "Pa%s w0rd/with'quote\"s&more"


@pytest.mark.parametrize(
    "form",
    [
        SECRET,
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        json.dumps(SECRET)[1:-1],
        SECRET.replace("'", "''"),
        SECRET.replace('"', '""'),
        SECRET.upper(),
        SECRET.lower(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        SECRET.encode().hex(),
        SECRET.encode().hex().upper(),
    ],
)
def test_each_written_form_of_a_secret_is_masked(form):
    text = f'FATAL: database "x{form}" does not exist'
    assert redact(text, [SECRET]) == 'FATAL: database "x***" does not exist'


def test_text_without_a_secret_is_unchanged():
    assert redact('database "app" does not exist', [SECRET]) == 'database "app" does not exist'
