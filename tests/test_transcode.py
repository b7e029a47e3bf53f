"""ffmpeg as the bot runs it: niced below the bot, and never more runs at once than SHRINK_CONCURRENCY.

Real ffmpeg runs (the bundled binary) on a real noise video; the running children are read from /proc.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from bot.core.transcode import FFMPEG_NICENESS, Shrinker
from tests.test_e2e_resilience import noise_video

MiB = 1024 * 1024

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def ffmpeg_children() -> dict[int, int]:
    """pid → nice value of every ffmpeg process this test process started and that still runs."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        # fields[0] is field 3 of proc(5) (state): ppid is field 4, nice field 19.
        if comm.startswith("ffmpeg") and int(fields[1]) == os.getpid() and fields[0] != "Z":
            found[int(entry.name)] = int(fields[16])
    return found


async def test_shrinks_run_niced_and_one_at_a_time(tmp_path: Path) -> None:
    source = tmp_path / "noise.mp4"
    noise_video(source, seconds=1)
    shrinker = Shrinker(concurrency=1)
    dests = [tmp_path / f"out{n}-fit.mp4" for n in range(3)]
    jobs = [asyncio.create_task(shrinker.shrink(source, dest, 1 * MiB, 1.0)) for dest in dests]

    most_at_once = 0
    nice_by_pid: dict[int, int] = {}
    samples = 0
    while not all(job.done() for job in jobs):
        running = ffmpeg_children()
        samples += 1
        most_at_once = max(most_at_once, len(running))
        for pid, nice in running.items():
            # The nice value is set just after the process starts: keep the highest seen per process.
            nice_by_pid[pid] = max(nice, nice_by_pid.get(pid, nice))
        await asyncio.sleep(0.01)

    assert [job.result() for job in jobs] == [True, True, True]
    assert all(dest.stat().st_size <= 1 * MiB for dest in dests)
    assert not list(tmp_path.glob("*.part.mp4")), "only whole results under their final names"
    assert len(nice_by_pid) >= 3, f"every run was seen ({samples} samples): {nice_by_pid}"
    assert most_at_once == 1, "SHRINK_CONCURRENCY=1: never two ffmpeg runs at once"
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert all(nice >= max(FFMPEG_NICENESS, own) for nice in nice_by_pid.values()), nice_by_pid


async def test_two_slots_let_two_run_at_once_but_not_three(tmp_path: Path) -> None:
    source = tmp_path / "noise.mp4"
    noise_video(source, seconds=1)
    shrinker = Shrinker(concurrency=2)
    jobs = [
        asyncio.create_task(shrinker.shrink(source, tmp_path / f"out{n}-fit.mp4", 1 * MiB, 1.0))
        for n in range(3)
    ]
    most_at_once = 0
    while not all(job.done() for job in jobs):
        most_at_once = max(most_at_once, len(ffmpeg_children()))
        await asyncio.sleep(0.01)
    assert all(job.result() for job in jobs)
    assert most_at_once == 2


async def test_a_failed_shrink_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "not-a-video.mp4"
    source.write_bytes(b"\x00" * 2 * MiB)
    dest = tmp_path / "not-a-video-fit.mp4"
    assert await Shrinker(concurrency=1).shrink(source, dest, 1 * MiB, 10.0) is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-video.mp4"]
