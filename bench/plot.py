"""The start-up plot of docs/performance.md: time to first served request and RSS against lease count.

Needs matplotlib (``pip install -r bench/requirements.txt``), which the core does not depend on.
``python bench/plot.py startup.json out.png`` redraws it from ``startup.py --json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def plot_startup(figures: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = figures["sizes"]
    wall = [_get(figures["startup_s"], n) for n in sizes]
    cpu = [_get(figures["startup_cpu_s"], n) for n in sizes]
    rss = [_get(figures["rss_mb"], n) for n in sizes]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.plot(sizes, wall, "o-", label="wall time")
    left.plot(sizes, cpu, "s--", label="CPU time of the process")
    left.axhline(1.0, color="grey", linewidth=0.8, linestyle=":", label="goal: 1 s")
    left.set_title("Start-up to first served request")
    left.set_ylabel("seconds")
    left.set_ylim(bottom=0)
    right.plot(sizes, rss, "o-", color="tab:green", label="RSS")
    right.axhline(rss[0] + 50, color="grey", linewidth=0.8, linestyle=":", label="goal: 0-lease RSS + 50 MB")
    right.set_title("Resident memory after start-up")
    right.set_ylabel("MB")
    right.set_ylim(bottom=0, top=max(rss + [rss[0] + 50]) * 1.15)
    for axis in (left, right):
        axis.set_xlabel("leases in the store")
        axis.set_xticks(sizes)
        axis.set_xticklabels([_count(n) for n in sizes])
        axis.legend(fontsize=8, loc="lower right")
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _get(values: dict[Any, float], n: int) -> float:
    return values[str(n)] if str(n) in values else values[n]  # JSON turned the keys into strings


def _count(n: int) -> str:
    return (
        f"{n // 1_000_000}M"
        if n >= 1_000_000 and n % 1_000_000 == 0
        else (f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n))
    )


if __name__ == "__main__":
    plot_startup(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
