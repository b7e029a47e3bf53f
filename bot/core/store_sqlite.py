"""The task's values, the `TaskStore` interface every store keeps, and the SQLite store.

Every state change is one `UPDATE ... WHERE id=? AND state IN (...) RETURNING *` that hands back the row it
wrote, or nothing when it lost, so two workers (or a replay after a crash) can never both act on one task
and the winner needs no second read. See docs/architecture.md for the state machine and "Two stores".

The interface lives with the SQLite store because `TaskStore.open(path)` (the SQLite store) predates
`store.open_store`; bot/core/store_pg.py implements it on PostgreSQL, and bot/core/store.py picks one.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import aiosqlite

from bot.core.budget import Budget, RequestBudget
from bot.core.policy import GuildConfig, Refused, Usage, day_start
from bot.core.request import VideoRequest
from bot.core.scheduler import completion_estimate

log = logging.getLogger(__name__)


class State(StrEnum):
    WAITING = "waiting"  # accepted; in the line until the provider has room (or its Retry-After ended)
    SUBMITTING = "submitting"  # row written, create call under way (crash here → lost)
    QUEUED = "queued"  # provider accepted it; polling
    PROCESSING = "processing"
    COMPLETED = "completed"  # provider finished; video link stored, download pending
    DOWNLOADED = "downloaded"  # file on disk, delivery pending
    FAILED = "failed"  # provider failed it; the reason is to be posted
    EXPIRED = "expired"  # we gave up waiting; to be posted
    LOST = "lost"  # crashed between create and storing the id; the member is to be told
    REJECTED = "rejected"  # provider refused the create call; the member was told at once; terminal
    DELIVERED = "delivered"  # the outcome is posted (see `outcome`); terminal
    CANCELLED = "cancelled"  # taken out of the line before it was sent (no API call); terminal


#: States in which the provider is (or may be) working on the video: they count against a member's limit.
IN_FLIGHT = (State.SUBMITTING, State.QUEUED, State.PROCESSING, State.COMPLETED)
#: With the provider (sent, not finished): what MAX_IN_FLIGHT and a server's max_in_flight bound.
WITH_PROVIDER = (State.SUBMITTING, State.QUEUED, State.PROCESSING)
#: What counts against a member's MAX_ACTIVE_PER_MEMBER: in the line, or in flight.
ACTIVE = (State.WAITING, *IN_FLIGHT)
#: Never counted against an allowance: refused by the provider at once, or taken out of the line.
NOT_COUNTED = (State.REJECTED, State.CANCELLED)
#: States the poller asks the provider about.
POLLING = (State.QUEUED, State.PROCESSING)
#: States whose outcome still has to be posted in Discord.
TO_DELIVER = (State.DOWNLOADED, State.FAILED, State.EXPIRED, State.LOST)


@dataclass(frozen=True, slots=True)
class NewTask:
    """What a command hands the store: the member's validated request and where it came from."""

    source: str
    guild_id: int | None
    channel_id: int
    requester_id: int
    request: VideoRequest  # resolved: every default filled in (Catalogue.resolve)
    billed_seconds: int
    origin_message_id: int | None = None
    locale: str | None = None  # the requester's Discord locale: the language of the task's public posts


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    api_id: str | None
    state: State
    outcome: str | None
    source: str
    guild_id: int | None
    channel_id: int
    requester_id: int
    origin_message_id: int | None
    status_message_id: int | None
    request: VideoRequest
    billed_seconds: int
    provider_status: str | None
    video_url: str | None
    video_path: str | None
    video_bytes: int | None
    actual_duration: float | None
    failure_reason: str | None
    last_error: str | None
    poll_attempts: int
    error_streak: int
    delivery_attempts: int
    delivery_started_at: float | None
    delivered_message_id: int | None
    delivered_channel_id: int | None
    notify_requester: bool
    created_at: float
    updated_at: float
    submitted_at: float | None
    finished_at: float | None
    delivered_at: float | None
    next_poll_at: float | None
    polled_at: float | None  # the last time the provider said "not finished" (V4)
    turn: int | None  # the request's turn in the line's round-robin (V6; None on older rows)
    locale: str | None  # the requester's Discord locale (V7; None on older rows: DEFAULT_LOCALE)

    @classmethod
    def from_row(cls, row: Row) -> Task:
        """From a row of either store: an sqlite3.Row or an asyncpg Record, both read by column name."""
        values = {name: row[name] for name in _TASK_COLUMNS}
        values["state"] = State(values["state"])
        values["request"] = VideoRequest.from_json(values["request"])
        values["notify_requester"] = bool(values["notify_requester"])
        return cls(**values)


#: A row read by column name: an sqlite3.Row (aiosqlite) or an asyncpg Record (asyncpg has no type hints).
Row: TypeAlias = Any


_TASK_COLUMNS = tuple(f.name for f in fields(Task))
# The request is what the member asked for: written once, never changed.
_UPDATABLE = frozenset(_TASK_COLUMNS) - {"id", "state", "created_at", "updated_at", "request"}
_MIGRATION_NAME = re.compile(r"^V(\d+)__\w+\.sql$")


def sql_states(states: Iterable[State]) -> str:
    """States as SQL string literals for `state IN (...)`: our own constants, never a member's text."""
    return ", ".join(f"'{s.value}'" for s in states)


def migration_scripts(folder: str) -> list[tuple[int, str]]:
    """`bot/core/<folder>/V<n>__*.sql`, as (n, script) in order: one store's numbered migrations."""
    scripts: list[tuple[int, str]] = []
    for entry in resources.files("bot.core").joinpath(folder).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            scripts.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    return sorted(scripts)


class StoreUnusable(RuntimeError):
    """The database cannot be opened or used at all (too old a SQLite, a newer bot's schema, an unreadable
    path, an unreachable or refusing PostgreSQL): the bot stops with this message, it cannot run without its
    store."""


class StoreUnreachable(ConnectionError):
    """A running PostgreSQL store could not get a connection (the server is down or unreachable): one of
    store.STORE_ERRORS, so the poller backs off and /healthz reports the database, as for any failure."""


def schema_too_new(current: int, newest: int) -> StoreUnusable:
    """The refusal of a database written by a newer bot: this code may not understand its tables."""
    return StoreUnusable(
        f"the database is at schema version {current}, newer than this version of the bot knows "
        f"({newest}): it was written by a newer version. Run that version (or restore the backup taken "
        "before upgrading); see docs/operations.md, 'Upgrading'"
    )


class TaskStore(abc.ABC):
    """The task store the bot types against, whichever database holds it: `SqliteTaskStore` (one process, a
    file) or `store_pg.PgTaskStore` (PostgreSQL, several processes). One contract, one test suite for both
    (tests/test_store.py and its neighbours run against each). `store.open_store` opens the configured one."""

    #: Which database holds the store: "sqlite" or "postgresql".
    kind: ClassVar[str]

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock

    @staticmethod
    async def open(path: Path, clock: Callable[[], float] = time.time) -> SqliteTaskStore:
        """The SQLite store at `path`, migrated (store.open_store opens PostgreSQL if DATABASE_URL is set)."""
        return await _open_sqlite(path, clock)

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def on_handed_back(self, wake: Callable[[], None]) -> None:
        """Have `wake` called when another process hands tasks back (its clean stop made them due now), so
        this one takes them at once instead of at its next planned look. One process: nothing to hear."""
        del wake

    def request_budget(self, rate: float) -> Budget:
        """The provider request budget for PROVIDER_MAX_RPS: this process's own, since it is the store's only
        process (PgTaskStore's is shared by every process on the database)."""
        return RequestBudget(rate)

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The number of the newest migration applied (the same number means the same tables in both)."""

    @abc.abstractmethod
    def exclusive(self, name: str) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold `name` while a once-only job runs (the command sync): no other holder, in this process or
        any other sharing the database, runs it meanwhile."""

    # ---- small facts ---------------------------------------------------------------------------------

    @abc.abstractmethod
    async def get_meta(self, key: str) -> str | None: ...

    @abc.abstractmethod
    async def set_meta(self, key: str, value: str) -> None: ...

    # ---- tasks -------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def create_task_if(
        self,
        new: NewTask,
        decide: Callable[[Usage], Refused | None],
        next_poll_at: float | None = None,
        max_in_flight: int = 0,
    ) -> Task | Refused:
        """Insert the task only if `decide` accepts the usage read just before, with no other admission
        in between (so concurrent requests cannot all slip under a limit). It is written in `submitting` when
        the provider has room and nobody waits ahead of it, else in `waiting` (see `create_task`)."""

    @abc.abstractmethod
    async def usage(self, requester_id: int, guild_id: int | None, now: float | None = None) -> Usage:
        """What counts against a member's limits. Tasks the provider refused at once, and requests taken out
        of the line, never count; requests in the line count from when they joined it."""

    @abc.abstractmethod
    async def usage_report(self, guild_id: int, since: float) -> list[tuple[int, str, int, int]]:
        """(requester, model, videos, video-seconds) for a server since a moment; refused tasks excluded."""

    @abc.abstractmethod
    async def state_counts(self) -> list[tuple[str, str, str, int, int, int]]:
        """Every task counted in one pass, for /metrics: (state, outcome or '', model, 1 if the provider
        accepted it else 0, tasks, their billed seconds) per distinct combination."""

    # ---- per-server settings -----------------------------------------------------------------------

    @abc.abstractmethod
    async def guild_config(self, guild_id: int) -> GuildConfig: ...

    @abc.abstractmethod
    async def save_guild_config(self, config: GuildConfig) -> None:
        """Write a server's settings whole (the row holds nothing but the admins' choices)."""

    @abc.abstractmethod
    async def create_task(
        self, new: NewTask, next_poll_at: float | None = None, max_in_flight: int = 0
    ) -> Task:
        """Insert in `submitting` (due at `next_poll_at`: when the poller should look again if nothing else
        moves the task first, i.e. a crash during the create call) when the provider has room for it and
        nobody waits ahead of it; else in `waiting`, due now for the line's dispatcher. The decision and the
        insert are atomic against any dispatcher (docs/architecture.md, "The line")."""

    # ---- the line ------------------------------------------------------------------------------------

    @abc.abstractmethod
    async def dispatch_next(
        self, max_in_flight: int, send_by: float, now: float | None = None
    ) -> Task | None:
        """Move the next request of the line to `submitting` (due at `send_by`, when the create call can no
        longer be in flight) if the provider has room for it: the fair pick (by turn, then first come) among
        the waiting requests due at `now` whose server is under its own max_in_flight, and only while
        fewer than `max_in_flight` (0: no limit) are with the provider in all. Atomic, so two dispatchers
        (coroutines or processes) can never put more than the limit with the provider. None: nothing to
        send now. An empty line is only read, never written."""

    @abc.abstractmethod
    async def line_position(self, task: Task, max_in_flight: int) -> int:
        """Where a waiting request stands: 1 + the waiting requests the fair order puts before it (all of
        them while MAX_IN_FLIGHT bounds the total, else its server's)."""

    @abc.abstractmethod
    async def waiting(
        self, limit: int, requester_id: int | None = None, guild_id: int | None = None
    ) -> list[Task]:
        """The line in the order it is served (a member's own requests in it, if `requester_id`)."""

    @abc.abstractmethod
    async def line_counts(self, guild_id: int) -> tuple[int, int, int, int]:
        """(waiting in the whole line, waiting from this server, with the provider in all, from this
        server)."""

    async def cancel(self, task_id: int) -> Task | None:
        """Take a waiting request out of the line (no API call was made): it no longer counts against any
        allowance. None when it was no longer waiting (sent meanwhile)."""
        return await self.transition(
            task_id, State.WAITING, State.CANCELLED, outcome="cancelled", finished_at=self._clock(),
            next_poll_at=None,
        )  # fmt: skip

    @abc.abstractmethod
    async def get(self, task_id: int) -> Task | None: ...

    @abc.abstractmethod
    async def transition(
        self, task_id: int, expected: State | Iterable[State], new_state: State | None = None, **changes: Any
    ) -> Task | None:
        """Move a task out of one of the `expected` states (into `new_state`, if given) and set `changes`.

        Returns the row as this call left it, or None when the task is no longer in an expected state
        (another worker, or an earlier life of this process, already moved it): `if await transition(...)`
        reads "if this call won". Returned means committed: another connection already sees it.
        """

    @abc.abstractmethod
    async def set_status_message(self, task_id: int, message_id: int) -> Task | None:
        """Not a state change: the status message may be posted after the poller already moved the task.
        Returns the row as it is now (so the caller sees whether the task moved on meanwhile)."""

    @abc.abstractmethod
    async def due_tasks(self, limit: int, now: float | None = None) -> list[Task]:
        """Tasks due now, most overdue first (uses the partial index on next_poll_at), without claiming them.
        The poller claims with claim_due; this read stays for bench/bench_due_tasks.py, which times it."""

    @abc.abstractmethod
    async def claim_due(
        self, groups: Sequence[tuple[int, Mapping[State, float]]], now: float | None = None
    ) -> list[Task]:
        """For each group (limit, leases): take up to `limit` tasks due at `now` in one of the states of
        `leases`, most overdue first (the poller's stages, each with its own bound). In the same statement
        each is leased: its next_poll_at moves to now + its state's lease, so neither the poller's loop nor
        another worker (nor another process) takes it again while it is being handled.

        The handler then sets the real next time; if the process dies first, the task is due again once its
        lease runs out. Returns the claimed rows as written (ordered by id)."""

    @abc.abstractmethod
    async def renew_lease(self, task_id: int, state: State, leased_until: float, until: float) -> bool:
        """Move a lease's end from `leased_until` to `until`, only if the task is still in `state` with that
        very lease (compare and set): a worker that wrote its own next time, or moved the task on, wins.
        True when renewed."""

    @abc.abstractmethod
    async def release(self, task_ids: Iterable[int], now: float | None = None) -> None:
        """Make leased tasks due now: a clean shutdown cut their work short, so the next start takes them up
        at once instead of when their leases run out. Finished tasks (no next_poll_at) are left alone."""

    @abc.abstractmethod
    async def next_due_at(
        self, states: Iterable[State] | None = None, waiting_after: float | None = None
    ) -> float | None:
        """The earliest next_poll_at of any task (of one of `states`, if given); a leased task's is the end of
        its lease. With `waiting_after`, also of the waiting requests due later than that (the end of a
        Retry-After: a waiting request due now is not sent for want of room, a freed slot wakes the loop)."""

    @abc.abstractmethod
    async def tasks_for_member(self, requester_id: int, guild_id: int | None, limit: int = 10) -> list[Task]:
        """A member's latest tasks in a server (or in DMs: guild None), newest first."""

    @abc.abstractmethod
    async def completion_times(self, model: str, limit: int) -> list[tuple[float, int]]:
        """(seconds from submission to completion, billed seconds) of a model's most recent completed tasks:
        what the ETA and the poll schedule learn from. Completion is estimated from the last poll that found
        the task unfinished and the first that found it done (scheduler.completion_estimate). No index on
        `model`: callers cache the answer for minutes, and the newest-first scan by id stops after `limit`
        matches."""

    async def generation_ratios(self, model: str, limit: int = 20) -> list[float]:
        """Recent seconds-to-completion per billed video-second for a model: the data behind the ETA."""
        return [seconds / billed for seconds, billed in await self.completion_times(model, limit)]

    @abc.abstractmethod
    async def pending_notices(self, requester_id: int) -> list[Task]:
        """Tasks whose outcome could not be posted anywhere: told on the member's next command."""

    # ---- shared by the implementations ---------------------------------------------------------------

    @staticmethod
    def _assignments(new_state: State | None, changes: Mapping[str, Any], now: float) -> dict[str, Any]:
        """A transition's columns and values (the new state, the changes, updated_at); refuses a column that
        is not updatable (the request, the ids, the times the store keeps itself)."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"not updatable: {sorted(unknown)}")
        assignments = dict(changes)
        if new_state is not None:
            assignments["state"] = new_state
        assignments["updated_at"] = now
        return assignments

    @staticmethod
    def _config_from_row(guild_id: int, row: Row | None) -> GuildConfig:
        if row is None:
            return GuildConfig(guild_id)
        models = row["allowed_models"]
        return GuildConfig(
            guild_id=guild_id,
            max_active=row["max_active"],
            cooldown_seconds=row["cooldown_seconds"],
            member_daily_seconds=row["member_daily_seconds"],
            server_daily_seconds=row["server_daily_seconds"],
            allowed_models=None if models is None else tuple(json.loads(models)),
            allowed_channels=tuple(json.loads(row["allowed_channels"])),
            required_role_id=row["required_role_id"],
            paused=bool(row["paused"]),
            blocked_words=tuple(json.loads(row["blocked_words"])),
            age_restricted_only=bool(row["age_restricted_only"]),
            max_in_flight=row["max_in_flight"],
        )

    def _config_values(self, config: GuildConfig) -> tuple[Any, ...]:
        """`config` in the order of _CONFIG_COLUMNS (JSON lists as text, flags as 0/1, updated now)."""
        models = None if config.allowed_models is None else json.dumps(list(config.allowed_models))
        return (
            config.guild_id, config.max_active, config.cooldown_seconds, config.member_daily_seconds,
            config.server_daily_seconds, models, json.dumps(list(config.allowed_channels)),
            config.required_role_id, int(config.paused),
            json.dumps(list(config.blocked_words), ensure_ascii=False), int(config.age_restricted_only),
            config.max_in_flight, self._clock(),
        )  # fmt: skip


#: guild_settings' columns, in the order of TaskStore._config_values.
CONFIG_COLUMNS = (
    "guild_id", "max_active", "cooldown_seconds", "member_daily_seconds", "server_daily_seconds",
    "allowed_models", "allowed_channels", "required_role_id", "paused", "blocked_words",
    "age_restricted_only", "max_in_flight", "updated_at",
)  # fmt: skip
#: /metrics' one pass over the tasks (TaskStore.state_counts): the same SQL on both databases.
STATE_COUNTS_SQL = (
    "SELECT state, COALESCE(outcome, ''), model, CASE WHEN submitted_at IS NULL THEN 0 ELSE 1 END, "
    "COUNT(*), COALESCE(SUM(billed_seconds), 0) FROM tasks GROUP BY 1, 2, 3, 4"
)


# ---- the SQLite store ----------------------------------------------------------------------------------

_NOT_COUNTED = sql_states(NOT_COUNTED)
_WITH_PROVIDER = sql_states(WITH_PROVIDER)
#: The server `{guild}` is under its own max_in_flight (none set, or 0: no bound of its own).
_GUILD_HAS_ROOM = (
    "COALESCE((SELECT COUNT(*) FROM tasks AS b WHERE b.guild_id IS {guild} AND b.state IN ("
    + _WITH_PROVIDER
    + ")) < (SELECT s.max_in_flight FROM guild_settings AS s WHERE s.guild_id IS {guild} "
    "AND s.max_in_flight > 0), 1)"
)
#: A new request may go straight to the provider: nobody waits ahead of it (in its server; anywhere while
#: MAX_IN_FLIGHT bounds the total), and the provider has room for it (in all, and for its server).
_ROOM_FOR_NEW = f"""NOT EXISTS (
        SELECT 1 FROM tasks WHERE state = 'waiting' AND (:limit > 0 OR guild_id IS :guild))
    AND (:limit = 0 OR (SELECT COUNT(*) FROM tasks WHERE state IN ({_WITH_PROVIDER})) < :limit)
    AND {_GUILD_HAS_ROOM.format(guild=":guild")}"""
#: A new request's turn in the round-robin: the line's current turn (the lowest of the requests waiting or
#: with the provider; when there are none, the highest ever given), or one past the member's own last turn,
#: whichever is later. So a member who sends many requests at once takes turns with everyone else.
_NEW_TURN = f"""MAX(
    COALESCE((SELECT MIN(turn) FROM tasks WHERE state IN ('waiting', {_WITH_PROVIDER})),
             (SELECT MAX(turn) FROM tasks), 0),
    COALESCE((SELECT MAX(turn) + 1 FROM tasks WHERE requester_id = :member), 0))"""
#: `INSERT/UPDATE ... RETURNING` (create_task, transition) arrived in SQLite 3.35.0 (2021-03).
MIN_SQLITE = (3, 35, 0)


async def _open_sqlite(path: Path, clock: Callable[[], float]) -> SqliteTaskStore:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreUnusable(
            f"SQLite {sqlite3.sqlite_version} is too old: the bot needs {'.'.join(map(str, MIN_SQLITE))} "
            "or newer (Python's sqlite3 module uses the system library on Linux; upgrade it or Python)"
        )
    try:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; each guarded UPDATE is its own atomic statement, and the
        # few multi-statement writes open their own BEGIN IMMEDIATE.
        db = await aiosqlite.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnusable(f"cannot open the database at {path} ({exc}); check DATABASE_PATH") from None
    db.row_factory = aiosqlite.Row
    try:
        await db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a process crash intact; only an OS crash could lose the last commit.
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA busy_timeout=5000")
        await db.execute("PRAGMA foreign_keys=ON")
        await _migrate(db)
    except sqlite3.Error as exc:
        await db.close()
        raise StoreUnusable(f"cannot use the database at {path} ({exc}); check DATABASE_PATH") from None
    except BaseException:
        await db.close()
        raise
    return SqliteTaskStore(db, clock)


class SqliteTaskStore(TaskStore):
    """The store in one SQLite file (DATABASE_PATH), for one bot process: each statement is one serializable
    write transaction, so a single statement is atomic against any other writer."""

    kind = "sqlite"

    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self._db = db
        # Serialises "read the member's usage, decide, insert": the bot is the database's only writer
        # process, so this lock makes admission atomic (20 simultaneous requests, limit 2 → exactly 2).
        self._admission = asyncio.Lock()
        self._exclusive: dict[str, asyncio.Lock] = {}

    @property
    def db(self) -> aiosqlite.Connection:
        return self._db

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        # A SQLite store has one process, so an in-process lock is the whole of it.
        lock = self._exclusive.setdefault(name, asyncio.Lock())
        async with lock:
            yield

    # ---- small facts ---------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        async with self._db.execute("SELECT value FROM bot_meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO bot_meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # ---- tasks -------------------------------------------------------------------------------------

    async def create_task_if(
        self,
        new: NewTask,
        decide: Callable[[Usage], Refused | None],
        next_poll_at: float | None = None,
        max_in_flight: int = 0,
    ) -> Task | Refused:
        async with self._admission:
            refusal = decide(await self.usage(new.requester_id, new.guild_id))
            if refusal is not None:
                return refusal
            return await self.create_task(new, next_poll_at, max_in_flight)

    async def usage(self, requester_id: int, guild_id: int | None, now: float | None = None) -> Usage:
        since = day_start(self._clock() if now is None else now)
        active = sql_states(ACTIVE)
        async with self._db.execute(
            f"""SELECT
                  COALESCE(SUM(state IN ({active})), 0),
                  MAX(created_at),
                  COALESCE(SUM(CASE WHEN created_at >= ? THEN billed_seconds END), 0)
                FROM tasks WHERE guild_id IS ? AND requester_id = ? AND state NOT IN ({_NOT_COUNTED})""",
            (since, guild_id, requester_id),
        ) as cursor:
            active_count, last, member_today = await cursor.fetchone() or (0, None, 0)
        async with self._db.execute(
            "SELECT COALESCE(SUM(billed_seconds), 0) FROM tasks "
            f"WHERE guild_id IS ? AND created_at >= ? AND state NOT IN ({_NOT_COUNTED})",
            (guild_id, since),
        ) as cursor:
            row = await cursor.fetchone()
        return Usage(int(active_count), last, int(member_today), int(row[0]) if row else 0)

    async def usage_report(self, guild_id: int, since: float) -> list[tuple[int, str, int, int]]:
        async with self._db.execute(
            "SELECT requester_id, model, COUNT(*), SUM(billed_seconds) FROM tasks "
            f"WHERE guild_id = ? AND created_at >= ? AND state NOT IN ({_NOT_COUNTED}) "
            "GROUP BY requester_id, model ORDER BY SUM(billed_seconds) DESC",
            (guild_id, since),
        ) as cursor:
            return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in await cursor.fetchall()]

    async def state_counts(self) -> list[tuple[str, str, str, int, int, int]]:
        rows = await self._db.execute_fetchall(STATE_COUNTS_SQL)
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    # ---- per-server settings -----------------------------------------------------------------------

    async def guild_config(self, guild_id: int) -> GuildConfig:
        async with self._db.execute("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)) as cursor:
            return self._config_from_row(guild_id, await cursor.fetchone())

    async def save_guild_config(self, config: GuildConfig) -> None:
        await self._db.execute(
            f"INSERT OR REPLACE INTO guild_settings ({', '.join(CONFIG_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in CONFIG_COLUMNS)})",
            self._config_values(config),
        )

    async def create_task(
        self, new: NewTask, next_poll_at: float | None = None, max_in_flight: int = 0
    ) -> Task:
        # One statement: SQLite runs it as one serializable write transaction.
        now = self._clock()
        rows = await self._db.execute_fetchall(
            f"""WITH line AS (SELECT ({_ROOM_FOR_NEW}) AS room, ({_NEW_TURN}) AS turn)
               INSERT INTO tasks (state, source, guild_id, channel_id, requester_id, origin_message_id,
                   model, request, billed_seconds, created_at, updated_at, next_poll_at, turn, locale)
               SELECT CASE WHEN room THEN 'submitting' ELSE 'waiting' END, :source, :guild, :channel,
                   :member, :origin, :model, :request, :billed, :now, :now,
                   CASE WHEN room THEN :grace_at ELSE :now END, turn, :locale
               FROM line
               RETURNING *""",
            {
                "source": new.source, "guild": new.guild_id, "channel": new.channel_id,
                "member": new.requester_id, "origin": new.origin_message_id, "model": new.request.model,
                "request": new.request.to_json(), "billed": new.billed_seconds, "now": now,
                "grace_at": next_poll_at, "limit": max_in_flight, "locale": new.locale,
            },
        )  # fmt: skip
        [row] = rows
        return Task.from_row(row)

    # ---- the line ------------------------------------------------------------------------------------

    async def dispatch_next(
        self, max_in_flight: int, send_by: float, now: float | None = None
    ) -> Task | None:
        moment = self._clock() if now is None else now
        # A read first: the line is empty most of the time, and an UPDATE takes SQLite's write lock even when
        # it changes nothing (the poller asks at every tick with a free worker).
        async with self._db.execute(
            "SELECT 1 FROM tasks WHERE state = 'waiting' AND next_poll_at <= ? LIMIT 1", (moment,)
        ) as cursor:
            if await cursor.fetchone() is None:
                return None
        # One UPDATE: SQLite's write lock makes the count and the move one step against any dispatcher.
        rows = await self._db.execute_fetchall(
            f"""UPDATE tasks SET state = 'submitting', next_poll_at = :send_by, updated_at = :now
                WHERE id = (
                    SELECT w.id FROM tasks AS w
                    WHERE w.state = 'waiting' AND w.next_poll_at <= :now
                      AND {_GUILD_HAS_ROOM.format(guild="w.guild_id")}
                    ORDER BY w.turn, w.id LIMIT 1)
                AND (:limit = 0 OR (SELECT COUNT(*) FROM tasks WHERE state IN ({_WITH_PROVIDER})) < :limit)
                RETURNING *""",
            {"send_by": send_by, "now": moment, "limit": max_in_flight},
        )
        row = next(iter(rows), None)
        return None if row is None else Task.from_row(row)

    async def line_position(self, task: Task, max_in_flight: int) -> int:
        async with self._db.execute(
            "SELECT COUNT(*) + 1 FROM tasks WHERE state = 'waiting' AND (? > 0 OR guild_id IS ?) "
            "AND (turn < ? OR (turn = ? AND id < ?))",
            (max_in_flight, task.guild_id, task.turn, task.turn, task.id),
        ) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 1

    async def waiting(
        self, limit: int, requester_id: int | None = None, guild_id: int | None = None
    ) -> list[Task]:
        where = "" if requester_id is None else " AND requester_id = ? AND guild_id IS ?"
        extra = () if requester_id is None else (requester_id, guild_id)
        async with self._db.execute(
            f"SELECT * FROM tasks WHERE state = 'waiting'{where} ORDER BY turn, id LIMIT ?", (*extra, limit)
        ) as cursor:
            return [Task.from_row(row) for row in await cursor.fetchall()]

    async def line_counts(self, guild_id: int) -> tuple[int, int, int, int]:
        async with self._db.execute(
            f"""SELECT COALESCE(SUM(state = 'waiting'), 0),
                  COALESCE(SUM(state = 'waiting' AND guild_id = ?), 0),
                  COALESCE(SUM(state IN ({_WITH_PROVIDER})), 0),
                  COALESCE(SUM(state IN ({_WITH_PROVIDER}) AND guild_id = ?), 0)
                FROM tasks WHERE state IN ('waiting', {_WITH_PROVIDER})""",
            (guild_id, guild_id),
        ) as cursor:
            row = await cursor.fetchone()
        return (0, 0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def get(self, task_id: int) -> Task | None:
        async with self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)) as cursor:
            row = await cursor.fetchone()
        return Task.from_row(row) if row else None

    async def transition(
        self, task_id: int, expected: State | Iterable[State], new_state: State | None = None, **changes: Any
    ) -> Task | None:
        assignments = self._assignments(new_state, changes, self._clock())
        expected_states = [expected] if isinstance(expected, State) else list(expected)
        sets = ", ".join(f"{column} = ?" for column in assignments)
        marks = ", ".join("?" for _ in expected_states)
        # Fetched to the end, so the statement is finished (and, in autocommit, committed) on return.
        rows = await self._db.execute_fetchall(
            f"UPDATE tasks SET {sets} WHERE id = ? AND state IN ({marks}) RETURNING *",
            (*assignments.values(), task_id, *expected_states),
        )
        row = next(iter(rows), None)
        if row is None:
            log.debug("task %s: transition from %s lost the race", task_id, expected_states)
            return None
        return Task.from_row(row)

    async def set_status_message(self, task_id: int, message_id: int) -> Task | None:
        rows = await self._db.execute_fetchall(
            "UPDATE tasks SET status_message_id = ?, updated_at = ? WHERE id = ? RETURNING *",
            (message_id, self._clock(), task_id),
        )
        row = next(iter(rows), None)
        return None if row is None else Task.from_row(row)

    async def due_tasks(self, limit: int, now: float | None = None) -> list[Task]:
        moment = self._clock() if now is None else now
        async with self._db.execute(
            "SELECT * FROM tasks WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
            "ORDER BY next_poll_at LIMIT ?",
            (moment, limit),
        ) as cursor:
            return [Task.from_row(row) for row in await cursor.fetchall()]

    async def claim_due(
        self, groups: Sequence[tuple[int, Mapping[State, float]]], now: float | None = None
    ) -> list[Task]:
        groups = [(limit, leases) for limit, leases in groups if limit > 0 and leases]
        if not groups:
            return []
        moment = self._clock() if now is None else now
        all_leases: dict[State, float] = {}
        picks: list[str] = []
        params: list[Any] = []
        for limit, leases in groups:
            all_leases.update(leases)
            marks = ", ".join("?" for _ in leases)
            picks.append(
                "SELECT id FROM (SELECT id FROM tasks WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? "
                f"AND state IN ({marks}) ORDER BY next_poll_at LIMIT ?)"
            )
            params += [moment, *leases, limit]
        cases = " ".join("WHEN ? THEN ?" for _ in all_leases)
        # One UPDATE: the pick and the lease are one write transaction, so no other claim sees the rows due.
        rows = await self._db.execute_fetchall(
            f"UPDATE tasks SET next_poll_at = ? + CASE state {cases} END "
            f"WHERE id IN ({' UNION ALL '.join(picks)}) RETURNING *",
            (moment, *(v for pair in all_leases.items() for v in pair), *params),
        )
        return sorted((Task.from_row(row) for row in rows), key=lambda task: task.id)

    async def renew_lease(self, task_id: int, state: State, leased_until: float, until: float) -> bool:
        rows = await self._db.execute_fetchall(
            "UPDATE tasks SET next_poll_at = ? WHERE id = ? AND state = ? AND next_poll_at = ? RETURNING id",
            (until, task_id, state.value, leased_until),
        )
        return bool(rows)

    async def release(self, task_ids: Iterable[int], now: float | None = None) -> None:
        ids = list(task_ids)
        if not ids:
            return
        moment = self._clock() if now is None else now
        marks = ", ".join("?" for _ in ids)
        await self._db.execute(
            f"UPDATE tasks SET next_poll_at = ? WHERE id IN ({marks}) AND next_poll_at > ?",
            (moment, *ids, moment),
        )

    async def next_due_at(
        self, states: Iterable[State] | None = None, waiting_after: float | None = None
    ) -> float | None:
        wanted = None if states is None else list(states)
        where = "" if wanted is None else f"state IN ({', '.join('?' for _ in wanted)})"
        params: list[Any] = list(wanted or ())
        if waiting_after is not None:
            where = f"{where or '0'} OR (state = 'waiting' AND next_poll_at > ?)"
            params.append(waiting_after)
        where = f" AND ({where})" if where else ""
        async with self._db.execute(
            f"SELECT MIN(next_poll_at) FROM tasks WHERE next_poll_at IS NOT NULL{where}", params
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else row[0]

    async def tasks_for_member(self, requester_id: int, guild_id: int | None, limit: int = 10) -> list[Task]:
        async with self._db.execute(
            "SELECT * FROM tasks WHERE requester_id = ? AND guild_id IS ? ORDER BY id DESC LIMIT ?",
            (requester_id, guild_id, limit),
        ) as cursor:
            return [Task.from_row(row) for row in await cursor.fetchall()]

    async def completion_times(self, model: str, limit: int) -> list[tuple[float, int]]:
        async with self._db.execute(
            "SELECT polled_at - submitted_at, finished_at - submitted_at, billed_seconds FROM tasks "
            "WHERE model = ? AND video_url IS NOT NULL AND finished_at IS NOT NULL "
            "AND submitted_at IS NOT NULL AND billed_seconds > 0 ORDER BY id DESC LIMIT ?",
            (model, limit),
        ) as cursor:
            return [
                (completion_estimate(row[0], float(row[1])), int(row[2])) for row in await cursor.fetchall()
            ]

    async def pending_notices(self, requester_id: int) -> list[Task]:
        async with self._db.execute(
            "SELECT * FROM tasks WHERE requester_id = ? AND notify_requester = 1 ORDER BY id",
            (requester_id,),
        ) as cursor:
            return [Task.from_row(row) for row in await cursor.fetchall()]


async def _migrate(db: aiosqlite.Connection) -> None:
    """Apply `migrations/V<n>__*.sql` newer than `PRAGMA user_version`, each in its own transaction; refuse a
    database whose version is newer than every script here (an older bot started on a newer bot's data)."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    scripts = migration_scripts("migrations")
    newest = max((version for version, _ in scripts), default=0)
    if current > newest:  # written by a newer bot: this code may not understand its tables, so touch nothing
        raise schema_too_new(current, newest)
    for version, sql in scripts:
        if version <= current:
            continue
        log.info("migrating the database to version %d", version)
        try:
            await db.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        except BaseException:
            if db.in_transaction:
                await db.rollback()
            raise
