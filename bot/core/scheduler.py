"""When to poll next, how long a video should take, when to give up: pure functions of numbers.

Nothing here sleeps, reads a clock or touches the network, so every rule is testable in microseconds.
"""

from __future__ import annotations

import math
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


# ---- polls timed by what the bot has learned -----------------------------------------------------------
#
# A fixed interval polls as often early on (when almost nothing is finished) as near the typical completion
# time, so a finished video waits half an interval at the median. With enough history we place the same
# number of polls per task where completion is likely instead. How:
#
# * the model: a lognormal fitted to the logs of the completion times of this model (and this duration, or
#   scaled to it as the ETA does). Generation times are positive and right-skewed; a two-number fit is far
#   steadier on 20 samples than raw empirical quantiles, and the poll budget is also checked on the samples
#   themselves (below), so a provider that is not lognormal cannot make us poll more than the fixed poller;
# * the placement (hazard-based): spacing c / hazard(t), so every poll has about the same chance c of being
#   the one that sees the video done, given it was not done at the last. (The rule that minimises the MEAN
#   delay, c / sqrt(hazard), gave a less steady MEDIAN in bench/bench_poll_latency.py: up to 0.60 of the
#   fixed poller's over six seeds of 40 histories, against at most 0.57.) c is the smallest that keeps
#   the expected polls per task at most POLL_BUDGET_MARGIN × the fixed poller's, under the fit AND on the
#   history's own times;
# * the bounds: the provider advises polling each task every 30–60 s. We never wait longer than the upper
#   end, 2 × POLL_INTERVAL_SECONDS (60 s), between two polls, and never poll one task sooner than
#   POLL_INTERVAL_SECONDS / 6 (5 s) after the last. The advice is about load: averaged over a task's life
#   we poll no more than the fixed poller (same polls, bunched where they are useful). The floor bounds the
#   burst, at most 12 polls a minute for one task, even when a fit is too narrow (near-identical history);
#   it seldom binds in practice, as the gaps near a 90 s median come out around 10–15 s, which is where
#   the budget puts them, and a shorter floor would buy a few seconds at most. Once the fit says 99 % are
#   done the fixed interval takes over, stretched if need be so that a task never gets more polls over
#   TASK_TIMEOUT_SECONDS than the fixed poller would give it (poll_cap);
# * the fallback: fewer than MIN_LEARNED_HISTORY completed tasks → the fixed interval, as before.

#: Completed tasks of a model needed before its polls are placed by what was learned.
MIN_LEARNED_HISTORY = 20
POLL_FLOOR_FRACTION = 1 / 6  # of POLL_INTERVAL_SECONDS: 5 s at 30 s
POLL_CEILING_FACTOR = 2.0  # × POLL_INTERVAL_SECONDS: 60 s at 30 s, the provider's upper advice
#: Expected polls per task stay this far under the fixed poller's: a fit made on 20 samples misjudges the
#: polls by a few per cent either way. Over 200 histories of 20 in bench/bench_poll_latency.py (true times,
#: six seeds), 0.98 came out at 0.990–0.999 of the fixed poller's polls (too close), 0.97 at 0.978–0.987
#: with a median delay of 0.55–0.57 of its; learning from estimated times as the store holds them, 0.97
#: gives 0.966–0.989 of its polls and 0.56–0.58 of its median delay.
POLL_BUDGET_MARGIN = 0.97
#: The learned part of a schedule ends once the fit expects this share of tasks still unfinished.
TAIL_SURVIVAL = 0.01
_MIN_SIGMA = 0.05  # identical samples would make a zero-width fit
_STD = statistics.NormalDist()


def poll_floor(plan: PollPlan) -> float:
    return plan.base_interval * POLL_FLOOR_FRACTION


def poll_cap(plan: PollPlan) -> int:
    """The most polls the fixed poller gives a task over its whole life, and so the most we ever give."""
    return max(1, math.ceil(plan.task_timeout / plan.base_interval))


@dataclass(frozen=True, slots=True)
class LogNormal:
    mu: float  # mean of ln(seconds)
    sigma: float  # standard deviation of ln(seconds)

    @classmethod
    def fit(cls, samples: Sequence[float]) -> LogNormal:
        logs = [math.log(max(s, 1e-3)) for s in samples]
        return cls(statistics.fmean(logs), max(_MIN_SIGMA, statistics.stdev(logs)))

    def survival(self, t: float) -> float:
        return 1.0 if t <= 0 else 1.0 - _STD.cdf((math.log(t) - self.mu) / self.sigma)

    def hazard(self, t: float) -> float:
        if t <= 0:
            return 0.0
        z = (math.log(t) - self.mu) / self.sigma
        return _STD.pdf(z) / (t * self.sigma) / max(1e-12, 1.0 - _STD.cdf(z))


def completion_estimate(unfinished_at: float | None, finished_at: float) -> float:
    """When the provider most likely finished, in seconds after submission: halfway between the last poll
    that found the task unfinished and the first that found it done. The first alone is late by up to a
    whole poll interval (15 s at the median with 30 s polls), which would teach the schedule to poll late.
    Without the last (rows older than the column) the first is all there is."""
    if unfinished_at is None or not 0 <= unfinished_at <= finished_at:
        return finished_at
    return (unfinished_at + finished_at) / 2


def samples_for(history: Sequence[tuple[float, int]], billed_seconds: int) -> list[float]:
    """Completion times (seconds after submission) that describe a task of this length, from a model's
    history of (seconds, billed seconds): this length's own when there are enough, else every run scaled to
    this length (a 30-second clip takes about three 10-second ones, as for the ETA), else none."""
    same = [seconds for seconds, billed in history if billed == billed_seconds]
    if len(same) >= MIN_LEARNED_HISTORY:
        return same
    if len(history) < MIN_LEARNED_HISTORY:
        return []
    return [seconds * billed_seconds / billed for seconds, billed in history if billed > 0]


def tail_interval(plan: PollPlan, offsets: Sequence[float]) -> float:
    """The interval after the learned polls: the fixed one, stretched so that the total stays within
    poll_cap even when every jitter draw comes out short."""
    if not offsets:
        return plan.base_interval
    left = poll_cap(plan) - len(offsets)
    needed = (plan.task_timeout - offsets[-1]) / max(1, left) / (1 - plan.jitter)
    return max(plan.base_interval, needed)


def polls_to_see(offsets: Sequence[float], tail: float, done_at: float) -> int:
    """How many polls a task finishing `done_at` seconds after submission gets, the one that sees it included
    (the schedule's offsets, then every `tail` seconds; the fixed poller is `offsets=()`, `tail=interval`)."""
    for n, offset in enumerate(offsets, 1):
        if offset >= done_at:
            return n
    last = offsets[-1] if offsets else 0.0
    return len(offsets) + max(1, math.ceil((done_at - last) / tail))


def _expected_polls(fit: LogNormal, offsets: Sequence[float], tail: float, horizon: float) -> float:
    """Σ P(still unfinished at the previous poll): poll n happens exactly when poll n-1 saw nothing."""
    total, previous = 0.0, 0.0
    for offset in offsets:
        total += fit.survival(previous)
        previous = offset
    while previous < horizon and (left := fit.survival(previous)) > 1e-6:
        total += left
        previous += tail
    return total


def _placed(fit: LogNormal, plan: PollPlan, scale: float) -> tuple[float, ...]:
    floor, ceiling = poll_floor(plan), plan.base_interval * POLL_CEILING_FACTOR
    offsets: list[float] = []
    t = 0.0
    while fit.survival(t) > TAIL_SURVIVAL and t < plan.task_timeout and len(offsets) < poll_cap(plan) - 1:
        gap = ceiling if (h := fit.hazard(t)) <= 0 else scale / h
        t += min(ceiling, max(floor, gap))
        offsets.append(t)
    return tuple(offsets)


def learn_schedule(samples: Sequence[float], plan: PollPlan) -> tuple[float, ...]:
    """When to poll a task, in seconds after its submission, from completion times of tasks like it; `()`
    (poll at the fixed interval) without enough history. See the notes above for the design."""
    if len(samples) < MIN_LEARNED_HISTORY:
        return ()
    fit = LogNormal.fit(samples)
    base = plan.base_interval
    budget_fit = POLL_BUDGET_MARGIN * _expected_polls(fit, (), base, plan.task_timeout)
    budget_seen = POLL_BUDGET_MARGIN * statistics.fmean(polls_to_see((), base, s) for s in samples)

    def affordable(offsets: tuple[float, ...]) -> bool:
        tail = tail_interval(plan, offsets)
        seen = statistics.fmean(polls_to_see(offsets, tail, s) for s in samples)
        return seen <= budget_seen and _expected_polls(fit, offsets, tail, plan.task_timeout) <= budget_fit

    # Bisect on the scale: a larger one spreads the polls out (fewer, later). The widest ends at the ceiling
    # everywhere, which is never denser than the fixed poller; if even that does not fit, keep the fixed one.
    low, high = 0.0, plan.task_timeout
    if not affordable(_placed(fit, plan, high)):
        return ()
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if affordable(_placed(fit, plan, middle)) else (middle, high)
    return _placed(fit, plan, high)


def next_poll_time(
    plan: PollPlan,
    offsets: Sequence[float],
    submitted_at: float,
    now: float,
    rng: random.Random | None = None,
) -> float:
    """When to poll a task still queued or processing next: at the next learned offset (never sooner than
    the floor after now), or after the fixed interval without a learned schedule or past its end."""
    if not offsets:
        return now + next_poll_delay(plan, rng)
    elapsed = now - submitted_at
    for offset in offsets:
        if offset > elapsed:
            return submitted_at + max(offset, elapsed + poll_floor(plan))
    r = rng or random
    return now + tail_interval(plan, offsets) * (1 + r.uniform(-plan.jitter, plan.jitter))


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
