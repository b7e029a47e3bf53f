"""The task store contract, run against both stores: SQLite on a real file and PostgreSQL on a real server
(tests/postgres.py; each test gets a fresh database). Migrations, guarded transitions, races between two store
instances (as two processes would be), reopening after a crash. SQLite-only tests say so in their name."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.core.policy import GuildConfig, Refused, Usage
from bot.core.request import VideoRequest
from bot.core.store import NewTask, State, StoreUnusable, TaskStore, open_store
from bot.core.store_sqlite import migration_scripts

NEWEST = max(version for version, _ in migration_scripts("migrations"))
SNOWFLAKE = 1_234_567_890_123_456_789  # Discord ids exceed 32 bits


def new_task(**overrides: object) -> NewTask:
    values: dict[str, object] = dict(
        source="slash", guild_id=1, channel_id=2, requester_id=3,
        request=VideoRequest("grok_video3", "a cat", 10, "16:9", "720p", ("https://x/a.png",)), billed_seconds=10,
    )  # fmt: skip
    values.update(overrides)
    return NewTask(**values)  # type: ignore[arg-type]


@dataclass
class Database:
    """One database of either kind; `open` gives another store on it (another process, as far as the
    database can tell: its own connection, or its own pool). Every store opened is closed at teardown."""

    kind: str
    url: str | None
    path: Path
    opened: list[TaskStore] = field(default_factory=list)

    async def open(self, clock: Callable[[], float] = time.time) -> TaskStore:
        store = await open_store(self.url, self.path, clock)
        self.opened.append(store)
        return store


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    db = Database(request.param, url, tmp_path / "db" / "bot.sqlite3")
    yield db
    for store in db.opened:
        with contextlib.suppress(Exception):  # a test may have closed it already (a crash)
            await store.close()


@pytest.fixture
async def store(database: Database) -> TaskStore:
    return await database.open()


async def test_roundtrip_kind_and_schema_version(store: TaskStore, database: Database) -> None:
    task = await store.create_task(new_task())
    assert task.state is State.SUBMITTING
    assert task.request == VideoRequest("grok_video3", "a cat", 10, "16:9", "720p", ("https://x/a.png",))
    assert task.api_id is None and task.next_poll_at is None
    assert store.kind == database.kind
    assert await store.schema_version() == NEWEST


async def test_sqlite_wal_and_the_due_index(tmp_path: Path) -> None:
    store = await TaskStore.open(tmp_path / "db" / "bot.sqlite3")
    try:
        async with store.db.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    finally:
        await store.close()
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


async def test_transition_and_create_return_the_row_as_written(database: Database) -> None:
    clock = iter(float(t) for t in range(100, 200))
    store = await database.open(clock=lambda: next(clock))
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
    # Returned means committed: another store on the database (as a second process would) already sees it.
    other = await database.open()
    assert await other.get(created.id) == moved
    assert await store.transition(created.id, State.SUBMITTING, State.LOST) is None
    assert await store.transition(404, State.QUEUED, State.LOST) is None


async def test_sqlite_too_old_is_refused_with_the_version_needed(
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


async def test_a_crash_mid_work_leaves_the_task_due_again_after_its_lease(database: Database) -> None:
    """The worker that claimed the task dies (the process with it) before setting the next time: after a
    reopen nothing takes the task while the lease runs, then it is due again, exactly once."""
    now = [1000.0]
    first = await database.open(clock=lambda: now[0])
    t = await first.create_task(new_task())
    await first.transition(t.id, State.SUBMITTING, State.QUEUED, next_poll_at=now[0])
    [claimed] = await first.claim_due([(4, LEASES)])
    assert claimed.next_poll_at == 1012.0
    await first.close()  # the crash: the claimed work never wrote its next time

    second = await database.open(clock=lambda: now[0])
    now[0] = 1011.9
    assert await second.claim_due([(4, LEASES)]) == [], "still leased"
    now[0] = 1012.0
    [again] = await second.claim_due([(4, LEASES)])
    assert (again.id, again.state, again.next_poll_at) == (t.id, State.QUEUED, 1024.0)
    assert await second.claim_due([(4, LEASES)]) == []


async def test_two_stores_race_for_one_transition(database: Database) -> None:
    a, b = await database.open(), await database.open()
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


def test_sqlite_reopen_after_abrupt_close(tmp_path: Path) -> None:
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


async def test_migrations_are_idempotent(database: Database) -> None:
    first = await database.open()
    task = await first.create_task(new_task())
    await first.close()
    again = await database.open()  # re-running migrations must not fail or lose rows
    assert await again.get(task.id) == task
    assert await again.schema_version() == NEWEST


async def test_meta_settings_and_snowflake_ids_round_trip(store: TaskStore) -> None:
    assert await store.get_meta("command-hash") is None
    await store.set_meta("command-hash", "a")
    await store.set_meta("command-hash", "b")
    assert await store.get_meta("command-hash") == "b"
    assert await store.guild_config(SNOWFLAKE) == GuildConfig(SNOWFLAKE)
    config = GuildConfig(
        SNOWFLAKE, max_active=2, cooldown_seconds=12.5, member_daily_seconds=60, server_daily_seconds=600,
        allowed_models=("grok_video3",), allowed_channels=(SNOWFLAKE + 1,), required_role_id=SNOWFLAKE + 2,
        paused=True, blocked_words=("été", "x"), age_restricted_only=True, max_in_flight=3,
    )  # fmt: skip
    await store.save_guild_config(config)
    assert await store.guild_config(SNOWFLAKE) == config
    await store.save_guild_config(GuildConfig(SNOWFLAKE, paused=False))  # replaced whole
    assert await store.guild_config(SNOWFLAKE) == GuildConfig(SNOWFLAKE)
    ids = dict(guild_id=SNOWFLAKE, channel_id=SNOWFLAKE + 3, requester_id=SNOWFLAKE + 4)
    task = await store.create_task(new_task(origin_message_id=SNOWFLAKE + 5, locale="de", **ids))
    assert (task.guild_id, task.requester_id, task.origin_message_id, task.locale) == (
        SNOWFLAKE, SNOWFLAKE + 4, SNOWFLAKE + 5, "de",
    )  # fmt: skip
    shown = await store.set_status_message(task.id, SNOWFLAKE + 6)
    assert shown is not None and shown.status_message_id == SNOWFLAKE + 6
    assert await store.set_status_message(404, 1) is None
    assert await store.tasks_for_member(SNOWFLAKE + 4, SNOWFLAKE) == [shown]
    assert await store.tasks_for_member(SNOWFLAKE + 4, None) == []


async def test_usage_counts_what_counts_and_the_report_groups_it(store: TaskStore) -> None:
    kept = [
        await store.create_task(new_task(requester_id=r, guild_id=g))
        for r, g in ((3, 1), (3, 1), (4, 1), (3, None))
    ]
    refused = await store.create_task(new_task())
    await store.transition(refused.id, State.SUBMITTING, State.REJECTED)
    await store.transition(kept[1].id, State.SUBMITTING, State.DELIVERED)
    usage = await store.usage(3, 1, now=time.time())
    assert (usage.active, usage.member_seconds_today, usage.server_seconds_today) == (1, 20, 30)
    assert usage.last_submitted_at == kept[1].created_at
    assert (await store.usage(3, None)).active == 1, "DMs (no server) are their own place"
    assert await store.usage(3, 1, now=time.time() + 10 * 86400) == Usage(1, kept[1].created_at, 0, 0)
    assert await store.usage_report(1, 0) == [(3, "grok_video3", 2, 20), (4, "grok_video3", 1, 10)]


async def test_admission_is_atomic_within_one_store(store: TaskStore) -> None:
    def at_most_two(usage: Usage) -> Refused | None:
        return Refused("busy", ["two at once"]) if usage.active >= 2 else None

    results = await asyncio.gather(*(store.create_task_if(new_task(), at_most_two) for _ in range(20)))
    assert sum(not isinstance(r, Refused) for r in results) == 2
    assert (await store.usage(3, 1)).active == 2


async def test_state_counts_read_every_task_in_one_pass(store: TaskStore) -> None:
    sent = await store.create_task(new_task())
    await store.transition(sent.id, State.SUBMITTING, State.DELIVERED, outcome="video", submitted_at=5.0)
    await store.create_task(new_task(billed_seconds=6))
    assert sorted(await store.state_counts()) == [
        ("delivered", "video", "grok_video3", 1, 1, 10),
        ("submitting", "", "grok_video3", 0, 1, 6),
    ]


async def test_notices_release_and_what_is_due(store: TaskStore) -> None:
    tasks = [await store.create_task(new_task()) for _ in range(3)]
    await store.transition(tasks[0].id, State.SUBMITTING, State.FAILED, notify_requester=1, next_poll_at=None)
    assert [t.id for t in await store.pending_notices(3)] == [tasks[0].id]
    await store.transition(tasks[0].id, State.FAILED, notify_requester=0)
    assert await store.pending_notices(3) == []
    await store.transition(tasks[1].id, State.SUBMITTING, State.QUEUED, next_poll_at=500.0)
    await store.transition(tasks[2].id, State.SUBMITTING, State.WAITING, next_poll_at=900.0)
    assert await store.next_due_at() == 500.0
    assert await store.next_due_at([State.COMPLETED]) is None
    assert await store.next_due_at([State.COMPLETED], waiting_after=100.0) == 900.0
    assert await store.next_due_at([State.QUEUED], waiting_after=950.0) == 500.0
    await store.release([tasks[1].id, tasks[2].id, tasks[0].id], now=700.0)  # only leases ending later move
    assert [(await store.get(t.id)).next_poll_at for t in tasks] == [None, 500.0, 700.0]  # type: ignore[union-attr]
    await store.release([])


async def test_completion_times_learn_from_finished_tasks(store: TaskStore) -> None:
    for polled, finished in ((None, 40.0), (30.0, 50.0)):
        task = await store.create_task(new_task(billed_seconds=10))
        await store.transition(
            task.id, State.SUBMITTING, State.COMPLETED, video_url="https://v", submitted_at=100.0,
            polled_at=None if polled is None else 100.0 + polled, finished_at=100.0 + finished,
        )  # fmt: skip
    await store.create_task(new_task())  # not finished: not learned from
    times = await store.completion_times("grok_video3", 10)
    assert [billed for _, billed in times] == [10, 10]
    assert times[1][0] == 40.0 and 30.0 < times[0][0] < 50.0, "newest first; halfway between the polls"
    assert await store.generation_ratios("grok_video3") == [t / 10 for t, _ in times]
    assert await store.completion_times("grok_video3_max", 10) == []


async def test_exclusive_lets_one_holder_run_at_a_time(store: TaskStore) -> None:
    inside: list[str] = []

    async def job(name: str) -> None:
        async with store.exclusive("command-sync"):
            inside.append(f"{name} in")
            await asyncio.sleep(0.05)
            inside.append(f"{name} out")

    await asyncio.gather(job("a"), job("b"))
    assert inside in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    async with store.exclusive("other-job"), store.exclusive("command-sync"):
        pass  # different names never wait for each other


async def test_a_lease_is_renewed_only_as_it_was_written(store: TaskStore) -> None:
    """Compare and set: the renewal moves the lease it knows, never a next time a worker wrote meanwhile, a
    task moved to another state, or a finished one."""
    task = await store.create_task(new_task())
    await store.transition(task.id, State.SUBMITTING, State.QUEUED, next_poll_at=100.0)
    assert await store.renew_lease(task.id, State.QUEUED, 100.0, 160.0)
    assert (await store.get(task.id)).next_poll_at == 160.0  # type: ignore[union-attr]
    assert not await store.renew_lease(task.id, State.QUEUED, 100.0, 220.0), "a stale lease"
    await store.transition(task.id, State.QUEUED, next_poll_at=None)  # the worker parked it
    assert not await store.renew_lease(task.id, State.QUEUED, 160.0, 220.0)
    assert (await store.get(task.id)).next_poll_at is None  # type: ignore[union-attr]
    await store.transition(task.id, State.QUEUED, State.COMPLETED, next_poll_at=300.0)
    assert not await store.renew_lease(task.id, State.QUEUED, 300.0, 400.0), "another state"
    assert not await store.renew_lease(task.id + 1, State.COMPLETED, 300.0, 400.0), "no such task"
