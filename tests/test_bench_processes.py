"""The several-processes benchmark runs with tiny numbers and prints its figures (python -m bench.bench_processes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_processes_benchmark_prints_its_figures() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.bench_processes", "--tasks", "20", "--rps", "20", "--timeout", "60"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    if out.startswith("not run: "):  # no PostgreSQL server could be started: skipped, saying why
        pytest.skip(out.strip())
    assert "overdue tasks in PostgreSQL: 20; PROVIDER_MAX_RPS=20 for the whole bot" in out, out
    rows = re.findall(r"^\s+([12])\s+(\d+)\s+([\d.]+)x\s+([\d.]+) s\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert [r[0] for r in rows] == ["1", "2"], out
    for _, peak, _, _, _, twice in rows:
        assert int(peak) <= 21 and int(twice) == 0, out
