"""The task store on PostgreSQL (asyncpg): the `TaskStore` contract for several bot processes sharing one
database (DATABASE_URL).

SQLite runs every statement as one serializable write transaction; PostgreSQL's statements run side by side
(READ COMMITTED), so each of the store's atomic steps says how it stays atomic across processes:

- admission (`create_task_if`, `create_task`) and dispatch (`dispatch_next`) take one transaction-level
  advisory lock, the line's: the usage read, the room and turn decision and the write happen while no other
  process decides, and each statement's snapshot is taken after the lock, so it sees every earlier decision;
- `claim_due` picks with `FOR UPDATE SKIP LOCKED`: a row another process is claiming is passed over, and a
  row it has just leased no longer matches (PostgreSQL checks the condition again on the newest row);
- `transition` is one guarded `UPDATE ... RETURNING`: a second writer waits for the first, then finds the
  state moved on and changes nothing;
- `exclusive(name)` holds a session-level advisory lock on a connection of its own for the block;
- migrations run under an advisory lock, so two first starts never both create the tables.

Times are epoch seconds in double precision and every id a bigint, so a Task reads back as on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from bot.core.budget import Budget
from bot.core.config import url_location, url_passwords
from bot.core.policy import GuildConfig, Refused, Usage, day_start
from bot.core.scheduler import completion_estimate
from bot.core.shared_budget import SharedBudget
from bot.core.store_sqlite import (
    ACTIVE,
    CONFIG_COLUMNS,
    NOT_COUNTED,
    STATE_COUNTS_SQL,
    WITH_PROVIDER,
    NewTask,
    State,
    StoreUnreachable,
    StoreUnusable,
    Task,
    TaskStore,
    migration_scripts,
    schema_too_new,
    sql_states,
)

log = logging.getLogger(__name__)

#: The URL schemes that mean PostgreSQL (libpq's two spellings).
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
#: Connections per process: enough for the poller's stages and the commands, few enough for a shared server.
POOL_SIZE = 10
#: NOTIFY channel: a process handed tasks back at a clean stop (payload: how many).
HANDED_BACK_CHANNEL = "grokbot_handed_back"
CONNECT_TIMEOUT_SECONDS = 10.0
#: The longest one statement may go unanswered (asyncpg's command_timeout): then it fails as a STORE_ERROR.
STATEMENT_TIMEOUT_SECONDS = 60.0
#: How long to wait for another process's migration or command sync (a session advisory lock).
LOCK_WAIT_SECONDS = 3600.0
#: How long close() waits for connections still in use before cutting them (a stop must not hang).
CLOSE_TIMEOUT_SECONDS = 3.0

# Advisory locks, in the two-int4 form (class, object): this bot's own class, so no other application's
# locks on the same server collide with ours.
_LOCK_CLASS = 0x67766230  # "gvb0"
_LINE_LOCK = 1  # admission and dispatch: every decision about the line
_MIGRATION_LOCK = 2
_EXCLUSIVE_CLASS = 0x67766231  # "gvb1": exclusive(name), object = crc32(name)

_NOT_COUNTED = sql_states(NOT_COUNTED)
_WITH_PROVIDER = sql_states(WITH_PROVIDER)
#: The server `{guild}` is under its own max_in_flight (none set, or 0: no bound of its own).
_GUILD_HAS_ROOM = (
    "COALESCE((SELECT COUNT(*) FROM tasks AS b WHERE b.guild_id IS NOT DISTINCT FROM {guild} AND b.state IN ("
    + _WITH_PROVIDER
    + ")) < (SELECT s.max_in_flight FROM guild_settings AS s WHERE s.guild_id IS NOT DISTINCT FROM {guild} "
    "AND s.max_in_flight > 0), TRUE)"
)
#: As SQLite's _ROOM_FOR_NEW and _NEW_TURN (store_sqlite.py says why); $2 guild, $4 member, $11 limit.
_ROOM_FOR_NEW = f"""NOT EXISTS (
        SELECT 1 FROM tasks WHERE state = 'waiting'
        AND ($11::integer > 0 OR guild_id IS NOT DISTINCT FROM $2))
    AND ($11 = 0 OR (SELECT COUNT(*) FROM tasks WHERE state IN ({_WITH_PROVIDER})) < $11)
    AND {_GUILD_HAS_ROOM.format(guild="$2")}"""
_NEW_TURN = f"""GREATEST(
    COALESCE((SELECT MIN(turn) FROM tasks WHERE state IN ('waiting', {_WITH_PROVIDER})),
             (SELECT MAX(turn) FROM tasks), 0),
    COALESCE((SELECT MAX(turn) + 1 FROM tasks WHERE requester_id = $4::bigint), 0))"""
_INSERT_TASK = f"""WITH line AS (SELECT ({_ROOM_FOR_NEW}) AS room, ({_NEW_TURN}) AS turn)
    INSERT INTO tasks (state, source, guild_id, channel_id, requester_id, origin_message_id,
        model, request, billed_seconds, created_at, updated_at, next_poll_at, turn, locale)
    SELECT CASE WHEN room THEN 'submitting' ELSE 'waiting' END, $1::text, $2::bigint, $3::bigint, $4::bigint,
        $5::bigint, $6::text, $7::text, $8::integer, $9::double precision, $9::double precision,
        CASE WHEN room THEN $10::double precision ELSE $9::double precision END, turn, $12::text
    FROM line
    RETURNING *"""
_DISPATCH = f"""UPDATE tasks SET state = 'submitting', next_poll_at = $1, updated_at = $2
    WHERE id = (
        SELECT w.id FROM tasks AS w
        WHERE w.state = 'waiting' AND w.next_poll_at <= $2 AND {_GUILD_HAS_ROOM.format(guild="w.guild_id")}
        ORDER BY w.turn NULLS FIRST, w.id LIMIT 1)
    AND ($3 = 0 OR (SELECT COUNT(*) FROM tasks WHERE state IN ({_WITH_PROVIDER})) < $3)
    RETURNING *"""


def _scrub(text: str, url: str) -> str:
    """`text` without the URL's password, as written or percent-decoded (as the driver uses it)."""
    for form in url_passwords(url):
        text = text.replace(form, "***")
    return text


def _same_guild(param: str, guild_id: int | None) -> str:
    """`guild_id` equals the parameter, NULL included, in a form an index serves (`IS NOT DISTINCT FROM`
    is not one); the parameter stays in the statement either way, so its number and type do not move."""
    if guild_id is None:
        return f"guild_id IS NULL AND {param}::bigint IS NULL"
    return f"guild_id = {param}"


def _exclusive_key(name: str) -> int:
    """A stable int4 for a job's name (crc32, as a signed 32-bit number)."""
    return int.from_bytes(zlib.crc32(name.encode()).to_bytes(4, "big"), "big", signed=True)


class PgTaskStore(TaskStore):
    """The store in a PostgreSQL database, shared by any number of bot processes (asyncpg pool)."""

    kind = "postgresql"

    def __init__(self, pool: Any, clock: Callable[[], float] = time.time) -> None:
        super().__init__(clock)
        self._pool = pool
        # The line's decisions queue here first, so a burst of them waits holding one pooled connection
        # (the one waiting for the advisory lock) rather than all of them.
        self._line = asyncio.Lock()
        self._listener: Any = None  # the connection LISTENing for tasks handed back (on_handed_back)
        self._on_notify: Callable[..., None] | None = None
        self._relisten: asyncio.Task[None] | None = None  # LISTENing again after the connection was lost
        self._closing = False

    @classmethod
    async def open(cls, url: str, clock: Callable[[], float] = time.time) -> PgTaskStore:  # type: ignore[override]
        """Connect (a pool) and migrate; StoreUnusable, never showing the password, when that fails. (It
        replaces TaskStore.open, the SQLite store's, kept for that store's callers: hence the ignore.)"""
        where = url_location(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=POOL_SIZE,
                timeout=CONNECT_TIMEOUT_SECONDS,
                # A statement with no answer (a failover, a network cut with no reset) fails after this
                # instead of holding a worker until TCP gives up, hours later; the waits for a lock that may
                # rightly last longer (a migration, the command sync) set their own.
                command_timeout=STATEMENT_TIMEOUT_SECONDS,
            )
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            # Down, restarting, still starting with the machine, or full: it may answer later (the runner
            # tries again, as for an unreachable Discord); a refused login or a missing database will not.
            why = _scrub(str(exc), url) or type(exc).__name__
            raise StoreUnreachable(_scrub(f"PostgreSQL at {where} cannot be reached ({why})", url)) from None
        except (ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreUnusable(
                _scrub(
                    f"cannot connect to PostgreSQL at {url_location(url)} ({exc}); check DATABASE_URL", url
                )
            ) from None
        try:
            async with pool.acquire() as connection:
                await _migrate(connection)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await pool.close()
            raise StoreUnusable(
                _scrub(
                    f"cannot use the PostgreSQL database at {url_location(url)} ({exc}); check DATABASE_URL",
                    url,
                )
            ) from None
        except BaseException:
            await pool.close()
            raise
        return cls(pool, clock)

    def request_budget(self, rate: float) -> Budget:
        """One schedule in the database for every process on it (bot/core/shared_budget.py): together they
        stay under PROVIDER_MAX_RPS, and a 429 seen by one pauses all."""
        return SharedBudget(self._pool, rate)

    async def close(self) -> None:
        self._closing = True
        if self._relisten is not None:
            self._relisten.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relisten
        if self._listener is not None:
            listener, self._listener = self._listener, None
            with contextlib.suppress(
                OSError, asyncpg.PostgresError, asyncpg.InterfaceError
            ):  # a lost connection: the pool's close handles it
                await listener.remove_listener(HANDED_BACK_CHANNEL, self._on_notify)
            with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await self._pool.release(listener)
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("PostgreSQL connections still in use after %g s; closing them", CLOSE_TIMEOUT_SECONDS)
            self._pool.terminate()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A connection from the pool; a server that cannot be reached, or a statement it leaves unanswered
        (STATEMENT_TIMEOUT_SECONDS), is StoreUnreachable (a STORE_ERROR)."""
        try:
            connection = await self._pool.acquire(timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError as exc:  # refused, unreachable, or the connect timed out (TimeoutError)
            raise StoreUnreachable(f"PostgreSQL cannot be reached ({exc or type(exc).__name__})") from exc
        try:
            yield connection
        except TimeoutError as exc:  # asyncpg's command_timeout: the server did not answer
            raise StoreUnreachable("PostgreSQL did not answer a statement in time") from exc
        finally:
            await self._pool.release(connection)

    @contextlib.asynccontextmanager
    async def _line_locked(self) -> AsyncIterator[Any]:
        """A transaction holding the line's advisory lock: no other process admits or dispatches meanwhile."""
        async with self._line, self._connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK_CLASS, _LINE_LOCK)
            yield connection

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._connection() as connection:
            return list(await connection.fetch(sql, *args))

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        async with self._connection() as connection:
            return await connection.fetchrow(sql, *args)

    async def _tasks(self, sql: str, *args: Any) -> list[Task]:
        return [Task.from_row(row) for row in await self._fetch(sql, *args)]

    async def _task(self, sql: str, *args: Any) -> Task | None:
        row = await self._fetchrow(sql, *args)
        return None if row is None else Task.from_row(row)

    async def schema_version(self) -> int:
        row = await self._fetchrow("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        return int(row[0])

    @contextlib.asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        # A session lock on a connection held for the block; returning it to the pool resets the session,
        # which releases the lock even if the unlock below never ran.
        key = (_EXCLUSIVE_CLASS, _exclusive_key(name))
        async with self._connection() as connection:
            await connection.execute("SELECT pg_advisory_lock($1, $2)", *key, timeout=LOCK_WAIT_SECONDS)
            try:
                yield
            finally:
                with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError):
                    await connection.execute("SELECT pg_advisory_unlock($1, $2)", *key)

    # ---- small facts ---------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        row = await self._fetchrow("SELECT value FROM bot_meta WHERE key = $1", key)
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        await self._fetch(
            "INSERT INTO bot_meta (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            key,
            value,
        )

    # ---- tasks -------------------------------------------------------------------------------------

    async def create_task_if(
        self,
        new: NewTask,
        decide: Callable[[Usage], Refused | None],
        next_poll_at: float | None = None,
        max_in_flight: int = 0,
    ) -> Task | Refused:
        async with self._line_locked() as connection:
            refusal = decide(await _usage(connection, new.requester_id, new.guild_id, self._since(None)))
            if refusal is not None:
                return refusal
            return await self._insert(connection, new, next_poll_at, max_in_flight)

    def _since(self, now: float | None) -> float:
        return day_start(self._clock() if now is None else now)

    async def usage(self, requester_id: int, guild_id: int | None, now: float | None = None) -> Usage:
        async with self._connection() as connection:
            return await _usage(connection, requester_id, guild_id, self._since(now))

    async def usage_report(self, guild_id: int, since: float) -> list[tuple[int, str, int, int]]:
        rows = await self._fetch(
            "SELECT requester_id, model, COUNT(*), SUM(billed_seconds) FROM tasks "
            f"WHERE guild_id = $1 AND created_at >= $2 AND state NOT IN ({_NOT_COUNTED}) "
            "GROUP BY requester_id, model ORDER BY SUM(billed_seconds) DESC",
            guild_id,
            since,
        )
        return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def state_counts(self) -> list[tuple[str, str, str, int, int, int]]:
        rows = await self._fetch(STATE_COUNTS_SQL)
        return [(str(r[0]), str(r[1]), str(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows]

    # ---- per-server settings -----------------------------------------------------------------------

    async def guild_config(self, guild_id: int) -> GuildConfig:
        row = await self._fetchrow("SELECT * FROM guild_settings WHERE guild_id = $1", guild_id)
        return self._config_from_row(guild_id, row)

    async def save_guild_config(self, config: GuildConfig) -> None:
        marks = ", ".join(f"${i}" for i in range(1, len(CONFIG_COLUMNS) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in CONFIG_COLUMNS[1:])
        await self._fetch(
            f"INSERT INTO guild_settings ({', '.join(CONFIG_COLUMNS)}) VALUES ({marks}) "
            f"ON CONFLICT (guild_id) DO UPDATE SET {updates}",
            *self._config_values(config),
        )

    async def create_task(
        self, new: NewTask, next_poll_at: float | None = None, max_in_flight: int = 0
    ) -> Task:
        async with self._line_locked() as connection:
            return await self._insert(connection, new, next_poll_at, max_in_flight)

    async def _insert(
        self, connection: Any, new: NewTask, next_poll_at: float | None, max_in_flight: int
    ) -> Task:
        """The insert with the line's decision in it (room, turn): under the line's lock."""
        row = await connection.fetchrow(
            _INSERT_TASK,
            new.source, new.guild_id, new.channel_id, new.requester_id, new.origin_message_id,
            new.request.model, new.request.to_json(), new.billed_seconds, self._clock(), next_poll_at,
            max_in_flight, new.locale,
        )  # fmt: skip
        return Task.from_row(row)

    # ---- the line ------------------------------------------------------------------------------------

    async def dispatch_next(
        self, max_in_flight: int, send_by: float, now: float | None = None
    ) -> Task | None:
        moment = self._clock() if now is None else now
        # A read first, without the lock: the line is empty most of the time.
        if (
            await self._fetchrow(
                "SELECT 1 FROM tasks WHERE state = 'waiting' AND next_poll_at <= $1 LIMIT 1", moment
            )
            is None
        ):
            return None
        async with self._line_locked() as connection:
            row = await connection.fetchrow(_DISPATCH, send_by, moment, max_in_flight)
        return None if row is None else Task.from_row(row)

    async def line_position(self, task: Task, max_in_flight: int) -> int:
        row = await self._fetchrow(
            "SELECT COUNT(*) + 1 FROM tasks WHERE state = 'waiting' "
            "AND ($1 > 0 OR guild_id IS NOT DISTINCT FROM $2) AND (turn < $3 OR (turn = $3 AND id < $4))",
            max_in_flight,
            task.guild_id,
            task.turn,
            task.id,
        )
        return int(row[0])

    async def waiting(
        self, limit: int, requester_id: int | None = None, guild_id: int | None = None
    ) -> list[Task]:
        if requester_id is None:
            return await self._tasks(
                "SELECT * FROM tasks WHERE state = 'waiting' ORDER BY turn NULLS FIRST, id LIMIT $1", limit
            )
        return await self._tasks(
            "SELECT * FROM tasks WHERE state = 'waiting' AND requester_id = $2 "
            "AND guild_id IS NOT DISTINCT FROM $3 ORDER BY turn NULLS FIRST, id LIMIT $1",
            limit,
            requester_id,
            guild_id,
        )

    async def line_counts(self, guild_id: int) -> tuple[int, int, int, int]:
        row = await self._fetchrow(
            f"""SELECT COUNT(*) FILTER (WHERE state = 'waiting'),
                  COUNT(*) FILTER (WHERE state = 'waiting' AND guild_id = $1),
                  COUNT(*) FILTER (WHERE state IN ({_WITH_PROVIDER})),
                  COUNT(*) FILTER (WHERE state IN ({_WITH_PROVIDER}) AND guild_id = $1)
                FROM tasks WHERE state IN ('waiting', {_WITH_PROVIDER})""",
            guild_id,
        )
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3]))

    async def get(self, task_id: int) -> Task | None:
        return await self._task("SELECT * FROM tasks WHERE id = $1", task_id)

    async def transition(
        self, task_id: int, expected: State | Iterable[State], new_state: State | None = None, **changes: Any
    ) -> Task | None:
        assignments = self._assignments(new_state, changes, self._clock())
        expected_states = [expected] if isinstance(expected, State) else list(expected)
        sets = ", ".join(f"{column} = ${i}" for i, column in enumerate(assignments, 3))
        # READ COMMITTED: a concurrent writer of the row goes first; this UPDATE then checks the state again
        # on the row as that writer left it, so only one of them wins.
        task = await self._task(
            f"UPDATE tasks SET {sets} WHERE id = $1 AND state = ANY($2::text[]) RETURNING *",
            task_id,
            expected_states,
            *assignments.values(),
        )
        if task is None:
            log.debug("task %s: transition from %s lost the race", task_id, expected_states)
        return task

    async def set_status_message(self, task_id: int, message_id: int) -> Task | None:
        return await self._task(
            "UPDATE tasks SET status_message_id = $1, updated_at = $2 WHERE id = $3 RETURNING *",
            message_id,
            self._clock(),
            task_id,
        )

    async def due_tasks(self, limit: int, now: float | None = None) -> list[Task]:
        return await self._tasks(
            "SELECT * FROM tasks WHERE next_poll_at IS NOT NULL AND next_poll_at <= $1 "
            "ORDER BY next_poll_at LIMIT $2",
            self._clock() if now is None else now,
            limit,
        )

    async def claim_due(
        self, groups: Sequence[tuple[int, Mapping[State, float]]], now: float | None = None
    ) -> list[Task]:
        groups = [(limit, leases) for limit, leases in groups if limit > 0 and leases]
        if not groups:
            return []
        all_leases: dict[State, float] = {}
        picks: list[str] = []
        args: list[Any] = [self._clock() if now is None else now]
        for number, (limit, leases) in enumerate(groups):
            all_leases.update(leases)
            args += [list(leases), limit]
            # SKIP LOCKED: a row another process is claiming right now is passed over, not waited for.
            picks.append(
                f"pick{number} AS (SELECT id FROM tasks WHERE next_poll_at IS NOT NULL "
                "AND next_poll_at <= $1 "
                f"AND state = ANY(${len(args) - 1}::text[]) ORDER BY next_poll_at LIMIT ${len(args)} "
                "FOR UPDATE SKIP LOCKED)"
            )
        cases = []
        for state, lease in all_leases.items():
            args += [state, lease]
            cases.append(f"WHEN ${len(args) - 1} THEN ${len(args)}::double precision")
        chosen = " UNION ALL ".join(f"SELECT id FROM pick{number}" for number in range(len(groups)))
        tasks = await self._tasks(
            f"WITH {', '.join(picks)} UPDATE tasks SET next_poll_at = $1 + CASE state {' '.join(cases)} END "
            f"WHERE id IN ({chosen}) RETURNING *",
            *args,
        )
        return sorted(tasks, key=lambda task: task.id)

    async def renew_lease(self, task_id: int, state: State, leased_until: float, until: float) -> bool:
        row = await self._fetchrow(
            "UPDATE tasks SET next_poll_at = $1 "
            "WHERE id = $2 AND state = $3 AND next_poll_at = $4 RETURNING id",
            until,
            task_id,
            state.value,
            leased_until,
        )
        return row is not None

    async def release(self, task_ids: Iterable[int], now: float | None = None) -> None:
        ids = list(task_ids)
        if ids:
            # The UPDATE and the NOTIFY in one statement (one transaction): a listener woken by it finds the
            # tasks due. Every other process listening (on_handed_back) takes them up at once.
            await self._fetch(
                "WITH handed AS (UPDATE tasks SET next_poll_at = $1 WHERE id = ANY($2::bigint[]) "
                "AND next_poll_at > $1 RETURNING id) "
                f"SELECT pg_notify('{HANDED_BACK_CHANNEL}', COUNT(*)::text) FROM handed HAVING COUNT(*) > 0",
                self._clock() if now is None else now,
                ids,
            )

    async def on_handed_back(self, wake: Callable[[], None]) -> None:
        """LISTEN on one pooled connection, held until close(). If that connection is lost (a PostgreSQL
        restart), it LISTENs again on a new one as soon as the server answers (1 s doubling to 30 s between
        tries), and wakes once then, since tasks may have been handed back meanwhile."""
        self._on_notify = lambda *_: wake()
        await self._listen()

    async def _listen(self) -> None:
        try:
            listener = await self._pool.acquire(timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError as exc:
            raise StoreUnreachable(f"PostgreSQL cannot be reached ({exc or type(exc).__name__})") from exc
        try:
            await listener.add_listener(HANDED_BACK_CHANNEL, self._on_notify)
        except BaseException:
            await self._pool.release(listener)
            raise
        listener.add_termination_listener(self._listener_lost)
        self._listener = listener

    def _listener_lost(self, connection: Any) -> None:
        if self._listener is connection and not self._closing:
            self._listener = None
            self._relisten = asyncio.create_task(self._listen_again(connection), name="pg-relisten")

    async def _listen_again(self, lost: Any) -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await self._pool.release(lost)  # the pool replaces the closed connection
        delay = 1.0
        while not self._closing:
            try:
                await self._listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.debug("LISTEN again failed (%s); next try in %g s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if self._on_notify is not None:
                self._on_notify()
            return

    async def next_due_at(
        self, states: Iterable[State] | None = None, waiting_after: float | None = None
    ) -> float | None:
        conditions: list[str] = []
        args: list[Any] = []
        if states is not None:
            args.append(list(states))
            conditions.append(f"state = ANY(${len(args)}::text[])")
        if waiting_after is not None:
            args.append(waiting_after)
            conditions.append(f"(state = 'waiting' AND next_poll_at > ${len(args)})")
        where = f" AND ({' OR '.join(conditions)})" if conditions else ""
        row = await self._fetchrow(
            f"SELECT MIN(next_poll_at) FROM tasks WHERE next_poll_at IS NOT NULL{where}", *args
        )
        return None if row is None else row[0]

    async def tasks_for_member(self, requester_id: int, guild_id: int | None, limit: int = 10) -> list[Task]:
        return await self._tasks(
            f"SELECT * FROM tasks WHERE requester_id = $1 AND {_same_guild('$2', guild_id)} "
            "ORDER BY id DESC LIMIT $3",
            requester_id,
            guild_id,
            limit,
        )

    async def completion_times(self, model: str, limit: int) -> list[tuple[float, int]]:
        rows = await self._fetch(
            "SELECT polled_at - submitted_at, finished_at - submitted_at, billed_seconds FROM tasks "
            "WHERE model = $1 AND video_url IS NOT NULL AND finished_at IS NOT NULL "
            "AND submitted_at IS NOT NULL AND billed_seconds > 0 ORDER BY id DESC LIMIT $2",
            model,
            limit,
        )
        return [(completion_estimate(row[0], float(row[1])), int(row[2])) for row in rows]

    async def pending_notices(self, requester_id: int) -> list[Task]:
        return await self._tasks(
            "SELECT * FROM tasks WHERE requester_id = $1 AND notify_requester = 1 ORDER BY id", requester_id
        )


async def _usage(connection: Any, requester_id: int, guild_id: int | None, since: float) -> Usage:
    """TaskStore.usage on one connection (create_task_if reads it inside the line's lock)."""
    row = await connection.fetchrow(
        f"""SELECT COUNT(*) FILTER (WHERE state IN ({sql_states(ACTIVE)})),
              MAX(created_at),
              COALESCE(SUM(billed_seconds) FILTER (WHERE created_at >= $1), 0)
            FROM tasks WHERE {_same_guild("$2", guild_id)} AND requester_id = $3
              AND state NOT IN ({_NOT_COUNTED})""",
        since,
        guild_id,
        requester_id,
    )
    server_today = await connection.fetchval(
        "SELECT COALESCE(SUM(billed_seconds), 0) FROM tasks "
        f"WHERE {_same_guild('$1', guild_id)} AND created_at >= $2 AND state NOT IN ({_NOT_COUNTED})",
        guild_id,
        since,
    )
    return Usage(int(row[0]), row[1], int(row[2]), int(server_today))


async def _migrate(connection: Any) -> None:
    """Apply `migrations/postgresql/V<n>__*.sql` newer than the newest row of `schema_version`, each in its
    own transaction, under an advisory lock (two processes starting at once: the second finds the work done);
    refuse a database whose version is newer than every script here."""
    await connection.execute(
        "SELECT pg_advisory_lock($1, $2)", _LOCK_CLASS, _MIGRATION_LOCK, timeout=LOCK_WAIT_SECONDS
    )
    try:
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            "version integer PRIMARY KEY, applied_at double precision NOT NULL)"
        )
        current = int(await connection.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        scripts = migration_scripts("migrations/postgresql")
        newest = max((version for version, _ in scripts), default=0)
        if current > newest:
            raise schema_too_new(current, newest)
        for version, sql in scripts:
            if version > current:
                log.info("migrating the PostgreSQL database to version %d", version)
                async with connection.transaction():
                    await connection.execute(sql)
                    await connection.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                        version,
                        time.time(),
                    )
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1, $2)", _LOCK_CLASS, _MIGRATION_LOCK)
