"""The request budget shared by several bot processes on one real PostgreSQL database
(bot/core/shared_budget.py): each "process" is a SharedBudget on a pool of its own."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from bot.core.budget import BudgetBusy
from bot.core.shared_budget import RETRY_AFTER_FAILURE, SharedBudget

ROOT = Path(__file__).resolve().parents[1]
V8 = ROOT / "bot" / "core" / "migrations" / "postgresql" / "V8__provider_budget.sql"

Pools = Callable[[], Awaitable[asyncpg.Pool]]


@pytest.fixture
async def pools(pg_url: str) -> AsyncIterator[Pools]:
    """A fresh database at schema version 8 (the migration runner's job in production); each call opens one
    more pool on it, one per bot process."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(V8.read_text(encoding="utf-8"))
    finally:
        await conn.close()
    opened: list[asyncpg.Pool] = []

    async def open_pool() -> asyncpg.Pool:
        pool = await asyncpg.create_pool(pg_url, min_size=1, max_size=4)
        opened.append(pool)
        return pool

    yield open_pool
    for pool in opened:
        await pool.close()


async def schedule(pool: asyncpg.Pool) -> tuple[float, float]:
    row = await pool.fetchrow("SELECT tat, paused_until FROM provider_budget WHERE id = 1")
    return row["tat"], row["paused_until"]


def most_in_any_window(times: list[float], width: float = 1.0) -> int:
    return max(sum(1 for t in times if start <= t <= start + width) for start in times)


async def departures(budget: SharedBudget, count: int, **kwargs: float) -> list[float]:
    """`count` requests at once; when each was let go (the local monotonic clock)."""
    left: list[float] = []

    async def one() -> None:
        await budget.acquire(**kwargs)
        left.append(time.monotonic())

    await asyncio.gather(*(one() for _ in range(count)))
    return left


async def test_two_processes_keep_to_one_rate_between_them(pools: Pools) -> None:
    rate = 50.0
    a, b = SharedBudget(await pools(), rate), SharedBudget(await pools(), rate)
    start = time.monotonic()
    left_a, left_b = await asyncio.gather(departures(a, 60), departures(b, 60))
    elapsed = time.monotonic() - start
    both = sorted(left_a + left_b)
    assert most_in_any_window(both) <= math.ceil(rate)
    # The pace of one budget for the two (119 intervals at 50/s, 1 % margin: 2.4 s), not of one each (1.2 s).
    assert 119 / rate <= elapsed < 2 * 119 / rate  # (twice: room for a loaded machine)
    # Both processes are served all along: each has a fair share of every half of the run.
    middle = both[len(both) // 2]
    for left in (left_a, left_b):
        assert 15 <= sum(t < middle for t in left) <= 45


async def test_a_create_waits_for_a_slot_per_process_not_for_the_queues(pools: Pools) -> None:
    rate = 20.0
    a, b = SharedBudget(await pools(), rate), SharedBudget(await pools(), rate)
    polls = [asyncio.create_task(budget.acquire()) for budget in (a, b) for _ in range(15)]
    await asyncio.sleep(0.2)  # the queues are up: 30 polls, 1.5 s at this rate
    waited = await a.acquire(first=True)
    assert waited < 4 / rate  # its own slot, and at most one of each process's ahead of it
    assert sum(p.done() for p in polls) < 15
    await asyncio.gather(*polls)


async def test_a_request_that_wakes_late_takes_a_new_slot(pools: Pools) -> None:
    """A busy event loop wakes a waiter after its slot: leaving then could come right before the next
    slot, another process's, so it takes the next free one instead."""
    rate = 10.0
    a, b = SharedBudget(await pools(), rate), SharedBudget(await pools(), rate)
    await a.acquire()
    first = time.monotonic()
    late = asyncio.create_task(b.acquire())  # its slot: one interval (0.101 s) after the first
    await asyncio.sleep(0.05)
    time.sleep(0.1)  # the loop is busy past that slot  # noqa: ASYNC251
    await late
    assert time.monotonic() - first >= 2 * 1.01 / rate - 0.005  # the next free slot, not the one it missed


async def test_a_pause_from_one_process_holds_the_other(pools: Pools) -> None:
    a, b = SharedBudget(await pools(), 50.0), SharedBudget(await pools(), 50.0)
    await b.acquire()
    paused_at = time.monotonic()
    a.pause(0.6)  # a 429 seen by `a`
    await a.close()  # its write to the database is done
    assert a.paused_for() > 0.4
    assert b.paused_for() == 0.0  # not known there yet: `b` has not asked the database since
    left = await departures(b, 3)
    assert min(left) >= paused_at + 0.6
    assert b.paused_for() == 0.0
    # A pause never shortens: a shorter one from `b` leaves the longer one standing.
    a.pause(5.0)
    await a.close()
    b.pause(0.1)
    await b.close()
    tat, paused_until = await schedule(b._pool)
    assert paused_until - tat > 4.5


async def test_paused_for_learns_of_another_process_s_pause_within_a_second(pools: Pools) -> None:
    a, b = SharedBudget(await pools(), 50.0), SharedBudget(await pools(), 50.0)
    assert b.paused_for() == 0.0  # starts its first refresh
    await b.close()
    a.pause(3.0)
    await a.close()
    for _ in range(30):  # 1.5 s at the most
        if b.paused_for() > 1.0:
            break
        await asyncio.sleep(0.05)
    assert 1.5 < b.paused_for() <= 3.0
    await b.close()


async def test_a_request_that_cannot_leave_in_time_is_refused_without_taking_a_slot(
    pools: Pools,
) -> None:
    a, b = SharedBudget(await pools(), 1.0), SharedBudget(await pools(), 1.0)
    await a.acquire()  # the next slot is a second away
    before = await schedule(a._pool)
    with pytest.raises(BudgetBusy) as busy:
        await b.acquire(max_wait=0.3)
    assert not busy.value.paused and 0.7 < busy.value.seconds <= 1.01
    assert await schedule(a._pool) == before
    # A pause says so.
    a.pause(4.0)
    await a.close()
    with pytest.raises(BudgetBusy) as busy:
        await b.acquire(max_wait=1.0)
    assert busy.value.paused and 3.0 < busy.value.seconds <= 4.0
    assert (await schedule(a._pool))[0] == before[0]


async def test_a_closed_pool_leaves_each_request_on_the_local_budget(
    pools: Pools, caplog: pytest.LogCaptureFixture
) -> None:
    rate = 50.0
    pool = await pools()
    budget = SharedBudget(pool, rate)
    await budget.acquire()
    await pool.close()
    caplog.set_level(logging.INFO, logger="bot.core.shared_budget")
    start = time.monotonic()
    left = await departures(budget, 20)
    assert len(left) == 20
    assert 19 / rate <= max(left) - start < 1.0  # still the rate, this process alone
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
    budget.pause(0.5)  # a 429 still pauses this process, though the database cannot be told
    await budget.close()
    assert budget.paused_for() > 0.3
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


async def test_a_database_without_the_budget_row_leaves_the_requests_on_the_local_budget(
    pools: Pools, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await pools()
    await pool.execute("DELETE FROM provider_budget")
    budget = SharedBudget(pool, 50.0)
    left = await departures(budget, 5)
    assert len(left) == 5
    [warning] = caplog.records
    assert "provider_budget table has no row" in warning.getMessage()


async def test_connections_killed_the_requests_go_on_and_the_budget_is_shared_again(
    pools: Pools, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rate = 50.0
    pool = await pools()
    budget = SharedBudget(pool, rate)
    await budget.acquire()
    caplog.set_level(logging.INFO, logger="bot.core.shared_budget")
    admin, locker = await asyncpg.connect(pg_url), await asyncpg.connect(pg_url)
    try:
        # A reservation in flight (held up by a lock) when its connection is killed.
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE provider_budget IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        requests = asyncio.create_task(departures(budget, 10))
        await asyncio.sleep(0.2)
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), $1)",
            locker.get_server_pid(),
        )
        assert killed >= 1
        left = await requests
        assert len(left) == 10
        assert max(left) - start < 0.2 + 1.0  # well before the 2 s timeout: on the local budget
        await lock.rollback()
    finally:
        await admin.close()
        await locker.close()
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING and "TimeoutError" not in warning.getMessage()
    # A second later the database is tried again: the pool reconnects and the budget is shared again.
    await asyncio.sleep(RETRY_AFTER_FAILURE)
    tat_before = (await schedule(pool))[0]
    await budget.acquire()
    assert (await schedule(pool))[0] > tat_before
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


async def test_a_database_that_hangs_does_not_hold_the_requests(
    pools: Pools, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    budget = SharedBudget(await pools(), 50.0, db_timeout=0.3)
    await budget.acquire()
    caplog.set_level(logging.INFO, logger="bot.core.shared_budget")
    locker = await asyncpg.connect(pg_url)
    try:
        async with locker.transaction():
            await locker.execute("LOCK TABLE provider_budget IN ACCESS EXCLUSIVE MODE")
            start = time.monotonic()
            left = await departures(budget, 10)
            # One request waits out the timeout; the others leave on the local budget meanwhile and after.
            assert max(left) - start < 0.3 + 1.0
    finally:
        await locker.close()
    await asyncio.sleep(1.0)  # past the retry delay
    await budget.acquire()
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.WARNING, logging.INFO]
