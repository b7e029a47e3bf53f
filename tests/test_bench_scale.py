"""The scale benchmark runs with tiny numbers and prints its figures (python -m bench.bench_scale)."""

from __future__ import annotations

import re

from bench.smoke import run_benchmark


def test_the_scale_benchmark_prints_its_figures() -> None:
    out = run_benchmark("bench_scale", "--tasks", "20", "--seconds", "3", "--interval", "1", "--rps", "40")
    assert "pending tasks: 20; POLL_INTERVAL_SECONDS=1 (demand 20.0 polls/s)" in out, out
    assert re.search(r"polls on time \(gap <= 1.2 x interval\):\s+[\d.]+%", out), out
    assert re.search(r"bot resident memory, VmRSS\s+:\s+[\d.]+ MiB\s+ratio to idle\s+[\d.]+x", out), out
    used = re.search(
        r"requests per second in the window :\s+([\d.]+)\s+ratio to PROVIDER_MAX_RPS\s+([\d.]+)x", out
    )
    gap = re.search(r"longest gap between polls of a task:\s+([\d.]+) s\s+fair share N/rate ([\d.]+) s", out)
    assert used and gap, out
    assert float(used.group(2)) <= 1.5, out  # the budget holds
