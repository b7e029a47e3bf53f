"""The provider request budget (bot/core/budget.py) on a virtual clock: rate, burst, pause, no spinning."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random

import pytest

from bot.core.budget import BudgetBusy, RequestBudget


class VirtualTime:
    """A clock and a sleep that only move when the test says so (advance)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + seconds, next(self._order), future))
        await future

    async def advance(self, to: float) -> None:
        """Move the clock to `to`, waking every sleeper due on the way, in order."""
        await _settle()
        while self._timers and self._timers[0][0] <= to:
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            future.set_result(None)
            await _settle()
        self.now = max(self.now, to)
        await _settle()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def budget(vt: VirtualTime, rate: float = 5.0, burst: int = 2) -> RequestBudget:
    return RequestBudget(rate, burst, margin=1.0, clock=vt.clock, sleep=vt.sleep)


async def leave_times(vt: VirtualTime, b: RequestBudget, count: int, until: float) -> list[float]:
    """Start `count` requests at the current time; the virtual times at which each was let go."""
    left: list[float] = []

    async def one() -> None:
        await b.acquire()
        left.append(vt.now)

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await vt.advance(until)
    assert all(t.done() for t in tasks), "some requests still waiting"
    return left


def most_in_any_window(times: list[float], width: float = 1.0) -> int:
    return max(sum(1 for t in times if start <= t <= start + width) for start in times)


async def test_a_crowd_leaves_at_the_rate_after_a_small_burst() -> None:
    vt = VirtualTime()
    left = await leave_times(vt, budget(vt, rate=5, burst=2), 20, until=10)
    assert left[:3] == pytest.approx([0.0, 0.0, 0.2])
    gaps = [b - a for a, b in itertools.pairwise(left[1:])]
    assert gaps == pytest.approx([0.2] * len(gaps))
    assert most_in_any_window(left) <= 5 + 2


async def test_burst_one_means_evenly_spaced_and_idle_time_refills_only_the_burst() -> None:
    vt = VirtualTime()
    b = budget(vt, rate=10, burst=1)
    first = await leave_times(vt, b, 3, until=1)
    assert first == pytest.approx([0.0, 0.1, 0.2])
    await vt.advance(100)  # a long idle spell banks nothing beyond the burst
    assert await leave_times(vt, b, 3, until=101) == pytest.approx([100.0, 100.1, 100.2])
    b3 = budget(vt, rate=10, burst=3)
    await vt.advance(200)
    again = await leave_times(vt, b3, 5, until=300)
    assert again == pytest.approx([200.0, 200.0, 200.0, 200.1, 200.2])


async def test_waiters_that_wake_late_never_put_more_than_the_rate_in_a_second_nor_fall_behind() -> None:
    """Every wake-up comes up to 0.15 s late (a busy event loop). By the schedule alone a late waiter and
    the on-time ones after it could put 6 in a second at rate 5; counted on the real departures, no second
    holds more than 5, and the lateness does not add up: 30 requests still take about 30 / 5 seconds."""
    vt = VirtualTime()
    rng = random.Random(7)

    async def sleep(seconds: float) -> None:
        await vt.sleep(seconds + (rng.uniform(0, 0.15) if seconds > 0 else 0.0))

    b = RequestBudget(5, 1, margin=1.0, clock=vt.clock, sleep=sleep)
    left = await leave_times(vt, b, 30, until=20)
    assert most_in_half_open_window(left) <= 5
    # At most two late wake-ups' worth behind (its slot's, and one wait for room in the window), where
    # spacing each from the one before (lateness adding up) ended near 29 / 5 + 30 x 0.075 = 8 s.
    assert left[-1] <= 29 / 5 + 2 * 0.15 + 1e-9


def most_in_half_open_window(times: list[float], width: float = 1.0) -> int:
    return max(sum(1 for t in times if start <= t < start + width) for start in times)


async def test_a_create_goes_before_the_queued_polls_and_the_rate_still_holds() -> None:
    """Twenty polls queue at 0 (4 s of them at rate 5); a member's create at 1.0 leaves within one slot,
    not after the queue, and no second holds more than 5 requests."""
    vt = VirtualTime()
    b = budget(vt, rate=5, burst=1)
    left: list[float] = []
    create_left: list[float] = []

    async def poll() -> None:
        await b.acquire()
        left.append(vt.now)

    async def create() -> None:
        await b.acquire(first=True)
        create_left.append(vt.now)
        left.append(vt.now)

    polls = [asyncio.create_task(poll()) for _ in range(20)]
    await vt.advance(1.0)
    member = asyncio.create_task(create())
    await vt.advance(10)
    assert all(t.done() for t in [*polls, member])
    assert create_left[0] <= 1.0 + 0.2 + 1e-9
    assert most_in_half_open_window(sorted(left)) <= 5


async def test_with_its_margin_no_closed_second_holds_more_than_the_rate() -> None:
    """As the provider counts (a closed second, each request stamped on arrival, a few ms of jitter on the
    way), 100 requests at rate 25 never put 26 in a second; without the margin, one at each end of a second
    exactly 1/rate apart would."""
    vt = VirtualTime()
    rng = random.Random(3)
    left = await leave_times(vt, RequestBudget(25, 1, clock=vt.clock, sleep=vt.sleep), 100, until=10)
    arrived = sorted(t + rng.uniform(0, 0.004) for t in left)
    assert most_in_any_window(arrived) <= 25
    assert left[-1] <= 99 / 25 * 1.011, "paced about 1 % under the rate, not more"
    exact = await leave_times(vt, budget(vt, rate=25, burst=1), 100, until=30)
    assert most_in_any_window(exact) == 26, "the margin is what keeps the 26th out"


async def test_a_pause_holds_every_waiter_until_it_ends_and_then_they_leave_at_the_rate() -> None:
    vt = VirtualTime()
    b = budget(vt, rate=5, burst=1)
    left: list[float] = []

    async def one() -> None:
        await b.acquire()
        left.append(vt.now)

    tasks = [asyncio.create_task(one()) for _ in range(6)]
    await vt.advance(0.3)  # two have left (0.0, 0.2); four are waiting for their slots
    assert left == pytest.approx([0.0, 0.2])
    b.pause(5.0)  # a 429 at 0.3: nothing may leave before 5.3, not even those already waiting
    assert b.paused_for() == pytest.approx(5.0)
    await vt.advance(20)
    assert all(t.done() for t in tasks)
    after = left[2:]
    assert min(after) >= 5.3
    assert after == pytest.approx([5.3, 5.5, 5.7, 5.9])


async def test_a_pause_is_extended_never_shortened() -> None:
    vt = VirtualTime()
    b = budget(vt)
    b.pause(10)
    await vt.advance(2)
    b.pause(3)  # ends at 5: earlier than the standing pause, so ignored
    assert b.paused_for() == pytest.approx(8)
    b.pause(20)  # ends at 22: extends it
    assert b.paused_for() == pytest.approx(20)
    left = await leave_times(vt, b, 1, until=30)
    assert left == [22.0]
    assert b.paused_for() == 0.0


async def test_waiting_through_a_pause_sleeps_rather_than_spins() -> None:
    vt = VirtualTime()
    b = budget(vt, rate=5, burst=1)
    b.pause(3600)
    await leave_times(vt, b, 3, until=4000)
    assert len(vt.sleeps) <= 3  # one sleep each, to its own slot
    vt.sleeps.clear()

    # A waiter whose slot a later pause covers sleeps once more, to its new slot: twice in all.
    first = asyncio.create_task(b.acquire())
    second = asyncio.create_task(b.acquire())
    await vt.advance(vt.now + 0.01)
    b.pause(60)
    await vt.advance(vt.now + 100)
    assert first.done() and second.done()
    assert len(vt.sleeps) <= 3


async def test_a_request_that_cannot_leave_in_time_is_refused_without_taking_a_slot() -> None:
    vt = VirtualTime()
    b = budget(vt, rate=5, burst=1)
    b.pause(30)
    with pytest.raises(BudgetBusy) as busy:
        await b.acquire(max_wait=5)
    assert busy.value.paused and busy.value.seconds == pytest.approx(30)
    waited = asyncio.create_task(b.acquire(max_wait=40))
    await vt.advance(31)
    assert waited.result() == pytest.approx(30)
    assert vt.sleeps == [pytest.approx(30)]  # the refused one never slept


def test_nonsense_rates_are_refused() -> None:
    for rate in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ValueError):
            RequestBudget(rate)
    with pytest.raises(ValueError):
        RequestBudget(1, burst=0)
