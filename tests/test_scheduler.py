"""Pure scheduler maths."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.scheduler import (
    MAX_ERROR_BACKOFF_SECONDS,
    PollPlan,
    error_backoff,
    estimate_seconds,
    is_overdue,
    next_poll_delay,
    plain_duration,
    progress_fraction,
    rule_of_thumb_seconds,
)

PLAN = PollPlan(base_interval=30.0, task_timeout=3600.0)


def test_routine_poll_is_the_interval_with_small_jitter() -> None:
    rng = random.Random(1)
    delays = [next_poll_delay(PLAN, rng) for _ in range(200)]
    assert all(27.0 <= d <= 33.0 for d in delays)
    assert len({round(d, 3) for d in delays}) > 100  # actually jittered


@given(st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=2**32))
def test_error_backoff_grows_and_is_capped(streak: int, seed: int) -> None:
    delay = error_backoff(PLAN, streak, random.Random(seed))
    assert PLAN.base_interval / 2 <= delay <= MAX_ERROR_BACKOFF_SECONDS
    ceiling = min(MAX_ERROR_BACKOFF_SECONDS, PLAN.base_interval * 2 ** min(streak, 16))
    assert delay >= ceiling / 2 or delay == PLAN.base_interval / 2


def test_overdue() -> None:
    assert not is_overdue(PLAN, submitted_at=1000.0, now=4599.0)
    assert is_overdue(PLAN, submitted_at=1000.0, now=4600.0)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (45, "45 seconds"),
        (59.9, "59 seconds"),  # rounded down: "did not finish within 1 minute" would be false
        (60, "1 minute"),
        (61, "1 minute 1 second"),
        (90, "1 minute 30 seconds"),
        (3600, "1 hour"),
        (3605, "1 hour"),  # no "1 hour 5 seconds" across the empty minutes
        (5400, "1 hour 30 minutes"),
        (3 * 3600 + 59 * 60 + 59, "3 hours 59 minutes"),
        (86400, "1 day"),
        (7 * 86400, "7 days"),
        (0, "0 seconds"),
    ],
)
def test_plain_duration(seconds: float, words: str) -> None:
    assert plain_duration(seconds) == words


_SECONDS_PER = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}


@given(st.floats(min_value=1, max_value=7 * 86400))
def test_plain_duration_is_never_more_than_the_span_and_close_to_it(seconds: float) -> None:
    words = plain_duration(seconds).split()
    said = sum(
        int(n) * _SECONDS_PER[unit.removesuffix("s")] for n, unit in zip(words[::2], words[1::2], strict=True)
    )
    assert 1 <= said <= seconds
    assert seconds - said < max(1.0, said / 24)  # off by less than one of the smaller unit shown


def test_estimate_uses_history_when_there_is_enough() -> None:
    assert estimate_seconds(10, 0, []) == rule_of_thumb_seconds(10, 0)
    assert estimate_seconds(10, 0, [6.0, 6.0]) == rule_of_thumb_seconds(10, 0)
    assert estimate_seconds(10, 0, [5.0, 6.0, 100.0]) == 60.0  # median, not mean
    assert estimate_seconds(30, 0, [5.0, 6.0, 7.0]) == 180.0
    assert rule_of_thumb_seconds(30, 5) > rule_of_thumb_seconds(10, 0)


@given(st.floats(min_value=0, max_value=1e6), st.floats(min_value=1, max_value=1e4))
def test_progress_never_reaches_full_before_done(elapsed: float, estimate: float) -> None:
    f = progress_fraction(elapsed, estimate)
    assert 0.0 <= f <= 0.99
    assert progress_fraction(elapsed + 10, estimate) >= f
