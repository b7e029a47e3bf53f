"""The provider request budget shared by several bot processes on one PostgreSQL database: PROVIDER_MAX_RPS
holds for the whole bot, and a 429 seen by one process pauses all of them.

The schedule of bot/core/budget.py (GCRA: each request takes the next free departure slot and sleeps until
it) kept in one row of ``provider_budget`` (migrations/postgresql/V8), in seconds on the *database's* clock,
so processes on different machines agree. One statement per request takes the next slot atomically, and
only if it falls within the wait the request allows (no slot is taken otherwise: BudgetBusy, as locally).
The slot is converted to this process's clock with the best bound the replies give on the difference
between the clocks (_Offset): never before its slot, and about a one-way trip after it at most. A request
that wakes more than LATE (5 ms) after its slot (a busy event loop) takes a new slot rather than leave right
before the next one, another process's: the local budget's count of real departures cannot see those. So
what lateness remains stays within the room the 1 % margin (budget.SAFETY) leaves: 10 ms in any second.

In this process, one request at a time holds a slot of the shared schedule, taken in arrival order except
that a member's create goes before the polls waiting here: a busy process cannot fill the shared schedule
with its own queue while the others' requests, creates included, wait behind it. Every process gets its
share, and a create waits at most about a slot per process. A request then passes this process's own
``RequestBudget`` (bot/core/budget.py), which rarely holds it: it counts the real departures here (a waiter
woken late does not bunch up with the next), applies a pause from this process at once, and is the whole
budget while the database is unreachable.

A 429 here pauses this process at once and extends ``paused_until`` in the database (only ever extends; in
the background, since ``pause`` is synchronous). Another process learns of it at its next reservation (the
reply carries ``paused_until``), or within about a second from ``paused_for()``, which stays synchronous and
cheap (it returns what this process knows) and refreshes that knowledge in the background at most once a
second. A reserved request whose slot a pause then covers takes a new slot after it, as locally.

The database must not wedge the bot: a reservation that fails (connection lost, server down) or takes longer
than ``db_timeout`` lets the request leave on the local budget alone; for the next second the others do too,
then the database is tried again. One warning when such an episode starts, one info line when it ends.
During it each process keeps to PROVIDER_MAX_RPS on its own, and a pause it could not write stays its own.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Coroutine
from typing import Any, Final

import asyncpg

from bot.core.budget import SAFETY, BudgetBusy, RequestBudget

log = logging.getLogger(__name__)

#: A reservation that takes longer than this leaves on the local budget alone.
DB_TIMEOUT: Final = 2.0
#: After a failed reservation the database is tried again this long later; requests in between leave on the
#: local budget alone.
RETRY_AFTER_FAILURE: Final = 1.0
#: A pause read again from the database may end a round trip later than read before: not a new pause.
_JITTER: Final = 0.01
#: A request that wakes later than this after its slot takes a new one: leaving now could put it right before
#: the next slot, another process's. Half the room the 1 % margin leaves in a second (budget.SAFETY).
LATE: Final = (SAFETY - 1.0) / 2
#: How fast the two clocks may drift apart (s/s): an offset measured earlier is trusted less by this much.
_DRIFT: Final = 1e-3
#: paused_for() reads the shared pause from the database at most this often (in the background).
REFRESH_EVERY: Final = 1.0


class NoBudgetRow(Exception):
    """The provider_budget table has no row: the database was not migrated by the bot (V8 inserts it)."""


DB_ERRORS: Final = (
    NoBudgetRow,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)

# The next free slot is GREATEST(tat, now, paused_until); taken only if within the wait allowed ($2).
# clock_timestamp() is read again after the row lock is granted, so a request that queued for the lock is
# measured from when it got it. $1: the interval between departures.
_RESERVE: Final = """
UPDATE provider_budget
   SET tat = GREATEST(tat, extract(epoch FROM clock_timestamp())::float8, paused_until) + $1
 WHERE id = 1
   AND GREATEST(tat, extract(epoch FROM clock_timestamp())::float8, paused_until)
       <= extract(epoch FROM clock_timestamp())::float8 + $2
RETURNING tat - $1 AS slot, paused_until, extract(epoch FROM clock_timestamp())::float8 AS now
"""
_STATE: Final = """
SELECT tat, paused_until, extract(epoch FROM clock_timestamp())::float8 AS now
  FROM provider_budget
 WHERE id = 1
"""
_PAUSE: Final = """
UPDATE provider_budget
   SET paused_until = GREATEST(paused_until, extract(epoch FROM clock_timestamp())::float8 + $1)
 WHERE id = 1
RETURNING paused_until, extract(epoch FROM clock_timestamp())::float8 AS now
"""


class _Gate:
    """One holder at a time; waiters that go first are let in before the others, each in arrival order."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: dict[bool, collections.deque[asyncio.Future[None]]] = {
            True: collections.deque(),
            False: collections.deque(),
        }

    def ahead(self, *, first: bool) -> int:
        """How many waiters a new one would wait behind (the holder aside)."""
        return len(self._waiting[True]) + (0 if first else len(self._waiting[False]))

    async def enter(self, *, first: bool, within: float) -> bool:
        """Wait at most `within` seconds to hold the gate; False (not holding it) if that was not enough."""
        if not self._held and not self.ahead(first=False):
            self._held = True
            return True
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[first].append(turn)
        try:
            await asyncio.wait({turn}, timeout=None if math.isinf(within) else max(0.0, within))
        except BaseException:  # cancelled while waiting
            if turn.done():
                self.leave()  # handed over just as this waiter was cancelled: pass it on
            else:
                self._give_up(turn, first)
            raise
        if turn.done():
            return True
        self._give_up(turn, first)
        return False

    def _give_up(self, turn: asyncio.Future[None], first: bool) -> None:
        self._waiting[first].remove(turn)
        turn.cancel()

    def leave(self) -> None:
        for queue in (self._waiting[True], self._waiting[False]):
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)  # handed over: the gate stays held
                    return
        self._held = False


class _Offset:
    """The database's clock minus this process's monotonic clock, as a lower bound: a slot converted with it
    is never early. Each reply bounds it: the database read its clock after the request was sent and before
    the reply was read, so `db_now - received` <= offset <= `db_now - sent`. The highest lower bound seen
    is kept (less a drift allowance as it ages), so a reply the event loop read late does not make the
    conversion late; one that proves it too high (a clock step) replaces it."""

    def __init__(self) -> None:
        self._value: float | None = None
        self._at = 0.0

    def sample(self, db_now: float, sent: float, received: float) -> float:
        low, high = db_now - received, db_now - sent
        if self._value is not None:
            aged = self._value - _DRIFT * (received - self._at)
            if aged <= high:
                low = max(low, aged)
        self._value, self._at = low, received
        return low


class SharedBudget:
    """The request budget of every bot process on one PostgreSQL database (see the module docstring).

    ``SharedBudget(pool, rate)``: `pool` is an ``asyncpg.Pool`` on a database migrated to version 8 (the
    ``provider_budget`` row), `rate` is PROVIDER_MAX_RPS for the whole bot. Same interface as RequestBudget
    (bot/core/budget.py, ``Budget``). ``close()`` waits for the pause writes and refreshes in flight: call
    it before closing the pool.
    """

    def __init__(self, pool: Any, rate: float, *, db_timeout: float = DB_TIMEOUT) -> None:
        self._local = RequestBudget(rate)
        self._pool = pool
        self._interval = SAFETY / rate
        self._db_timeout = db_timeout
        self._gate = _Gate()
        self._offset = _Offset()
        self._pauses = 0  # counts extensions of the local pause: a reserved slot a new pause covers is redone
        self._offline_since: float | None = None  # when the current database outage began (local clock)
        self._retry_at = -math.inf  # no reservation is tried before then (local clock)
        self._refreshed_at = -math.inf
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"SharedBudget(rate={self.rate:g}/s, paused_for={self._local.paused_for():.1f}s)"

    @property
    def rate(self) -> float:
        return self._local.rate

    # ---- the pause ----------------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Nothing leaves this process for `seconds` from now, at once; the other processes hold from their
        next reservation, once the pause is written to the database (in the background)."""
        self._pause_locally(seconds)
        if seconds > 0:
            self._spawn(self._publish_pause(seconds))

    def paused_for(self) -> float:
        """Seconds until the pause ends as this process knows it: its own 429s at once, another process's
        from this process's next reservation or from the background refresh this call starts (at most once
        a second), whichever comes first. Synchronous, and reads no database."""
        now = time.monotonic()
        if now >= max(self._refreshed_at + REFRESH_EVERY, self._retry_at):
            self._refreshed_at = now
            self._spawn(self._refresh())
        return self._local.paused_for()

    def _pause_locally(self, seconds: float) -> None:
        before = self._local.paused_for()
        self._local.pause(seconds)
        if self._local.paused_for() > before:
            self._pauses += 1

    def _learn(self, paused_until: float, offset: float) -> None:
        """Hold this process until the shared pause ends (converted to the local clock: never early)."""
        self._pause_locally(paused_until - offset - time.monotonic())

    async def _fetch(self, query: str, *args: float, busy: bool = False) -> tuple[Any, float]:
        """One statement's row and the clock offset its reply measured; (None, nan) for a reservation the
        schedule refused (`busy`: it may match no row)."""
        sent = time.monotonic()
        async with asyncio.timeout(self._db_timeout):
            row = await self._pool.fetchrow(query, *args)
        if row is not None:
            return row, self._offset.sample(row["now"], sent, time.monotonic())
        if busy:
            return None, math.nan
        raise NoBudgetRow("the provider_budget table has no row (migration V8 inserts it)")

    async def _publish_pause(self, seconds: float) -> None:
        await self._read_pause(_PAUSE, seconds)

    async def _refresh(self) -> None:
        await self._read_pause(_STATE)

    async def _read_pause(self, query: str, *args: float) -> None:
        try:
            row, offset = await self._fetch(query, *args)
        except DB_ERRORS as exc:
            self._offline(exc)
            return
        self._online()
        self._learn(row["paused_until"], offset)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(work)
        except RuntimeError:  # no event loop (a synchronous caller): the local pause stands alone
            work.close()
            return
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        """Wait for the pause writes and pause refreshes still in flight."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # ---- a request ----------------------------------------------------------------------------------

    async def acquire(self, max_wait: float = math.inf, *, first: bool = False) -> float:
        """Wait for this request's turn in the whole bot; returns the seconds waited.

        `first`: the request goes before this process's other waiters (a member's create). Raises
        BudgetBusy, having sent nothing and taken no slot of the shared schedule, when the request could
        not leave within `max_wait` seconds of the call.
        """
        arrived = time.monotonic()
        deadline = arrived + max_wait
        if arrived < self._retry_at:  # the database failed a moment ago: the local budget alone
            await self._local.acquire(max_wait, first=first)
            return max(0.0, time.monotonic() - arrived)
        ahead = self._gate.ahead(first=first)
        if ahead * self._interval > max_wait:  # each request ahead of it takes a slot of its own
            raise BudgetBusy(ahead * self._interval, paused=False)
        if not await self._gate.enter(first=first, within=max_wait):
            raise BudgetBusy((self._gate.ahead(first=first) + 1) * self._interval, paused=False)
        try:
            await self._shared_turn(deadline)
            # This process's own budget, which rarely holds it now: a pause that began this instant, and
            # its real departures (a waiter woken late does not bunch up with the next one here).
            await self._local.acquire(max(0.0, deadline - time.monotonic()), first=first)
        finally:
            self._gate.leave()
        return max(0.0, time.monotonic() - arrived)

    async def _shared_turn(self, deadline: float) -> None:
        """Take a slot of the shared schedule within the deadline and sleep until it."""
        while True:
            now = time.monotonic()
            if now < self._retry_at:  # the database failed while this request waited: the local budget alone
                return
            held = self._local.paused_for()  # a pause known here: no slot is reserved inside it
            if held > 0:
                if now + held > deadline:
                    raise BudgetBusy(held, paused=True)
                await asyncio.sleep(held)
                continue
            if self._offline_since is not None:  # this one tries the database again; the others go on locally
                self._retry_at = now + self._db_timeout
            try:
                depart = await self._reserve(deadline - now)
            except DB_ERRORS as exc:
                self._offline(exc)
                return  # leaves on the local budget alone
            pauses = self._pauses
            wait = depart - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            held = self._local.paused_for()
            if self._pauses != pauses and held > 0:
                # A pause began while we slept (not the one our slot was already after). A few ms of it are
                # the same pause read again: wait them out. A new one: a new slot after it.
                if held > _JITTER:
                    continue
                await asyncio.sleep(held)
            elif time.monotonic() - depart > LATE:
                continue  # woke late (a busy event loop): the slot is gone, take the next free one
            return

    async def _reserve(self, max_wait: float) -> float:
        """One statement: the next free shared slot, if within `max_wait`; returns it on the local clock.
        Raises BudgetBusy (nothing taken) when the next free slot is later than that."""
        row, offset = await self._fetch(_RESERVE, self._interval, max_wait, busy=True)
        if row is None:
            row, offset = await self._fetch(_STATE)
            self._online()
            self._learn(row["paused_until"], offset)
            slot = max(row["tat"], row["now"], row["paused_until"])
            raise BudgetBusy(slot - row["now"], paused=row["paused_until"] >= slot)
        self._online()
        self._learn(row["paused_until"], offset)
        return float(row["slot"] - offset)

    # ---- database outages ---------------------------------------------------------------------------

    def _offline(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._retry_at = now + RETRY_AFTER_FAILURE
        if self._offline_since is None:
            self._offline_since = now
            log.warning(
                "shared request budget: the database is unreachable (%s: %s); this process keeps to "
                "PROVIDER_MAX_RPS on its own until it is back",
                type(exc).__name__,
                str(exc)[:200] or f"no answer within {self._db_timeout:g} s",
            )

    def _online(self) -> None:
        if self._offline_since is not None:
            log.info(
                "shared request budget: the database is back after %.0f s; the budget is shared again",
                time.monotonic() - self._offline_since,
            )
            self._offline_since = None
            self._retry_at = -math.inf
