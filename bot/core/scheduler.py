"""When to poll next, how long a video should take, when to give up: pure functions of numbers.

Nothing here sleeps, reads a clock or touches the network, so every rule is testable in microseconds.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Never hammer the provider faster than this between two polls of one task, whatever the setting says
#: (the provider advises 30–60 s; tests set POLL_INTERVAL_SECONDS to a fraction of a second).
MAX_ERROR_BACKOFF_SECONDS = 15 * 60.0
MAX_DELIVERY_BACKOFF_SECONDS = 60 * 60.0
#: Fewer finished videos than this for a model and we fall back to the rule of thumb below.
MIN_HISTORY = 3


@dataclass(frozen=True, slots=True)
class PollPlan:
    base_interval: float  # POLL_INTERVAL_SECONDS
    task_timeout: float  # TASK_TIMEOUT_SECONDS
    jitter: float = 0.1  # ±10 % spreads tasks created together over time
    #: A task still `submitting` this long after its row was written belongs to a process that died during
    #: the create call: the call itself cannot last longer (see submit_grace).
    submit_grace: float = 120.0


#: Room beyond the create call's own timeout before a `submitting` row counts as abandoned.
SUBMIT_GRACE_MARGIN = 2.0


def submit_grace(create_timeout: float) -> float:
    """How long a create call can possibly be in flight: its total timeout, plus a margin."""
    return create_timeout + SUBMIT_GRACE_MARGIN


def next_poll_delay(plan: PollPlan, rng: random.Random | None = None) -> float:
    """Delay until the next routine poll of a task still queued or processing."""
    r = rng or random
    return plan.base_interval * (1 + r.uniform(-plan.jitter, plan.jitter))


def error_backoff(plan: PollPlan, error_streak: int, rng: random.Random | None = None) -> float:
    """Capped exponential backoff with "full jitter" after `error_streak` consecutive transient errors.

    Never shorter than half the routine interval, so an outage does not make us poll faster than usual.
    """
    r = rng or random
    ceiling = min(MAX_ERROR_BACKOFF_SECONDS, plan.base_interval * 2 ** min(error_streak, 16))
    return max(plan.base_interval / 2, r.uniform(ceiling / 2, ceiling))


def delivery_backoff(base_interval: float, attempts: int) -> float:
    """Delay before retrying a post that Discord refused for a passing reason (5xx, timeouts)."""
    return min(MAX_DELIVERY_BACKOFF_SECONDS, max(1.0, base_interval) * 2 ** min(attempts, 16))


def is_overdue(plan: PollPlan, submitted_at: float, now: float) -> bool:
    """True once a task has been with the provider longer than TASK_TIMEOUT_SECONDS: give up."""
    return now - submitted_at >= plan.task_timeout


_UNITS = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))


def plain_duration(seconds: float) -> str:
    """A span in words for a member: "45 seconds", "1 minute", "1 hour 30 minutes".

    At most the two largest units, each rounded DOWN, so a sentence like "did not finish within <this>"
    stays true: 45 s is never "1 minute" (nor "0 minutes"), 3 h 59 min 59 s is "3 hours 59 minutes".
    """
    left = max(0, int(seconds))
    parts: list[str] = []
    for name, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
        if len(parts) == 2:
            break
        if parts and count == 0:
            break  # "1 hour 5 seconds" would read as a typo: stop at the first gap
    return " ".join(parts) or "0 seconds"


def rule_of_thumb_seconds(duration: int, image_count: int) -> float:
    """A first guess at generation time before we have history: longer clips and more images take longer."""
    return 45.0 + 6.0 * duration + 10.0 * image_count


def estimate_seconds(duration: int, image_count: int, history: Sequence[float]) -> float:
    """Expected seconds from submission to completion, from this model's recent runs when we have them.

    `history` holds recent (generation seconds / billed seconds) ratios for the model, so a 30-second
    request is expected to take about three times a 10-second one.
    """
    if len(history) >= MIN_HISTORY:
        per_second = statistics.median(history)
        return max(5.0, per_second * duration * (1 + 0.1 * image_count))
    return rule_of_thumb_seconds(duration, image_count)


def progress_fraction(elapsed: float, estimate: float) -> float:
    """How far along the bar is: linear toward the estimate, then creeping toward (never reaching) 1."""
    if estimate <= 0:
        return 0.0
    ratio = elapsed / estimate
    if ratio <= 0.9:
        return max(0.0, ratio)
    # Past 90 %, approach 99 % asymptotically so a late video never shows a full bar before it is done.
    overshoot = ratio - 0.9
    return min(0.99, 0.9 + 0.09 * (1 - 1 / (1 + overshoot)))
