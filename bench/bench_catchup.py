"""Catching up after a restart: the real bot, 1,000 overdue tasks, one request budget toward the provider.

    .venv/bin/python -m bench.bench_catchup [--tasks 1000] [--rps 25]

The tasks wait in the store, all overdue (the bot was down), and still pending at the provider. The real
bot starts as its own process against the loopback Discord emulator and Grok stand-in, and the stand-in
records when each request arrives (the key check at start, a poll of no task, is left out). Printed: the peak requests in any one-second window against PROVIDER_MAX_RPS (the
goal: never above it), and the time to poll every task once against the ideal
N / rate. The same run repeats at PROVIDER_MAX_RPS=1000, the setting's maximum, as the baseline: about the
burst the provider would see without a budget (that run is still capped at 1,000 a second).
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from bench.live_bot import bot_process, polled, seed_pending, stage, wait_until
from bot.core.budget import DEFAULT_BURST
from tests.overdue import peak_in_window

UNLIMITED = 1000.0


async def catch_up(tasks: int, rps: float, limit: float) -> tuple[int, float]:
    """Peak requests in any 1 s window, and seconds from the first poll until every task was polled.

    The bot runs as its own process (`python -m bot`), so the stand-in stamps each request as it arrives,
    on an event loop of its own, not one the bot also keeps busy."""
    async with stage() as where:
        since = await seed_pending(where, tasks)
        api = where.api
        settings = {"POLL_INTERVAL_SECONDS": "30", "PROVIDER_MAX_RPS": f"{rps:g}", "POLL_CONCURRENCY": "256"}
        async with bot_process(where, settings):
            await wait_until(lambda: polled(api, since) >= tasks, limit, "every task's first poll")
    polls = [r for r in api.requests[since:] if r.endpoint == "create" or r.task_id in api.tasks]
    firsts: dict[str | None, float] = {}
    for r in polls:
        firsts.setdefault(r.task_id, r.time)
    times = [r.time for r in polls]
    return peak_in_window(times), max(firsts.values()) - min(times)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument(
        "--rps", type=float, default=25.0, help="PROVIDER_MAX_RPS for the run (bot default 5)"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    peak, took = await catch_up(args.tasks, args.rps, args.timeout)
    base_peak, base_took = await catch_up(args.tasks, UNLIMITED, args.timeout)
    ideal = args.tasks / args.rps
    print(
        f"overdue tasks after a restart: {args.tasks:,}; PROVIDER_MAX_RPS={args.rps:g} (burst {DEFAULT_BURST})"
    )
    print(
        f"peak requests in any 1 s window : {peak:6d}   ratio to PROVIDER_MAX_RPS: {peak / args.rps:5.2f}x"
        "   (goal: at most 1.00x)"
    )
    print(
        f"time to poll every task once    : {took:6.1f} s   ideal N/rate {ideal:.1f} s, ratio {took / ideal:5.2f}x"
    )
    print(f"baseline, PROVIDER_MAX_RPS={UNLIMITED:g} (the maximum): peak {base_peak} in 1 s "
          f"({base_peak / args.rps:.1f}x PROVIDER_MAX_RPS), all polled in {base_took:.1f} s")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
