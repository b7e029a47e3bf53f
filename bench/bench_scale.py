"""The poller at scale: the real bot process, 10,000 pending tasks, a 300 ms provider round trip.

    .venv/bin/python -m bench.bench_scale [--tasks 10000] [--seconds 120] [--interval 30] [--rps 400]

The bot runs as its own process (`python -m bot`, POLL_CONCURRENCY=256) against the loopback
Discord emulator and Grok stand-in served by this process; every poll answers "queued" after --latency
seconds. The tasks start overdue (tests/overdue.py); the window is measured once every task was polled once.

Run 1, budget above demand (PROVIDER_MAX_RPS=--rps, demand N / POLL_INTERVAL_SECONDS): the fraction of polls
made on time, and the bot's resident memory (VmRSS now, VmHWM the peak, /proc/<pid>/status) against the
same bot idle with no tasks (the baseline). A poll is on time when the gap since the task's previous poll
is at most 1.1 x the interval (the latest the ±10 % jitter schedules it) plus 10 % of the interval: at
most 10 % of the interval late. The due times themselves stay inside the bot, so the gap stands for them.

Run 2, budget below demand (PROVIDER_MAX_RPS = half the demand): requests a second in the window against
PROVIDER_MAX_RPS (the budget used to the full is 1.00x), and the longest gap between two polls of one task
(a task not polled again by the end counts from its last poll) against the fair share N / rate.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
from collections import defaultdict
from dataclasses import dataclass

from bench.live_bot import bot_process, polled, poller_settings, seed_pending, stage, task_polls, wait_until


@dataclass
class Run:
    gaps: list[float]  # between consecutive polls of one task, the later one inside the window
    open_gaps: list[float]  # from each task's last poll to the end of the window
    polls: int  # polls inside the window
    rss_kib: int
    hwm_kib: int


async def run(tasks: int, seconds: float, interval: float, rps: float, latency: float) -> Run:
    async with stage() as where:
        api = where.api
        since = await seed_pending(where, tasks)
        api.latency["result"] = latency
        async with bot_process(where, poller_settings(interval, rps)) as bot:
            catch_up = 30 + 4 * tasks / min(rps, 256 / max(latency, 0.01))
            await wait_until(lambda: polled(api, since) >= tasks, catch_up, "every task's first poll")
            start = api.clock()
            await asyncio.sleep(seconds)
            end = api.clock()
            rss, hwm = bot.memory_kib("VmRSS"), bot.memory_kib("VmHWM")
    times: dict[str | None, list[float]] = defaultdict(list)
    for r in task_polls(api, since):
        if r.time <= end:
            times[r.task_id].append(r.time)
    gaps: list[float] = []
    open_gaps: list[float] = []
    polls = 0
    for seen in times.values():
        for before, after in itertools.pairwise(seen):
            if after >= start:
                gaps.append(after - before)
                polls += 1
        open_gaps.append(end - seen[-1])
    return Run(gaps, open_gaps, polls, rss, hwm)


def mib(kib: int) -> str:
    return f"{kib / 1024:7.1f} MiB"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0, help="the measured window of each run")
    parser.add_argument("--interval", type=float, default=30.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--rps", type=float, default=400.0, help="PROVIDER_MAX_RPS of run 1")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds each poll takes")
    args = parser.parse_args()
    n, interval = args.tasks, args.interval
    demand = n / interval
    idle = await run(0, min(args.seconds, 5.0), interval, args.rps, args.latency)
    full = await run(n, args.seconds, interval, args.rps, args.latency)
    short_rps = round(demand / 2, 1)
    short = await run(n, args.seconds, interval, short_rps, args.latency)

    ms = args.latency * 1000
    print(f"pending tasks: {n:,}; POLL_INTERVAL_SECONDS={interval:g} (demand {demand:.1f} polls/s); "
          f"each poll takes {ms:.0f} ms; POLL_CONCURRENCY=256; window {args.seconds:g} s per run")  # fmt: skip
    print(f"run 1, PROVIDER_MAX_RPS={args.rps:g} (above demand)")
    on_time = sum(1 for g in full.gaps if g <= 1.2 * interval)
    if full.gaps:
        ratios = sorted(g / interval for g in full.gaps)
        p99 = ratios[min(len(ratios) - 1, int(0.99 * len(ratios)))]
        print(f"  polls on time (gap <= 1.2 x interval): {on_time / len(full.gaps):6.1%}   of {len(full.gaps):,} "
              f"polls; gap / interval median {statistics.median(ratios):.2f}, p99 {p99:.2f}, max {ratios[-1]:.2f}")  # fmt: skip
    else:
        print("  polls on time (gap <= 1.2 x interval):    n/a   no task was polled twice in the window")
    print(f"  polls per second in the window     : {full.polls / args.seconds:7.1f}   "
          f"({full.polls / args.seconds / demand:.2f}x demand)")  # fmt: skip
    print(
        f"  bot resident memory, VmRSS        : {mib(full.rss_kib)}   ratio to idle {full.rss_kib / idle.rss_kib:5.2f}x"
    )
    print(
        f"  bot peak memory, VmHWM            : {mib(full.hwm_kib)}   ratio to idle {full.hwm_kib / idle.hwm_kib:5.2f}x"
    )
    print(
        f"  baseline, the same bot idle (no tasks): VmRSS {mib(idle.rss_kib).strip()}, VmHWM {mib(idle.hwm_kib).strip()}"
    )
    fair = n / short_rps
    longest = max(short.gaps + short.open_gaps, default=0.0)
    used = short.polls / args.seconds
    print(f"run 2, PROVIDER_MAX_RPS={short_rps:g} (half the demand)")
    print(
        f"  requests per second in the window : {used:7.1f}   ratio to PROVIDER_MAX_RPS {used / short_rps:5.2f}x"
    )
    print(f"  longest gap between polls of a task: {longest:6.1f} s   fair share N/rate {fair:.1f} s, "
          f"ratio {longest / fair:5.2f}x")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
