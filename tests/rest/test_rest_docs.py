"""docs/rest.md's endpoint table is the API: every operation, with its method, path and success status."""

from __future__ import annotations

import re
from pathlib import Path

from scaivault_core.rest import operations

PAGE = Path(__file__).resolve().parents[2] / "docs" / "rest.md"
ROW = re.compile(r"^\| (GET|PUT|POST|DELETE) \| `([^`]+)` \|[^|]*\| (\d{3}) \|", re.M)


def test_endpoint_table_matches_the_operations():
    documented = {(m, p, int(s)) for m, p, s in ROW.findall(PAGE.read_text())}
    served = {(op.method, re.sub(r"\{(\w+):\w+\}", r"{\1}", op.path), op.status) for op in operations()}
    served.add(("GET", "/v1/openapi.json", 200))
    assert documented == served
