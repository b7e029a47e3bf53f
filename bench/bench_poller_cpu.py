"""The poller's CPU cost when the provider is slow: the real bot process, 200 pending tasks, a fixed window.

    .venv/bin/python -m bench.bench_poller_cpu [--tasks 200] [--seconds 20] [--interval 5] [--latency 0.3]

The bot runs as its own process (`python -m bot`) against the loopback Discord emulator and Grok stand-in,
served by this process, so its CPU seconds (user + system, all threads, from /proc/<pid>/stat) are its own.
The tasks are pending at the provider and queued in the store; POLL_INTERVAL_SECONDS is short enough that
each task is polled several times in the window, PROVIDER_MAX_RPS is the maximum (1000) and
POLL_CONCURRENCY 256, so neither holds the polls back. Once every task was polled once, the
bot's CPU is read over the window twice: the provider answering at once (the baseline) and every poll
taking --latency seconds. Printed: CPU seconds and polls in each case, and the ratio slow / at once.
"""

from __future__ import annotations

import argparse
import asyncio

from bench.live_bot import bot_process, polled, poller_settings, seed_pending, stage, task_polls, wait_until


async def measure(tasks: int, seconds: float, interval: float, latency: float) -> tuple[float, int]:
    """The bot's CPU seconds over the window, and the polls the stand-in saw in it."""
    async with stage() as where:
        api = where.api
        since = await seed_pending(where, tasks)
        api.latency["result"] = latency
        async with bot_process(where, poller_settings(interval, 1000)) as bot:
            await wait_until(lambda: polled(api, since) >= tasks, 120, "every task's first poll")
            start_polls = len(api.requests)
            start_cpu = bot.cpu_seconds()
            await asyncio.sleep(seconds)
            cpu = bot.cpu_seconds() - start_cpu
            polls = len(task_polls(api, start_polls))
    return cpu, polls


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="the measured window")
    parser.add_argument("--interval", type=float, default=5.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds each poll takes when slow")
    args = parser.parse_args()
    fast_cpu, fast_polls = await measure(args.tasks, args.seconds, args.interval, 0.0)
    slow_cpu, slow_polls = await measure(args.tasks, args.seconds, args.interval, args.latency)
    expected = args.tasks * args.seconds / args.interval
    ms = args.latency * 1000
    print(f"pending tasks: {args.tasks}; POLL_INTERVAL_SECONDS={args.interval:g}; window {args.seconds:g} s "
          f"(about {expected:.0f} polls due in it); PROVIDER_MAX_RPS=1000, POLL_CONCURRENCY=256")  # fmt: skip
    print(f"bot CPU, provider answers at once : {fast_cpu:7.2f} s   polls {fast_polls:6d}   "
          f"{fast_cpu / max(fast_polls, 1) * 1e3:6.2f} ms CPU/poll  (baseline)")  # fmt: skip
    print(f"bot CPU, each poll takes {ms:4.0f} ms  : {slow_cpu:7.2f} s   polls {slow_polls:6d}   "
          f"{slow_cpu / max(slow_polls, 1) * 1e3:6.2f} ms CPU/poll")  # fmt: skip
    print(f"ratio CPU {ms:.0f} ms / 0 ms          : {slow_cpu / max(fast_cpu, 0.01):7.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
