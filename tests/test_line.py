"""The line in the store, on both stores (tests/test_store.py's `database`): who waits, the fair pick, the
bounds, two dispatchers."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from bot.core.policy import GuildConfig
from bot.core.store import State, TaskStore
from tests.test_store import Database, database, new_task

__all__ = ["database"]  # the fixture, shared with tests/test_store.py

NOW = 1_700_000_000.0


@pytest.fixture
async def store(database: Database) -> TaskStore:
    return await database.open(lambda: NOW)


async def drain(store: TaskStore, limit: int) -> list[int]:
    """Send everything the line lets go, finishing each at once (so the order is the line's own)."""
    order = []
    while (task := await store.dispatch_next(limit, NOW + 60, NOW)) is not None:
        order.append(task.requester_id)
        await store.transition(task.id, State.SUBMITTING, State.DELIVERED)
    return order


async def test_without_a_limit_nothing_waits(store: TaskStore) -> None:
    tasks = [await store.create_task(new_task(), NOW + 60) for _ in range(5)]
    assert {t.state for t in tasks} == {State.SUBMITTING}
    assert all(t.next_poll_at == NOW + 60 for t in tasks)


async def test_a_full_provider_puts_requests_in_line_and_round_robin_serves_them(store: TaskStore) -> None:
    first = [await store.create_task(new_task(requester_id=1), NOW + 60, 2) for _ in range(2)]
    assert [t.state for t in first] == [State.SUBMITTING, State.SUBMITTING]
    for member, count in ((1, 3), (2, 2), (3, 1)):
        for _ in range(count):
            task = await store.create_task(new_task(requester_id=member), NOW + 60, 2)
            assert (task.state, task.next_poll_at) == (State.WAITING, NOW)
    assert await store.dispatch_next(2, NOW + 60, NOW) is None, "two are with the provider already"
    line = await store.waiting(10)
    assert [t.requester_id for t in line] == [2, 3, 2, 1, 1, 1]
    assert [await store.line_position(t, 2) for t in line] == [1, 2, 3, 4, 5, 6]
    for task in first:
        await store.transition(task.id, State.SUBMITTING, State.DELIVERED)
    assert await drain(store, 2) == [2, 3, 2, 1, 1, 1]


async def test_a_servers_own_bound_holds_its_requests_but_not_another_servers(store: TaskStore) -> None:
    await store.save_guild_config(GuildConfig(1, max_in_flight=1))
    busy = await store.create_task(new_task(guild_id=1), NOW + 60)
    held = await store.create_task(new_task(guild_id=1), NOW + 60)
    other = await store.create_task(new_task(guild_id=9), NOW + 60)
    assert (busy.state, held.state, other.state) == (State.SUBMITTING, State.WAITING, State.SUBMITTING)
    assert await store.dispatch_next(0, NOW + 60, NOW) is None
    await store.transition(busy.id, State.SUBMITTING, State.DELIVERED)
    sent = await store.dispatch_next(0, NOW + 60, NOW)
    assert sent is not None and sent.id == held.id


async def test_two_dispatchers_on_two_stores_never_exceed_the_limit(database: Database) -> None:
    one, two = await database.open(lambda: NOW), await database.open(lambda: NOW)
    await one.save_guild_config(GuildConfig(1))
    for member in range(20):
        await one.create_task(new_task(requester_id=member), NOW + 60, 3)
    assert len(await one.waiting(100)) == 17

    async def dispatch(store: TaskStore) -> int:
        sent = 0
        for _ in range(10):
            # SQLite: a busy snapshot (the other connection wrote first) is that attempt lost, nothing written.
            with contextlib.suppress(sqlite3.OperationalError):
                sent += await store.dispatch_next(3, NOW + 60, NOW) is not None
        return sent

    # All three slots are taken: none of the 20 attempts on either store may add a fourth.
    assert await asyncio.gather(dispatch(one), dispatch(two)) == [0, 0]
    for task in await one.claim_due([(10, {State.SUBMITTING: 1.0})], NOW + 60):
        await one.transition(task.id, State.SUBMITTING, State.DELIVERED)
    sent = await asyncio.gather(dispatch(one), dispatch(two))
    assert sum(sent) == 3
    assert (await one.line_counts(1))[2] == 3


async def test_cancel_gives_the_allowance_back_and_only_while_waiting(store: TaskStore) -> None:
    busy = await store.create_task(new_task(requester_id=5), NOW + 60, 1)
    waiting = await store.create_task(new_task(requester_id=3), NOW + 60, 1)
    before = await store.usage(3, 1, NOW)
    assert (before.active, before.member_seconds_today) == (1, 10)
    cancelled = await store.cancel(waiting.id)
    assert cancelled is not None and (cancelled.state, cancelled.next_poll_at) == (State.CANCELLED, None)
    after = await store.usage(3, 1, NOW)
    assert (after.active, after.member_seconds_today, after.last_submitted_at) == (0, 0, None)
    assert await store.cancel(busy.id) is None, "sent already: not cancellable"
    assert await store.line_counts(1) == (0, 0, 1, 1)


async def test_sqlite_asking_an_empty_line_writes_nothing(tmp_path: Path) -> None:
    """The poller asks the line at every tick with a free worker; with nobody waiting (the usual case) that
    must be a read, not an UPDATE, which would take SQLite's write lock from everyone sharing the file."""
    store = await TaskStore.open(tmp_path / "bot.sqlite3", lambda: NOW)
    await store.create_task(new_task(), NOW + 60)  # with the provider, not in line
    statements: list[str] = []
    await store.db.set_trace_callback(statements.append)
    assert await store.dispatch_next(1, NOW + 60, NOW) is None
    await store.db.set_trace_callback(None)
    await store.close()
    assert statements, "the trace saw the read"
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")], statements
