"""One request budget toward the provider: a rate limit every create and poll passes through, and a
provider-wide pause after a 429 (discord.py's global rate-limit lock is the model).

A token bucket kept as a schedule (GCRA, "virtual scheduling"): each request reserves the next free
departure time when it arrives, so waiters leave in arrival order, one every 1/rate seconds, and each
sleeps until its slot: no polling loop, no spinning. Up to ``burst`` requests may leave back to back after
an idle spell (the bot uses 1: evenly spaced). After a restart with many overdue tasks, or after a pause,
catch-up is smoothed to the rate.

The schedule alone bounds when requests were *meant* to leave; a waiter that wakes late (a busy event
loop) leaves closer to the next one, and a second could then hold one more than the rate. So the real
departures are also counted: a request leaves only when the last second (for a rate under 1, the last
1/rate seconds) holds fewer than ``ceil(rate) + burst - 1`` of them, what the schedule itself allows (a
floor would make the count bind every second at a rate like 166.7, and waiters race for the room).
Lateness does not add up (the schedule still sets the pace), and with burst 1 no second holds more than
``PROVIDER_MAX_RPS`` requests (rounded up, for a rate that is not a whole number).

``pause(seconds)`` stops everything until then: no request leaves inside the window, including those
already waiting for their slot (a waiter whose slot falls inside a pause takes a new slot after it).
A pause is only ever extended, never shortened.

``Budget`` is what the client needs from a budget: this one for one process, or ``SharedBudget``
(bot/core/shared_budget.py) for several bot processes on one PostgreSQL database.

No Discord and no HTTP here; time and sleeping are injected so the unit tests run on a virtual clock.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

#: Requests that may leave back to back after an idle spell. 1: evenly spaced, never more than the rate in
#: any second, which is the promise PROVIDER_MAX_RPS makes to the owner (a burst would buy nothing here:
#: polls are scheduled seconds apart, and a member's create waits at most 1/rate for its slot).
DEFAULT_BURST = 1
#: The budget paces 1 % under the rate, and counts real departures over a second 1 % longer (see __init__);
#: the unit tests use 1.0 for exact arithmetic.
SAFETY: Final = 1.01
#: A 429 that does not say how long to wait pauses everything this long.
PAUSE_WITHOUT_RETRY_AFTER = 10.0


class BudgetBusy(Exception):
    """The request could not leave within the wait it allows; nothing was sent. ``seconds``: how long from
    now until it could have left (the rest of a pause, or the queue ahead of it)."""

    def __init__(self, seconds: float, *, paused: bool) -> None:
        super().__init__(f"the request budget is {'paused' if paused else 'full'} for {seconds:.1f} s")
        self.seconds = seconds
        self.paused = paused


class Budget(Protocol):
    """The request budget GrokClient passes every create and poll through: RequestBudget (this process
    alone) or SharedBudget (every process on one PostgreSQL database). ``paused_for`` is synchronous and
    cheap: metrics and the poller read it."""

    @property
    def rate(self) -> float: ...

    async def acquire(self, max_wait: float = math.inf, *, first: bool = False) -> float: ...

    def pause(self, seconds: float) -> None: ...

    def paused_for(self) -> float: ...

    async def close(self) -> None: ...


class RequestBudget:
    def __init__(
        self,
        rate: float,
        burst: int = DEFAULT_BURST,
        *,
        margin: float = SAFETY,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError("rate must be a positive number of requests per second")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = rate
        self.burst = burst
        # A hair under the rate: a request's trip to the provider varies by a few ms, and a second as the
        # provider counts it must not hold one more than the rate (one at each end of a closed second).
        self._interval = margin / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._sleep = sleep
        self._tat = -math.inf  # theoretical arrival time of the next request (GCRA)
        self._paused_until = -math.inf
        # The real departures of the last window, oldest first: at most `_per_window` of them.
        self._window = max(1.0, 1.0 / rate) * margin
        self._per_window = max(1, math.ceil(rate * self._window - 1e-9)) + burst - 1
        self._left: collections.deque[float] = collections.deque(maxlen=self._per_window)
        self._first_waiting = 0  # requests that go first, waiting for room

    def __repr__(self) -> str:
        return f"RequestBudget(rate={self.rate:g}/s, burst={self.burst}, paused_for={self.paused_for():.1f}s)"

    # ---- the pause ----------------------------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        """Nothing leaves for `seconds` from now (a 429's Retry-After); an existing longer pause stands."""
        until = self._clock() + max(0.0, seconds)
        if until > self._paused_until:
            self._paused_until = until
            # New reservations start after the pause; slots already handed out inside it are abandoned.
            self._tat = max(self._tat, until)

    def paused_for(self) -> float:
        """Seconds until the current pause ends (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    async def close(self) -> None:
        """Nothing to release: the schedule lives in this process (SharedBudget's writes need waiting for)."""

    # ---- a request ----------------------------------------------------------------------------------

    def _reserve(self, now: float) -> float:
        start = max(self._tat, now)
        self._tat = start + self._interval
        return max(now, start - self._tolerance, self._paused_until)

    def _slot_after(self, now: float) -> float:
        """When a request arriving now would leave, without reserving it."""
        return max(now, max(self._tat, now) - self._tolerance, self._paused_until)

    async def acquire(self, max_wait: float = math.inf, *, first: bool = False) -> float:
        """Wait for this request's turn; returns the seconds waited.

        `first`: the request goes before every waiter (a member's create, while polls queue): see
        _jump_the_queue. Raises BudgetBusy, having sent nothing and taken no slot, when the request could
        not leave within `max_wait` seconds of the call (a long pause, or a long queue ahead of it).
        """
        arrived = self._clock()
        deadline = arrived + max_wait
        if first:
            return await self._jump_the_queue(arrived, deadline)
        now = arrived
        while True:
            slot = self._slot_after(now)
            if slot > deadline:
                paused = self._paused_until >= slot
                raise BudgetBusy(slot - now, paused=paused)
            depart = self._reserve(now)
            if depart > now:
                await self._sleep(depart - now)
            # A pause that began while we slept and covers our slot: take a new slot after it. Pauses only
            # grow, so comparing with the slot (not with the clock, which may read a hair early) is exact.
            if self._paused_until <= depart and await self._spaced(depart):
                left = self._clock()
                self._left.append(left)
                return max(0.0, left - arrived)
            now = self._clock()

    async def _jump_the_queue(self, arrived: float, deadline: float) -> float:
        """Leave as soon as no pause holds us and the last window of real departures has room (at most
        about 1/rate), whatever the queue: the waiters' own slots stand, and the one that finds the window
        full waits for room (_spaced), so the rate still holds. The schedule counts this departure too."""
        while True:
            now = self._clock()
            ready = max(now, self._paused_until)
            if len(self._left) == self._per_window:
                ready = max(ready, self._left[0] + self._window)
            if ready > deadline:
                raise BudgetBusy(ready - now, paused=self._paused_until >= ready)
            if ready <= now:
                self._left.append(now)
                self._tat = max(self._tat, now) + self._interval
                return max(0.0, now - arrived)
            self._first_waiting += 1
            try:
                await self._sleep(ready - now)
            finally:
                self._first_waiting -= 1

    async def _spaced(self, depart: float) -> bool:
        """Wait until the last window of real departures has room for one more (it has, unless waiters woke
        late), and no request that goes first is waiting for that room; False if a pause began meanwhile
        (the caller then takes a new slot after it)."""
        while True:
            if self._first_waiting:
                wait = self._interval  # it takes the room; look again one slot later
            elif len(self._left) == self._per_window:
                wait = self._left[0] + self._window - self._clock()
            else:
                break
            if wait <= 0:
                break
            await self._sleep(wait)
            if self._paused_until > depart:
                return False
        return True
