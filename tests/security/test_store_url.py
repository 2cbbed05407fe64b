"""A PostgreSQL store URL's credentials never show (issue 17.7): ``init`` printed ``?password=`` in clear.

Every credential-bearing form is masked wherever the URL is shown: the user-info password, the
``password`` and ``sslpassword`` query parameters (also percent-encoded), in the CLI's output, in
errors and in reprs.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import pytest

from scaivault_core import InvalidConfig
from scaivault_core.crypto import encode_key, new_key
from scaivault_core.store.postgresql import PostgresStore
from scaivault_core.testing import free_port
from scaivault_core.testing.servers import scaivault_command

USER_PW, QUERY_PW, KEY_PW = "userinfo-pw-1f8a", "query+pw/2c9b", "ssl-key-pass-3d7e"
SECRETS = (USER_PW, QUERY_PW, "query%2Bpw%2F2c9b", "query+pw%2F2c9b", KEY_PW)


def store_url(port: int, schema: str) -> str:
    # The machine's PostgreSQL trusts loopback logins, so the passwords are carried, never checked.
    return (
        f"postgresql://postgres:{USER_PW}@127.0.0.1:{port}/postgres?sslmode=disable&password=query%2Bpw%2F2c9b"
        f"&sslpassword={KEY_PW}&schema={schema}"
    )


@pytest.fixture
def schema(pg_admin):
    name = "sec_url_" + secrets.token_hex(4)
    yield name
    pg_admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


KEY = encode_key(new_key())


def scaivault(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCAIVAULT_")}
    env["SCAIVAULT_KEY"] = KEY
    return subprocess.run([*scaivault_command(), *args], env=env, capture_output=True, text=True, timeout=120)


def assert_masked(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text
    assert "postgres:***@127.0.0.1" in text and "password=***" in text and "sslpassword=***" in text, text


def test_init_shows_the_store_url_with_every_credential_masked(schema):
    url = store_url(5432, schema)
    first = scaivault("--store", url, "init")
    assert first.returncode == 0, first.stderr
    assert_masked(first.stdout + first.stderr)
    again = scaivault("--store", url, "init")  # already initialised: the error names the store too
    assert again.returncode == 1 and again.stderr.startswith("Error (conflict)")
    assert_masked(again.stderr)


def test_an_unreachable_store_is_named_masked_in_the_error():
    with pytest.raises(InvalidConfig) as caught:
        PostgresStore(store_url(free_port(), "scaivault")).migrate()
    assert_masked(caught.value.message)


def test_the_stores_repr_is_masked():
    assert_masked(repr(PostgresStore(store_url(5432, "scaivault"))))
