"""The task store on a real SQLite file: migrations, guarded transitions, races, reopening after a crash."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.core.request import VideoRequest
from bot.core.store import NewTask, State, StoreUnusable, TaskStore


def new_task(**overrides: object) -> NewTask:
    values: dict[str, object] = dict(
        source="slash", guild_id=1, channel_id=2, requester_id=3,
        request=VideoRequest("grok_video3", "a cat", 10, "16:9", "720p", ("https://x/a.png",)), billed_seconds=10,
    )  # fmt: skip
    values.update(overrides)
    return NewTask(**values)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path):
    s = await TaskStore.open(tmp_path / "db" / "bot.sqlite3")
    yield s
    await s.close()


async def test_schema_version_wal_and_roundtrip(store: TaskStore, tmp_path: Path) -> None:
    task = await store.create_task(new_task())
    assert task.state is State.SUBMITTING
    assert task.request == VideoRequest("grok_video3", "a cat", 10, "16:9", "720p", ("https://x/a.png",))
    assert task.api_id is None and task.next_poll_at is None
    async with store.db.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    async with store.db.execute("PRAGMA user_version") as cur:
        assert (await cur.fetchone())[0] >= 1
    plan = (
        sqlite3.connect(tmp_path / "db" / "bot.sqlite3")
        .execute(
            "EXPLAIN QUERY PLAN SELECT * FROM tasks WHERE next_poll_at IS NOT NULL AND next_poll_at <= 1 "
            "ORDER BY next_poll_at LIMIT 5"
        )
        .fetchall()
    )
    assert any("tasks_due" in str(row) for row in plan), plan


async def test_guarded_transition_reports_whether_it_won(store: TaskStore) -> None:
    task = await store.create_task(new_task())
    assert await store.transition(
        task.id, State.SUBMITTING, State.QUEUED, api_id="video_grok_1", next_poll_at=5.0
    )
    # A replay of the same step (e.g. after a crash) must not act twice.
    assert await store.transition(task.id, State.SUBMITTING, State.QUEUED, api_id="video_grok_2") is None
    again = await store.get(task.id)
    assert again is not None
    assert (again.state, again.api_id, again.next_poll_at) == (State.QUEUED, "video_grok_1", 5.0)
    assert await store.transition(task.id, [State.QUEUED, State.PROCESSING], State.PROCESSING)
    with pytest.raises(ValueError):
        await store.transition(task.id, State.PROCESSING, State.FAILED, not_a_column=1)


async def test_transition_and_create_return_the_row_as_written(tmp_path: Path) -> None:
    clock = iter(float(t) for t in range(100, 200))
    path = tmp_path / "bot.sqlite3"
    store = await TaskStore.open(path, clock=lambda: next(clock))
    try:
        created = await store.create_task(new_task(), 7.0)
        assert created == await store.get(created.id)
        assert (created.state, created.created_at, created.next_poll_at) == (State.SUBMITTING, 100.0, 7.0)
        moved = await store.transition(
            created.id, State.SUBMITTING, State.QUEUED, api_id="video_grok_9", last_error="slow start"
        )
        assert moved is not None
        assert moved == await store.get(created.id)
        assert (moved.state, moved.api_id, moved.last_error, moved.updated_at) == (
            State.QUEUED, "video_grok_9", "slow start", 101.0,
        )  # fmt: skip
        assert moved.request == created.request
        # Returned means committed: another connection (as a second process would) already sees it.
        other = sqlite3.connect(path)
        try:
            assert other.execute("SELECT state, api_id FROM tasks").fetchall() == [("queued", "video_grok_9")]
        finally:
            other.close()
        assert await store.transition(created.id, State.SUBMITTING, State.LOST) is None
        assert await store.transition(404, State.QUEUED, State.LOST) is None
    finally:
        await store.close()


async def test_too_old_sqlite_is_refused_with_the_version_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 31, 1))
    with pytest.raises(StoreUnusable, match=r"needs 3\.35\.0 or newer"):
        await TaskStore.open(tmp_path / "bot.sqlite3")
    assert not (tmp_path / "bot.sqlite3").exists()


async def test_due_tasks_order_and_limit(store: TaskStore) -> None:
    ids = []
    for due in (30.0, 10.0, 20.0, None):
        t = await store.create_task(new_task())
        await store.transition(t.id, State.SUBMITTING, State.QUEUED, next_poll_at=due)
        ids.append(t.id)
    due = await store.due_tasks(limit=10, now=25.0)
    assert [t.id for t in due] == [ids[1], ids[2]]
    assert [t.id for t in await store.due_tasks(limit=1, now=100.0)] == [ids[1]]
    assert await store.next_due_at() == 10.0


LEASES = {State.QUEUED: 12.0, State.PROCESSING: 12.0, State.COMPLETED: 305.0, State.DOWNLOADED: 300.0}


async def test_claim_leases_each_due_task_to_one_taker(store: TaskStore) -> None:
    """A claimed task moves past its lease at once: a second claim (the loop again, another worker, another
    process) finds nothing, and next_due_at reports the lease's end, never the stale due time."""
    ids = []
    rows = ((30.0, State.QUEUED), (10.0, State.COMPLETED), (20.0, State.QUEUED), (None, State.QUEUED))
    for due, state in rows:
        t = await store.create_task(new_task())
        await store.transition(t.id, State.SUBMITTING, state, next_poll_at=due)
        ids.append(t.id)
    claimed = await store.claim_due([(10, LEASES)], now=25.0)
    assert [(t.id, t.next_poll_at) for t in claimed] == [(ids[1], 25.0 + 305.0), (ids[2], 25.0 + 12.0)]
    assert await store.claim_due([(10, LEASES)], now=25.0) == []
    assert await store.next_due_at(LEASES) == 30.0  # the unclaimed one; the leased ones come later
    # Most overdue first, and never more than asked.
    [first] = await store.claim_due([(1, LEASES)], now=36.0)
    assert first.id == ids[0]
    # Only the states asked for (a paused provider: no polls), and next_due_at looks at those alone.
    assert await store.claim_due([(10, {State.COMPLETED: 1.0})], now=40.0) == []
    assert await store.next_due_at({State.COMPLETED: 1.0}) == 330.0
    assert await store.claim_due([(0, LEASES)], now=1000.0) == []


async def test_claim_takes_each_stage_up_to_its_own_limit(store: TaskStore) -> None:
    """One statement for every stage, each group bounded on its own: a full download stage (limit 0 here)
    neither takes its due task nor eats into the poll stage's share."""
    polls, downloads = [], []
    for i in range(5):
        t = await store.create_task(new_task())
        state = State.QUEUED if i % 2 == 0 else State.COMPLETED
        await store.transition(t.id, State.SUBMITTING, state, next_poll_at=float(i))
        (polls if state is State.QUEUED else downloads).append(t.id)
    both = [(2, {State.QUEUED: 12.0}), (1, {State.COMPLETED: 305.0})]
    claimed = await store.claim_due(both, now=10.0)
    assert [t.id for t in claimed] == sorted([*polls[:2], downloads[0]])
    only_polls = [(5, {State.QUEUED: 12.0}), (0, {State.COMPLETED: 305.0})]
    assert [t.id for t in await store.claim_due(only_polls, now=10.0)] == [polls[2]]


async def test_a_crash_mid_work_leaves_the_task_due_again_after_its_lease(tmp_path: Path) -> None:
    """The worker that claimed the task dies (the process with it) before setting the next time: after a
    reopen nothing takes the task while the lease runs, then it is due again, exactly once."""
    now = [1000.0]
    path = tmp_path / "bot.sqlite3"
    first = await TaskStore.open(path, clock=lambda: now[0])
    t = await first.create_task(new_task())
    await first.transition(t.id, State.SUBMITTING, State.QUEUED, next_poll_at=now[0])
    [claimed] = await first.claim_due([(4, LEASES)])
    assert claimed.next_poll_at == 1012.0
    await first.close()  # the crash: the claimed work never wrote its next time

    second = await TaskStore.open(path, clock=lambda: now[0])
    try:
        now[0] = 1011.9
        assert await second.claim_due([(4, LEASES)]) == [], "still leased"
        now[0] = 1012.0
        [again] = await second.claim_due([(4, LEASES)])
        assert (again.id, again.state, again.next_poll_at) == (t.id, State.QUEUED, 1024.0)
        assert await second.claim_due([(4, LEASES)]) == []
    finally:
        await second.close()


async def test_two_connections_race_for_one_transition(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    a = await TaskStore.open(path)
    b = await TaskStore.open(path)
    try:
        for _ in range(20):
            task = await a.create_task(new_task())
            await a.transition(task.id, State.SUBMITTING, State.QUEUED)
            results = await asyncio.gather(
                a.transition(task.id, State.QUEUED, State.COMPLETED, video_url="https://a"),
                b.transition(task.id, State.QUEUED, State.FAILED, failure_reason="b"),
            )
            assert sorted(r is not None for r in results) == [False, True]
            final = await b.get(task.id)
            assert final is not None
            assert final == (results[0] or results[1]), "the winner was handed the row as it stands"
            assert (final.state is State.COMPLETED) == (results[0] is not None)
    finally:
        await a.close()
        await b.close()


def test_reopen_after_abrupt_close(tmp_path: Path) -> None:
    """A child process writes and dies with os._exit (no close, no checkpoint); the data is all there."""
    import subprocess
    import sys

    path = tmp_path / "bot.sqlite3"
    script = f"""
import asyncio, os
from pathlib import Path
from bot.core.request import VideoRequest
from bot.core.store import TaskStore, NewTask, State
async def main():
    s = await TaskStore.open(Path({str(path)!r}))
    for i in range(5):
        t = await s.create_task(NewTask(source="slash", guild_id=1, channel_id=2, requester_id=i,
            request=VideoRequest("grok_video3", "p", 10, "16:9", "720p"), billed_seconds=10))
        await s.transition(t.id, State.SUBMITTING, State.QUEUED, api_id=f"video_grok_{{i}}")
    os._exit(0)
asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).resolve().parents[1])

    async def reopen() -> None:
        s = await TaskStore.open(path)
        try:
            rows = await s.db.execute_fetchall("SELECT api_id FROM tasks WHERE state = 'queued' ORDER BY id")
            assert [r[0] for r in rows] == [f"video_grok_{i}" for i in range(5)]
        finally:
            await s.close()

    asyncio.run(reopen())


async def test_migrations_are_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    s = await TaskStore.open(path)
    await s.create_task(new_task())
    await s.close()
    s = await TaskStore.open(path)  # re-running migrations must not fail or lose rows
    try:
        assert [tuple(r) for r in await s.db.execute_fetchall("SELECT state FROM tasks")] == [("submitting",)]
    finally:
        await s.close()
