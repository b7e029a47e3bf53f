"""The acknowledgement benchmark runs with tiny numbers and prints its figures (python -m bench.bench_ack_latency)."""

from __future__ import annotations

import re

from bench.smoke import run_benchmark


def test_the_ack_latency_benchmark_prints_its_figures() -> None:
    out = run_benchmark("bench_ack_latency", "--commands", "4", "--tasks", "10", "--interval", "0.5")
    assert "/video acknowledgements: 4 per run; POLL_INTERVAL_SECONDS=0.5" in out, out
    idle = re.search(r"idle bot \(baseline\)\s+: p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms", out)
    busy = re.search(r"10 tasks being polled : p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms", out)
    ratio = re.search(r"ratio p99 loaded / idle  :\s+([\d.]+)x", out)
    assert idle and busy and ratio, out
    assert float(idle.group(2)) < 3000 and float(busy.group(2)) < 3000, out  # inside Discord's 3-second rule
