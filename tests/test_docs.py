"""Code samples in docs/ run: every ```python block of a page, in order, in one namespace.

A block whose preceding line is ``<!-- not-run: reason -->`` is skipped. Pages whose samples are
exercised elsewhere (the guide, by the curl test) are listed in ``COVERED_ELSEWHERE``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
COVERED_ELSEWHERE = {"guide/dynamic-secrets.md"}  # its curl and httpx samples run in tests/rest
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.S)


def python_blocks(page: Path) -> list[str]:
    text = "\n" + page.read_text()
    return [m["code"] for m in BLOCK.finditer(text) if not m["before"].strip().startswith("<!-- not-run")]


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p) and str(p.relative_to(DOCS)) not in COVERED_ELSEWHERE)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_docs_samples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SCAIVAULT_HOME", str(tmp_path / "home"))
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    for index, code in enumerate(python_blocks(page)):
        try:
            exec(compile(code, f"{page.relative_to(DOCS)}[block {index}]", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"{page.relative_to(DOCS)} block {index} failed: {exc!r}") from exc
    for value in list(namespace.values()):  # close whatever the page left open
        if type(value).__name__ == "Vault" and hasattr(value, "close"):
            try:
                value.close()
            except Exception:
                pass


def test_every_docs_page_is_linked_from_the_index():
    index = (DOCS / "index.md").read_text()
    for page in ("concepts.md", "python-api.md", "rotation.md", "errors.md"):
        assert page in index
