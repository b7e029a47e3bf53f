"""PostgreSQL's own promises: several bot processes on one database. Each "process" here is a PgTaskStore of its
own (its own pool, so its own server sessions, as a second process would have), on a real server; nothing is
mocked. Also: opening fails clearly and never shows the password, and a failing store raises STORE_ERRORS."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from bot.core.policy import Refused, Usage
from bot.core.store import (
    STORE_ERRORS,
    PgTaskStore,
    State,
    StoreUnreachable,
    StoreUnusable,
    TaskStore,
    open_store,
)
from tests.test_store import NEWEST, new_task

NOW = 1_700_000_000.0
PASSWORD = "s3cret-pass-not-to-show"

Opener = Callable[..., Awaitable[PgTaskStore]]


@pytest.fixture
async def processes(pg_url: str) -> AsyncIterator[Opener]:
    """Open as many stores on one fresh database as a test wants; all closed at teardown."""
    opened: list[PgTaskStore] = []

    async def open_one(clock: Callable[[], float] = time.time) -> PgTaskStore:
        store = await PgTaskStore.open(pg_url, clock)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


async def test_admission_is_atomic_across_processes(processes: Opener) -> None:
    """20 requests at once through ten processes, limit 2 active: exactly 2 rows, whatever the timing. (Each
    process queues its own requests, so only across processes can two reads see the same usage: with ten of
    them, a store without the advisory lock lets more than 2 through.)"""
    stores = [await processes() for _ in range(10)]

    def at_most_two(usage: Usage) -> Refused | None:
        return Refused("busy", ["two at once"]) if usage.active >= 2 else None

    results = await asyncio.gather(*(store.create_task_if(new_task(), at_most_two) for store in stores * 2))
    assert sum(not isinstance(r, Refused) for r in results) == 2
    assert (await stores[0].line_counts(1))[2] == 2 and (await stores[9].usage(3, 1)).active == 2


async def test_admission_and_dispatch_across_processes_respect_max_in_flight(processes: Opener) -> None:
    """New requests (admission) and the line (dispatch) from three processes at once: never more than
    MAX_IN_FLIGHT with the provider, and the line is served in turn order."""
    stores = [await processes(lambda: NOW) for _ in range(3)]
    await asyncio.gather(
        *(store.create_task(new_task(requester_id=i), NOW + 60, 3) for i, store in enumerate(stores * 8))
    )
    assert await stores[0].line_counts(1) == (21, 21, 3, 3)

    async def dispatch(store: TaskStore) -> list[int]:
        return [t.id for _ in range(5) if (t := await store.dispatch_next(3, NOW + 60, NOW)) is not None]

    assert await asyncio.gather(*(dispatch(s) for s in stores * 3)) == [[]] * 9, "the provider is full"
    for task in await stores[0].claim_due([(10, {State.SUBMITTING: 1.0})], NOW + 60):
        await stores[0].transition(task.id, State.SUBMITTING, State.DELIVERED)
    sent = [i for ids in await asyncio.gather(*(dispatch(s) for s in stores * 3)) for i in ids]
    assert len(sent) == 3 and len(set(sent)) == 3
    assert (await stores[1].line_counts(1))[2] == 3
    first_in_line = [t.id for t in await stores[2].waiting(3)]
    for task in await stores[0].claim_due([(10, {State.SUBMITTING: 1.0})], NOW + 60):
        await stores[0].transition(task.id, State.SUBMITTING, State.DELIVERED)
    sent = [i for ids in await asyncio.gather(*(dispatch(s) for s in stores)) for i in ids]
    assert sorted(sent) == sorted(first_in_line), "the fair pick, whichever process sends"


async def test_two_processes_never_claim_the_same_task(processes: Opener) -> None:
    one, two = await processes(lambda: NOW), await processes(lambda: NOW)
    for i in range(60):
        task = await one.create_task(new_task(requester_id=i))
        state = State.QUEUED if i % 2 else State.DOWNLOADED
        await one.transition(task.id, State.SUBMITTING, state, next_poll_at=NOW - i)
    groups = [(4, {State.QUEUED: 30.0}), (3, {State.DOWNLOADED: 300.0})]

    async def claim(store: TaskStore) -> list[int]:
        taken: list[int] = []
        while claimed := await store.claim_due(groups):
            taken += [t.id for t in claimed]
        return taken

    claims = await asyncio.gather(*(claim(s) for s in (one, two, one, two)))
    every = [i for ids in claims for i in ids]
    assert len(every) == len(set(every)) == 60, "each task claimed once, by one of them"
    assert await one.next_due_at() == NOW + 30.0


async def test_exclusive_excludes_across_processes(processes: Opener) -> None:
    one, two = await processes(), await processes()
    events: list[str] = []
    held = asyncio.Event()

    async def first() -> None:
        async with one.exclusive("command-sync"):
            events.append("one in")
            held.set()
            await asyncio.sleep(0.3)
            events.append("one out")

    async def second() -> None:
        await held.wait()
        async with two.exclusive("command-sync"):
            events.append("two in")

    await asyncio.gather(first(), second())
    assert events == ["one in", "one out", "two in"]
    async with one.exclusive("command-sync"), two.exclusive("another-job"):
        pass  # another name is another lock; a released lock can be taken again


async def test_first_start_of_two_processes_migrates_once(pg_url: str) -> None:
    one, two = await asyncio.gather(PgTaskStore.open(pg_url), PgTaskStore.open(pg_url))
    try:
        assert await one.schema_version() == await two.schema_version() == NEWEST
        connection = await asyncpg.connect(pg_url)
        try:
            versions = await connection.fetch("SELECT version FROM schema_version ORDER BY version")
        finally:
            await connection.close()
        assert [r[0] for r in versions] == list(range(1, NEWEST + 1))
    finally:
        await one.close()
        await two.close()


async def test_open_store_chooses_by_the_url(pg_url: str, tmp_path: Path) -> None:
    for url in (pg_url, pg_url.replace("postgresql://", "postgres://", 1)):
        store = await open_store(url, tmp_path / "unused.sqlite3")
        assert (store.kind, isinstance(store, PgTaskStore)) == ("postgresql", True)
        await store.close()
    assert not (tmp_path / "unused.sqlite3").exists()
    with pytest.raises(StoreUnusable, match="must start with postgresql://"):
        await open_store("mysql://user@host/db", tmp_path / "unused.sqlite3")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once the socket is closed


async def test_an_unreachable_server_may_answer_later_and_is_named_without_the_password() -> None:
    """Not StoreUnusable (the bot would stop for good): StoreUnreachable, which the runner retries."""
    url = f"postgresql://bot:{PASSWORD}@127.0.0.1:{_closed_port()}/grokbot"
    with pytest.raises(StoreUnreachable) as caught:
        await open_store(url, Path("unused"))
    message = str(caught.value)
    assert "PostgreSQL at postgresql://127.0.0.1:" in message and "cannot be reached" in message
    assert PASSWORD not in message and caught.value.__cause__ is None and caught.value.__context__ is not None
    assert PASSWORD not in repr(caught.value.__context__)


async def test_a_refusing_server_is_a_clear_refusal_without_the_password(pg_url: str) -> None:
    """A database that does not exist (the test server trusts every login, so a wrong password cannot be
    shown here; the server's answer never holds the password either way)."""
    url = pg_url.replace("postgres@", f"postgres:{PASSWORD}@").rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StoreUnusable, match='database "no_such_db" does not exist') as caught:
        await open_store(url + f"?password={PASSWORD}", Path("unused"))
    assert PASSWORD not in str(caught.value)


async def test_a_failing_store_raises_store_errors_and_recovers(pg_url: str, processes: Opener) -> None:
    """The server ends a session in the middle of a call (a restart, an admin): the call fails with one of
    STORE_ERRORS (what the poller backs off from, and /healthz reports), and the pool connects again for the
    calls after. A closed store fails the same way."""
    holder, waiter = await processes(), await processes()
    await waiter.set_meta("k", "v")
    admin = await asyncpg.connect(pg_url)
    try:
        async with holder.exclusive("command-sync"):
            waiting = asyncio.create_task(waiter.exclusive("command-sync").__aenter__())
            query = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            for _ in range(500):  # until the waiter's session is seen waiting for the lock
                if pids := [r[0] for r in await admin.fetch(query)]:
                    break
                await asyncio.sleep(0.01)
            await admin.execute("SELECT pg_terminate_backend($1)", pids[0])
            with pytest.raises(STORE_ERRORS):
                await waiting
    finally:
        await admin.close()
    assert await waiter.get_meta("k") == "v"
    await waiter.close()
    with pytest.raises(STORE_ERRORS):
        await waiter.get_meta("k")


async def test_close_does_not_wait_for_ever_on_a_connection_in_use(pg_url: str) -> None:
    """A stop while a connection is still held (here by exclusive(), as a command sync would) ends within
    CLOSE_TIMEOUT_SECONDS: the pool is cut, the lock goes with the session, and another process gets it."""
    store, other = await PgTaskStore.open(pg_url), await PgTaskStore.open(pg_url)
    try:
        started = time.monotonic()
        async with store.exclusive("command-sync"):
            await store.close()
        assert time.monotonic() - started < 6
        async with asyncio.timeout(5), other.exclusive("command-sync"):
            pass
    finally:
        await other.close()


async def test_tasks_handed_back_by_one_process_wake_the_others(processes: Opener) -> None:
    """A clean stop hands the work in hand back (due now) and says so (NOTIFY): another process listening
    takes it up at once, not at its next planned look. Nothing handed back: no wake."""
    stopping, listening = await processes(), await processes()
    woken = asyncio.Event()
    await listening.on_handed_back(woken.set)
    task = await stopping.create_task(new_task())
    await stopping.transition(task.id, State.SUBMITTING, State.QUEUED, next_poll_at=time.time() + 3600)
    await stopping.release([])  # nothing to hand back
    await stopping.release([task.id + 1000])  # not a task: nothing handed back either
    await asyncio.sleep(0.2)
    assert not woken.is_set()
    await stopping.release([task.id])
    await asyncio.wait_for(woken.wait(), 5)
    due = await listening.claim_due([(5, {State.QUEUED: 30.0})])
    assert [t.id for t in due] == [task.id]


async def test_the_listener_comes_back_after_its_connection_is_lost(processes: Opener, pg_url: str) -> None:
    """The server ends the LISTENing session (a restart, an admin): the store LISTENs again on a new
    connection, wakes once (tasks may have been handed back meanwhile), and hears the next hand-back."""
    stopping, listening = await processes(), await processes()
    woken = asyncio.Event()
    await listening.on_handed_back(woken.set)
    admin = await asyncpg.connect(pg_url)
    try:
        killed = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert killed == 1
        await asyncio.wait_for(woken.wait(), 10)  # listening again, and said so
        woken.clear()
        listeners = await admin.fetchval(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
        assert listeners == 1
    finally:
        await admin.close()
    task = await stopping.create_task(new_task())
    await stopping.transition(task.id, State.SUBMITTING, State.QUEUED, next_poll_at=time.time() + 3600)
    await stopping.release([task.id])
    await asyncio.wait_for(woken.wait(), 5)
