"""Durations and other numbers read from callers: ASCII digits only, bounded length, invalid_request otherwise."""

from __future__ import annotations

import attrs
import pytest

from scaivault_core import InvalidConfig, InvalidRequest, parse_duration
from scaivault_core.api import Query
from scaivault_core.cli import parse_listen
from scaivault_core.converter import structure
from scaivault_core.durations import MAX_LENGTH, MAX_SECONDS


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("30m", 1800),
        ("2h", 7200),
        ("1h30m", 5400),
        ("0", 0),
        ("3600", 3600),
        (" 2H ", 7200),
        ("1d", 86400),
        (3600, 3600),
        (60.0, 60),
        (None, None),
    ],
)
def test_the_guides_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "٣",
        "５m",
        "1٣h",
        "²",
        "𝟗",
        "1h\u00a0",
        "\u30001h",  # digits and spaces int() or strip() would take
        "9" * 5000,
        "9" * 5000 + "h",
        "1" * (MAX_LENGTH + 1),  # 5,000 digits was a 500 with a traceback
        "-1",
        "1.5h",
        "1h-1m",
        "h",
        "",
        "1w",
        "0x10",
        "1_000",
        float("inf"),
        float("nan"),
        1.5,
        True,
        [1],
        {"h": 1},
    ],
)
def test_anything_else_is_invalid_request_naming_the_field(text):
    with pytest.raises(InvalidRequest) as err:
        parse_duration(text, "max_ttl")
    assert err.value.details == {"field": "max_ttl"} and "max_ttl" in err.value.message


def test_the_longest_accepted_string_is_cheap_and_in_range():
    with pytest.raises(InvalidRequest, match="out of range"):
        parse_duration("9" * MAX_LENGTH)
    assert parse_duration(str(MAX_SECONDS)) == MAX_SECONDS


@pytest.mark.parametrize("raw", ["٣", "²", "--5", "-", "1e3", "1" * 13, " 5"])
def test_integer_query_parameters_take_ascii_digits_only(raw):
    query = Query("limit", "Page size.", type="integer", minimum=1, maximum=1000)
    with pytest.raises(InvalidRequest) as err:
        query.parse(raw)
    assert err.value.details == {"field": "limit"}
    assert query.parse("25") == 25


@pytest.mark.parametrize("listen", ["127.0.0.1:٣٣", "127.0.0.1:²", "127.0.0.1:" + "9" * 5000])
def test_the_listen_port_takes_ascii_digits_only(listen):
    with pytest.raises(InvalidRequest):
        parse_listen(listen)


def test_whole_numbers_in_configs_and_quotas_are_bounded(vault):
    with pytest.raises(InvalidConfig) as err:
        vault.create_role("mem", "big", max_leases=10**30)  # overflowed the store's integer: a 500
    assert err.value.details == {"field": "max_leases"}
    with pytest.raises(InvalidConfig, match="port"):
        structure({"port": 2**70}, Port, where="config")


@attrs.define
class Port:
    port: int
