"""The big-delivery benchmark runs with a small video and prints its figures (python -m bench.bench_big_delivery)."""

from __future__ import annotations

import re

from bench.smoke import run_benchmark


def test_the_big_delivery_benchmark_prints_its_figures() -> None:
    out = run_benchmark("bench_big_delivery", "--mb", "12")
    assert "video: 12 MiB, generated and streamed by the stand-in; MAX_VIDEO_MB=24" in out, out
    assert re.search(r"delivered as\s+: link in [\d.]+ s \(12.0 MiB on the bot's disk after\)", out), out
    before = re.search(r"bot VmRSS before the delivery :\s+([\d.]+) MiB", out)
    peak = re.search(r"bot VmRSS peak during it\s+:\s+([\d.]+) MiB\s+growth\s+([+-][\d.]+) MiB", out)
    ratio = re.search(r"ratio peak / before\s+:\s+([\d.]+)x", out)
    assert before and peak and ratio, out
