"""Policy path patterns: linear-time matching and exact inclusion (``covers``)."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaivault_core import InvalidRequest
from scaivault_core.path_patterns import Budget, Glob, compile_pattern, covers, matches

SEGMENTS = ("a", "b", "*", "**")
PATH_SEGMENTS = ("a", "b", "c")  # "c" is named by no pattern: it stands for every other segment


def regex_matches(pattern: str, path: str) -> bool:
    """The backtracking matcher ``matches`` replaced: the reference for its semantics."""
    pieces = {"**": "(?:[^/]+/)*", "*": "[^/]+/"}
    return bool(re.fullmatch("".join(pieces.get(s) or re.escape(s) + "/" for s in pattern.split("/")), path + "/"))


patterns = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map("/".join)
paths = st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=7).map("/".join)


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("**", "a", True),
        ("**", "a/b/c", True),
        ("a/**", "a", True),
        ("a/**", "a/b/c", True),
        ("**/x", "x", True),
        ("**/x", "a/b/x", True),
        ("**/x", "a/x/b", False),
        ("a/*", "a", False),
        ("a/*", "a/b", True),
        ("a/*", "a/b/c", False),
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("*/**/*", "a", False),
        ("*/**/*", "a/b", True),
        ("a", "a//", False),
        ("**", "a//b", False),
    ],
)
def test_globs_match_as_documented(pattern, path, expected):
    assert matches(pattern, path) is expected


@settings(max_examples=500, deadline=None)
@given(patterns, paths)
def test_matching_agrees_with_the_regular_expression_it_replaced(pattern, path):
    assert matches(pattern, path) == regex_matches(pattern, path)


def test_many_globstars_against_a_long_path_take_one_step_per_segment(monkeypatch):
    # The regular expression backtracked through every split of 200 segments among five '**'
    # (issue 17.7). Now each path segment is one step over a set of at most len(pattern)+1 positions.
    steps: list[int] = []
    real_step = Glob.step

    def counting_step(self, live, segment):
        after = real_step(self, live, segment)
        steps.append(bin(after).count("1"))
        return after

    monkeypatch.setattr(Glob, "step", counting_step)
    pattern, path = "**/**/**/**/**/x", "/".join(["seg"] * 200)
    assert matches(pattern, path) is False
    assert matches(pattern, path + "/x") is True
    assert len(steps) == 200 + 201
    assert max(steps) <= len(pattern.split("/")) + 1


# -- inclusion -------------------------------------------------------------------------------------


def language(pattern: str, max_length: int) -> set[str]:
    return {p for p in all_paths(max_length) if matches(pattern, p)}


def all_paths(max_length: int) -> list[str]:
    return ["/".join(p) for n in range(1, max_length + 1) for p in itertools.product(PATH_SEGMENTS, repeat=n)]


@pytest.mark.parametrize(
    "held, pattern, expected",
    [
        (["**"], "anything/at/all", True),
        (["dynamic/engines/*"], "dynamic/**", False),
        (["dynamic/**"], "dynamic/engines/*", True),
        (["dynamic/engines/*"], "dynamic/engines/*", True),
        (["dynamic/engines/pg"], "dynamic/engines/*", False),
        (["a/*", "a/*/**"], "a/**/b", True),  # only together
        (["a/*"], "a/**/b", False),
        (["*/b", "a/*"], "a/b", True),
        (["*/**"], "**", True),  # no path is empty
        (["**/x"], "**/*/x", True),
        (["*/**/x"], "**/x", False),
        (["x/**", "*/y/**"], "*/**", False),
        ([], "a", False),
    ],
)
def test_inclusion_examples(held, pattern, expected):
    assert covers(held, pattern) is expected


@settings(max_examples=400, deadline=None)
@given(st.lists(patterns, max_size=3), patterns, st.data())
def test_inclusion_is_sound(held, pattern, data):
    """When ``covers`` says yes, every path the pattern matches is matched by a held pattern."""
    if covers(held, pattern):
        for _ in range(20):
            path = data.draw(path_in(pattern))
            assert matches(pattern, path)
            assert any(matches(h, path) for h in held), (held, pattern, path)


def path_in(pattern: str) -> st.SearchStrategy[str]:
    """Paths ``pattern`` matches: each '*' one segment, each '**' none to three."""
    parts = []
    for segment in pattern.split("/"):
        if segment == "*":
            parts.append(st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=1))
        elif segment == "**":
            parts.append(st.lists(st.sampled_from(PATH_SEGMENTS), max_size=3))
        else:
            parts.append(st.just([segment]))
    return st.tuples(*parts).map(lambda chosen: "/".join(s for part in chosen for s in part)).filter(bool)


def test_inclusion_agrees_with_brute_force_on_small_patterns():
    # Every pattern of up to two segments over {a, b, *, **}, against every one or two held: for
    # patterns this short a counterexample, where there is one, is short too, so paths of up to five
    # segments (over a, b and "c" for any other) decide the question.
    small = ["/".join(p) for n in (1, 2) for p in itertools.product(SEGMENTS, repeat=n)]
    languages = {p: language(p, 5) for p in small}
    for pattern in small:
        for held in itertools.combinations(small, 2):
            expected = languages[pattern] <= languages[held[0]] | languages[held[1]]
            assert covers(held, pattern) is expected, (held, pattern)
        for one in small:
            assert covers([one], pattern) is (languages[pattern] <= languages[one]), (one, pattern)


@settings(max_examples=200, deadline=None)
@given(st.lists(patterns, min_size=1, max_size=2), patterns)
def test_inclusion_agrees_with_brute_force_on_random_patterns(held, pattern):
    wanted = language(pattern, 6)
    covered = set().union(*(language(h, 6) for h in held))
    if covers(held, pattern):
        assert wanted <= covered
    elif not any("**" in p for p in (*held, pattern)):
        assert not wanted <= covered  # without '**' every path is at most 5 segments: all of them were tried


def test_an_exponential_question_is_refused_not_answered_slowly():
    # '**/a/*/*/.../*' remembers which of the last n segments were 'a': 2^n sets of live positions
    # to walk through before "yes, '**/*/.../*' covers it" is proven.
    with pytest.raises(InvalidRequest) as err:
        covers(["**" + "/*" * 24], "**/a" + "/*" * 24, Budget(20_000))
    assert "too long" in err.value.message


def test_compiled_patterns_mark_where_anything_may_follow():
    assert compile_pattern("a/**/**").universal == 0b110
    assert compile_pattern("**").universal == 0b1
    assert compile_pattern("a/*").universal == 0
