"""The catch-up benchmark runs with tiny numbers and prints its figures (python -m bench.bench_catchup)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_catchup_benchmark_prints_its_figures() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_catchup", "--tasks", "20", "--rps", "20", "--timeout", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "overdue tasks after a restart: 20; PROVIDER_MAX_RPS=20" in out
    peak = re.search(
        r"peak requests in any 1 s window :\s+(\d+)\s+ratio to PROVIDER_MAX_RPS:\s+([\d.]+)x", out
    )
    took = re.search(
        r"time to poll every task once\s+:\s+([\d.]+) s\s+ideal N/rate ([\d.]+) s, ratio\s+([\d.]+)x", out
    )
    assert peak and took and "baseline, PROVIDER_MAX_RPS=1000" in out, out
    assert int(peak.group(1)) <= 20 + 2
