"""The benchmarks stay runnable: each runs once at a tiny size and prints its table (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=BENCH, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_pg_issue_revoke_bench_runs():
    out = run_bench("pg_issue_revoke.py", "--pairs", "3", "--runs", "1")
    assert "ratio" in out and "PostgreSQL issue+revoke" in out


def test_scale_out_bench_runs():
    out = run_bench("scale_out.py", "--pairs", "6", "--runs", "1", "--clients", "3")
    assert "1 proc/s" in out and "3 proc/s" in out and "3 engines" in out
