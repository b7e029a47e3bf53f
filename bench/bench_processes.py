"""Several processes, one provider budget: the real bot catching up on overdue tasks kept in PostgreSQL, run as
one process and then as two.

    .venv/bin/python -m bench.bench_processes [--tasks 400] [--rps 20]

The tasks are pending at the Grok stand-in and overdue in the store (written to SQLite, then moved into a
fresh PostgreSQL database with `python -m bot migrate`'s own code). The bot runs as its own process(es),
`python -m bot` with DATABASE_URL, and the stand-in stamps each request as it arrives. Printed for one
process (the baseline, measured in the same run) and for two: the peak requests in any one-second window
against PROVIDER_MAX_RPS, and the time to poll every task once, as a ratio to the one-process run. The goal:
two processes stay at or under the rate (a budget per process would allow twice it) in about the same time
(the second process adds workers, not provider capacity), and no task is polled by both for its first poll.
Each process keeps the default POLL_CONCURRENCY (16), so both hold work at once (with 256, the first to
start would claim it all). The PostgreSQL server is the tests' own (tests/postgres.py).

Seen on 2 cores, 400 tasks at 20/s: one process 20 in a second (1.00x), 20.2 s; two processes 20 (1.00x),
20.2 s (1.00 of one). With a budget per process instead (PgTaskStore.request_budget returning a
RequestBudget), the same run gave two processes 40 in a second (2.00x) in half the time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import logging
from collections import Counter

import pytest

from bench.live_bot import bot_process, polled, seed_pending, stage, wait_until
from bot.migrate import migrate
from tests.overdue import peak_in_window
from tests.postgres import PostgresServer


async def catch_up(
    server: PostgresServer, tasks: int, rps: float, processes: int, limit: float
) -> tuple[int, float, int]:
    """Peak requests in any 1 s window, seconds from the first poll until every task was polled, and how many
    tasks were polled twice before every task was polled once (two processes on one task: should be 0)."""
    async with stage() as where:
        since = await seed_pending(where, tasks)
        url = await asyncio.to_thread(server.new_database)
        await migrate(where.db, url, out=io.StringIO())
        api = where.api
        settings = {
            "DATABASE_URL": url, "POLL_INTERVAL_SECONDS": "30", "PROVIDER_MAX_RPS": f"{rps:g}",
            "LOG_LEVEL": "ERROR",  # POLL_CONCURRENCY as by default (16): each process claims 16 at a time
        }  # fmt: skip
        async with contextlib.AsyncExitStack() as stack:
            for n in range(processes):
                await stack.enter_async_context(bot_process(where, settings, log_name=f"bot{n}.log"))
            await wait_until(lambda: polled(api, since) >= tasks, limit, "every task's first poll")
    polls = [r for r in api.requests[since:] if r.task_id in api.tasks]
    firsts: dict[str | None, float] = {}
    for r in polls:
        firsts.setdefault(r.task_id, r.time)
    done = max(firsts.values())
    early = Counter(r.task_id for r in polls if r.time <= done)
    times = [r.time for r in polls]
    return peak_in_window(times), done - min(times), sum(1 for n in early.values() if n > 1)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--rps", type=float, default=20.0, help="PROVIDER_MAX_RPS for the whole bot")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    try:
        server = PostgresServer.shared()
    except pytest.skip.Exception as skipped:
        print(f"not run: {skipped.msg}")
        return
    try:
        runs = [await catch_up(server, args.tasks, args.rps, n, args.timeout) for n in (1, 2)]
    finally:
        server.stop()
    base_took = runs[0][1]
    print(f"overdue tasks in PostgreSQL: {args.tasks:,}; PROVIDER_MAX_RPS={args.rps:g} for the whole bot")
    print("processes   peak in 1 s   ratio to rate   time to poll all   ratio to one process   polled twice")
    for n, (peak, took, twice) in zip((1, 2), runs, strict=True):
        print(
            f"{n:9d}   {peak:11d}   {peak / args.rps:12.2f}x   {took:14.1f} s   {took / base_took:20.2f}   {twice:12d}"
        )
    print(
        "goal: two processes at most 1.00x the rate (a budget per process would allow 2.00x), polled twice 0"
    )


if __name__ == "__main__":
    asyncio.run(main())
