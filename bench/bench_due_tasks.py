"""How the poller's per-tick query scales with history: the partial index vs a full scan, same run.

    .venv/bin/python -m bench.bench_due_tasks [--tasks 200000]

A server that has made many videos keeps them all (usage reports read them), so the table grows without
bound while the poller asks "what is due now?" every tick. The partial index on next_poll_at keeps that
query proportional to the tasks in flight, not to history. Prints figures and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from bot.core.request import VideoRequest
from bot.core.store import TaskStore

QUERY = "SELECT * FROM tasks {hint} WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? ORDER BY next_poll_at LIMIT 16"


REQUEST = VideoRequest("grok_video3", "a prompt", 10, "16:9", "720p").to_json()


def fill(path: Path, total: int, in_flight: int) -> None:
    db = sqlite3.connect(path)
    rng = random.Random(7)
    now = time.time()
    rows = []
    for n in range(total):
        active = n < in_flight
        rows.append((
            f"video_grok_{n}", "queued" if active else "delivered", "slash", 1, 2, rng.randrange(1, 500),
            "grok_video3", REQUEST, 10, now - rng.random() * 86400 * 30,
            now, (now + rng.random() * 60) if active else None,
        ))  # fmt: skip
    with db:
        db.executemany(
            "INSERT INTO tasks (api_id, state, source, guild_id, channel_id, requester_id, model, request, "
            "billed_seconds, created_at, updated_at, next_poll_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.execute("ANALYZE")
    db.close()


def time_query(path: Path, hint: str, repeats: int) -> float:
    db = sqlite3.connect(path)
    sql = QUERY.format(hint=hint)
    moment = time.time() + 30
    db.execute(sql, (moment,)).fetchall()  # warm the page cache for both variants alike
    started = time.perf_counter()
    for _ in range(repeats):
        db.execute(sql, (moment,)).fetchall()
    elapsed = (time.perf_counter() - started) / repeats
    db.close()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        store = await TaskStore.open(path)  # real schema and migrations
        await store.close()
        fill(path, args.tasks, args.in_flight)
        indexed = time_query(path, "INDEXED BY tasks_due", args.repeats)
        baseline = time_query(path, "NOT INDEXED", max(5, args.repeats // 20))
        store = await TaskStore.open(path)
        started = time.perf_counter()
        for _ in range(args.repeats):
            await store.due_tasks(limit=16, now=time.time() + 30)
        through_store = (time.perf_counter() - started) / args.repeats
        await store.close()
    print(f"tasks in table: {args.tasks:,} ({args.in_flight} in flight)")
    print(f"due-task query, partial index : {indexed * 1e6:9.1f} µs")
    print(f"due-task query, full scan     : {baseline * 1e6:9.1f} µs  (baseline)")
    print(f"TaskStore.due_tasks (aiosqlite): {through_store * 1e6:9.1f} µs")
    print(f"ratio full scan / index       : {baseline / indexed:9.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
