"""The poller CPU benchmark runs with tiny numbers and prints its figures (python -m bench.bench_poller_cpu)."""

from __future__ import annotations

import re

from bench.smoke import run_benchmark


def test_the_poller_cpu_benchmark_prints_its_figures() -> None:
    out = run_benchmark("bench_poller_cpu", "--tasks", "10", "--seconds", "1.5", "--interval", "0.5")
    assert "pending tasks: 10; POLL_INTERVAL_SECONDS=0.5; window 1.5 s" in out, out
    fast = re.search(r"provider answers at once :\s+([\d.]+) s\s+polls\s+(\d+)", out)
    slow = re.search(r"each poll takes\s+300 ms\s+:\s+([\d.]+) s\s+polls\s+(\d+)", out)
    ratio = re.search(r"ratio CPU 300 ms / 0 ms\s+:\s+([\d.]+)x", out)
    assert fast and slow and ratio, out
    assert int(fast.group(2)) > 0 and int(slow.group(2)) > 0, out
