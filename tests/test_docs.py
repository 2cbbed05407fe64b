"""Code samples in docs/ run: every ```python block of a page, in order, in one namespace.

A block whose preceding line is ``<!-- not-run: reason -->`` is skipped. Pages whose samples are
exercised elsewhere (the guide, by the curl test) are listed in ``COVERED_ELSEWHERE``.

A ``print(...)  # output`` line promises the reader that output: it must run, and print what the
comment says, where ``…`` stands for any text and a run of spaces for any whitespace. So a sample
showing an error in an ``except`` branch fails when nothing is raised.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
COVERED_ELSEWHERE = {"guide/dynamic-secrets.md"}  # its curl and httpx samples run in tests/rest
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)


def python_blocks(page: Path) -> list[str]:
    text = "\n" + page.read_text()
    return [m["code"] for m in BLOCK.finditer(text) if not m["before"].strip().startswith("<!-- not-run")]


PROMISED_OUTPUT = re.compile(r"^\s*print\(.*\)\s+# (?P<output>.+)$")


def promised_outputs(code: str) -> dict[int, re.Pattern]:
    """Line number → what that line's ``print`` must write, as a pattern."""
    found = {}
    for number, line in enumerate(code.splitlines(), 1):
        if match := PROMISED_OUTPUT.match(line):
            words = [".*".join(map(re.escape, word.split("…"))) for word in match["output"].split()]
            found[number] = re.compile(r"\s+".join(words))
    return found


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p) and str(p.relative_to(DOCS)) not in COVERED_ELSEWHERE)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_docs_samples_run(page, tmp_path, monkeypatch, names_lock):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCAIVAULT_HOME", str(tmp_path / "home"))
    promised: dict[tuple[str, int], re.Pattern] = {}
    printed: set[tuple[str, int]] = set()

    def checked_print(*args, sep=" ", end="\n", file=None, flush=False):
        caller = sys._getframe(1)
        where = (caller.f_code.co_filename, caller.f_lineno)
        builtins.print(*args, sep=sep, end=end, file=file, flush=flush)
        if where in promised:
            output = (sep or " ").join(map(str, args))
            if not promised[where].fullmatch(output.strip()):
                raise AssertionError(
                    f"{where[0]} line {where[1]} printed {output!r}; the page promises {promised[where].pattern!r}"
                )
            printed.add(where)

    namespace: dict = {"__name__": f"docs.{page.stem}", "print": checked_print}
    with names_lock(f"docs/{page.relative_to(DOCS)}"):  # a page names its own databases (docs_client, ...)
        for index, code in enumerate(python_blocks(page)):
            name = f"{page.relative_to(DOCS)}[block {index}]"
            promised.update({(name, line): output for line, output in promised_outputs(code).items()})
            try:
                exec(compile(code, name, "exec"), namespace)
            except Exception as exc:
                raise AssertionError(f"{name} failed: {exc!r}") from exc
    never = sorted(set(promised) - printed)
    assert not never, f"promised output never printed: {never}"
    for value in list(namespace.values()):  # close whatever the page left open
        if type(value).__name__ == "Vault" and hasattr(value, "close"):
            with contextlib.suppress(Exception):
                value.close()


def test_every_docs_page_is_linked_from_the_index():
    index = (DOCS / "index.md").read_text()
    for page in ("concepts.md", "python-api.md", "rotation.md", "errors.md"):
        assert page in index
