"""The poll-latency benchmark runs as one command and prints its figures in the promised shape (tiny run)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT

ROW = re.compile(r"^(fixed|learned|oracle|median-only)\s+([\d.]+) s\s+([\d.]+) s\s+([\d.]+)\s+([\d.]+)$")


def test_the_benchmark_prints_delays_polls_and_ratios() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.bench_poll_latency", "--trials", "2", "--tasks", "20", "--seed", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    lines = run.stdout.strip().splitlines()
    rows = {m.group(1): [float(x) for x in m.groups()[1:]] for line in lines if (m := ROW.match(line))}
    assert set(rows) == {"fixed", "learned", "oracle", "median-only"}, run.stdout
    assert rows["fixed"][3] == 1.0  # the baseline's own ratio
    for median, p90, polls, _ratio in rows.values():
        assert 0 <= median <= p90 and polls >= 1
    assert re.search(
        r"^learned / fixed: median delay [\d.]+ \(oracle [\d.]+\), polls per task [\d.]+", lines[-1]
    )
