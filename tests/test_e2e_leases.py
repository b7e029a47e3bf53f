"""Leases, end to end: a claimed task is nobody else's until its work sets the next time, and a failing store
is backed off from, not hammered. The real bot against the loopback stand-ins; counted at the stand-in (polls
per task) and on the bot's own SQLite connection (statements), never by timing alone."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.overdue import seed_overdue
from tests.test_e2e_video import bot_messages


def is_claim(statement: str) -> bool:
    """TaskStore.claim_due, as SQLite's trace hook shows it (parameters expanded)."""
    return statement.startswith("UPDATE tasks SET next_poll_at = ") and "+ CASE state WHEN" in statement


def results(emu: DiscordEmulator) -> list[dict]:
    return [m for m in bot_messages(emu, emu.channel) if m.get("content", "").startswith("<@")]


async def test_a_catch_up_with_fast_workers_polls_every_task_once_per_due_time(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    """Many overdue tasks, still pending at the provider, and workers quicker than the due-task query. The
    poller used to read the due rows, then check its in-hand set: a worker that ended during the read had its
    task started again from the stale row (2 of 20 polled twice within milliseconds). Each task's next poll
    is an interval (±10 %) away, so within the first interval every task is polled exactly once."""
    count, interval = 80, 2.0
    grok_api.default_script = TaskScript(complete_after=None)
    where = {"guild_id": emu.guild.id, "channel_id": emu.channel.id, "requester_id": emu.default_user.id}
    ids = await seed_overdue(Path(bot_env["DATABASE_PATH"]), grok_api, count, **where)
    since = len(grok_api.requests)
    await start_bot(PROVIDER_MAX_RPS="1000", POLL_INTERVAL_SECONDS=str(interval), POLL_CONCURRENCY="16")
    first = await grok_api.wait_for_requests(lambda r: r.endpoint == "result", since=since, timeout=10)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", since=since, count=count, timeout=10)
    # Until the first task's second due time (interval - 10 % after its first poll), each is polled once.
    await asyncio.sleep(max(0.0, first[0].time + interval * 0.85 - grok_api.clock()))

    polls = Counter(r.task_id for r in grok_api.requests[since:] if r.endpoint == "result")
    assert set(polls) == set(ids)
    extra = {task: n for task, n in polls.items() if n != 1}
    assert extra == {}, f"{len(extra)} of {count} tasks polled more than once in one due time: {extra}"


async def test_a_locked_database_is_backed_off_from_then_every_task_proceeds_once(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    start_bot: StartBot,
    bot_env: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another connection holds the write lock (BEGIN EXCLUSIVE; in WAL mode readers still read): every claim
    fails with "database is locked". The poller pauses longer after each failure and logs the episode once
    when it starts and once when it ends, not once per task per tick."""
    poll = 0.05
    grok_api.default_script = TaskScript(complete_after=None)  # nothing finishes until we say so
    # GROK_TIMEOUT_SECONDS bounds a poll's lease (GROK_TIMEOUT_SECONDS + 2 s): a task whose poll was under way
    # when the lock came is due again that soon after.
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(poll), GROK_TIMEOUT_SECONDS="1")
    # The bot's 5 s busy timeout is for real contention; here each blocked write fails after 20 ms.
    await bot.store.db.execute("PRAGMA busy_timeout=20")
    for n in range(3):
        h = await emu.slash_command("video", {"prompt": f"video {n}"})
        await h.wait_text("queued", timeout=10)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=3)

    caplog.set_level(logging.INFO, logger="bot.core.poller")
    locker = sqlite3.connect(bot_env["DATABASE_PATH"], isolation_level=None)
    statements: list[str] = []
    try:
        locker.execute("BEGIN EXCLUSIVE")
        await bot.store.db.set_trace_callback(statements.append)
        outage = 3.0
        await asyncio.sleep(outage)
        await bot.store.db.set_trace_callback(None)
        during = [r for r in caplog.records if r.name == "bot.core.poller"]
        locker.execute("ROLLBACK")
    finally:
        locker.close()

    claims = [s for s in statements if is_claim(s)]
    # Doubling pauses from the poll interval: about log2(3 s / 0.05 s) ≈ 6 tries; the loop used to retry
    # every second, and a loop without backoff would try about 60 times.
    assert 2 <= len(claims) <= 10, f"{len(claims)} claims in {outage} s of a locked database"
    assert len(statements) <= 60, f"{len(statements)} statements in {outage} s of a locked database"
    failing = [r for r in during if "failing" in r.getMessage()]
    assert len(failing) == 1, [r.getMessage() for r in during]
    assert len(during) == 1, [r.getMessage() for r in during]

    for api_id in list(grok_api.tasks):
        grok_api.complete(api_id)
    await emu.wait_for(lambda: len(results(emu)) >= 3, timeout=20, what="3 deliveries")
    await asyncio.sleep(0.5)
    assert len(results(emu)) == 3, "each video posted once"
    recovered = [r for r in caplog.records if "works again, after" in r.getMessage()]
    assert len(recovered) == 1, [r.getMessage() for r in caplog.records]
