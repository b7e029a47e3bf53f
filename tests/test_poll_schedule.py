"""The learned poll schedule's maths (bot/core/scheduler.py), pure: injected clock values and rng."""

from __future__ import annotations

import math
import random
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.scheduler import (
    MIN_LEARNED_HISTORY,
    PollPlan,
    completion_estimate,
    learn_schedule,
    next_poll_time,
    poll_cap,
    poll_floor,
    polls_to_see,
    samples_for,
    tail_interval,
)

PLAN = PollPlan(base_interval=30.0, task_timeout=3600.0)


def lognormal(n: int, seed: int, median: float = 90.0, sigma: float = 0.4) -> list[float]:
    rng = random.Random(seed)
    return [median * math.exp(rng.gauss(0.0, sigma)) for _ in range(n)]


def poll_times(plan: PollPlan, offsets: tuple[float, ...], until: float, rng: random.Random) -> list[float]:
    """Every poll of a task submitted at 0, as the poller makes them, up to `until`."""
    times = [next_poll_time(plan, offsets, 0.0, 0.0, rng)]
    while times[-1] < until:
        times.append(next_poll_time(plan, offsets, 0.0, times[-1], rng))
    return times


def test_without_enough_history_it_is_the_fixed_interval() -> None:
    few = lognormal(MIN_LEARNED_HISTORY - 1, seed=1)
    assert learn_schedule(few, PLAN) == ()
    rng = random.Random(2)
    first = [next_poll_time(PLAN, (), 1000.0, 1000.0, rng) - 1000.0 for _ in range(100)]
    assert all(27.0 <= d <= 33.0 for d in first)  # POLL_INTERVAL_SECONDS ±10 %, as before


def test_history_of_a_length_is_used_scaled_or_not_at_all() -> None:
    tens = [(float(s), 10) for s in range(60, 60 + MIN_LEARNED_HISTORY)]
    assert samples_for(tens, 10) == [s for s, _ in tens]  # its own length: as measured
    assert samples_for(tens, 20) == [2 * s for s, _ in tens]  # another length: scaled, as the ETA does
    mixed = tens[:5] + [(300.0, 30)] * (MIN_LEARNED_HISTORY - 5)
    assert len(samples_for(mixed, 30)) == MIN_LEARNED_HISTORY  # 15 of its own are too few: all, scaled
    assert samples_for(tens[:-1], 10) == []  # too little history for the model


def test_learns_where_completion_is_likely() -> None:
    offsets = learn_schedule(lognormal(20, seed=3), PLAN)
    assert offsets, "20 completed tasks are enough to learn from"
    gaps = [b - a for a, b in zip((0.0, *offsets), offsets, strict=False)]
    # Sparse while little is finished, dense around the 90 s median, sparse again in the tail.
    near_median = [g for t, g in zip(offsets, gaps, strict=False) if 95 <= t <= 135]
    assert gaps[0] >= 45.0
    assert max(near_median) < 20.0
    assert max(near_median) < gaps[0]
    # Faster tasks are polled sooner: the schedule follows what was learned.
    faster = learn_schedule(lognormal(20, seed=3, median=45.0), PLAN)
    assert faster[2] < offsets[2]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=5.0, max_value=600.0),
    st.floats(min_value=0.05, max_value=1.5),
)
def test_floor_ceiling_and_cap_hold_for_any_history(seed: int, median: float, sigma: float) -> None:
    offsets = learn_schedule(lognormal(MIN_LEARNED_HISTORY, seed, median, sigma), PLAN)
    rng = random.Random(seed)
    times = poll_times(PLAN, offsets, PLAN.task_timeout, rng)
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert min(gaps) >= poll_floor(PLAN) - 1e-9  # never two polls of one task closer than the floor
    assert max(gaps[: len(offsets)], default=0.0) <= 2 * PLAN.base_interval + 1e-9  # the provider's 60 s
    if offsets:  # (without, it IS the fixed poller, jitter and all)
        within = [t for t in times if t <= PLAN.task_timeout]
        assert len(within) <= poll_cap(PLAN)  # never more polls over a task's life than the fixed poller's


def test_late_poller_keeps_the_floor_and_does_not_add_polls() -> None:
    offsets = learn_schedule(lognormal(20, seed=4), PLAN)
    # The poller ran 1 s before the third offset (it was busy): the next poll still waits the floor.
    now = offsets[2] - 1.0
    assert next_poll_time(PLAN, offsets, 0.0, now) == now + poll_floor(PLAN)
    # Polled long after the schedule ended: back to the fixed interval.
    late = next_poll_time(PLAN, offsets, 0.0, offsets[-1] + 1.0, random.Random(1)) - (offsets[-1] + 1.0)
    tail = tail_interval(PLAN, offsets)
    assert 0.9 * tail <= late <= 1.1 * tail
    assert PLAN.base_interval <= tail <= 1.2 * PLAN.base_interval  # stretched just enough for the cap


def test_polls_per_task_no_more_than_the_fixed_poller_and_seen_sooner() -> None:
    """The goal's workload in small: same completion times for both, the poller's own functions."""
    rng = random.Random(5)
    delays: dict[str, list[float]] = {"fixed": [], "learned": []}
    polls: dict[str, list[int]] = {"fixed": [], "learned": []}
    for trial in range(20):
        offsets = learn_schedule(lognormal(20, seed=100 + trial), PLAN)
        for done_at in lognormal(50, seed=1000 + trial):
            for name, schedule in (("fixed", ()), ("learned", offsets)):
                times = poll_times(PLAN, schedule, done_at, rng)
                delays[name].append(times[-1] - done_at)
                polls[name].append(len(times))
    assert statistics.fmean(polls["learned"]) <= statistics.fmean(polls["fixed"])
    assert statistics.median(delays["learned"]) <= 0.7 * statistics.median(delays["fixed"])


def test_counting_polls_matches_the_poller() -> None:
    offsets = (60.0, 80.0, 95.0)
    assert polls_to_see(offsets, 30.0, 50.0) == 1
    assert polls_to_see(offsets, 30.0, 95.0) == 3
    assert polls_to_see(offsets, 30.0, 96.0) == 4  # the first poll after the schedule, 30 s on
    assert polls_to_see((), 30.0, 61.0) == 3  # the fixed poller: 30, 60, 90


def test_completion_is_estimated_between_the_polls_on_either_side() -> None:
    assert completion_estimate(60.0, 90.0) == 75.0
    assert completion_estimate(0.0, 30.0) == 15.0  # the first poll saw it done: since submission
    assert completion_estimate(None, 90.0) == 90.0  # a row from before the column: all there is
    assert completion_estimate(95.0, 90.0) == 90.0  # nonsense order (a clock step): not trusted
