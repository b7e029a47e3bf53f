"""How soon the bot notices a finished video: learned poll times vs the fixed 30 s poller vs an oracle.

    .venv/bin/python -m bench.bench_poll_latency [--trials 200 --tasks 250 --history 20]

Completion times are drawn from a lognormal (median 90 s, sigma 0.4 by default). Each trial gives the bot
`--history` completed tasks to learn from (bot.core.scheduler.learn_schedule, as the poller does from the
store), as the store would hold them after the fixed poller watched them: not the true completion times but
the estimate from the polls on either side (bot.core.scheduler.completion_estimate). It then draws
`--tasks` new completion times and polls each task four ways on the SAME times, with the bot's real
next_poll_time and an injected clock (no sleeping, no network). Every trial draws a new
history, so the figures are what to expect from any 20 tasks of history, not from one lucky draw.
The whole bot is not run here: its poller calls the same next_poll_time (tests/test_e2e_poll_timing.py).

* fixed  : no schedule, i.e. POLL_INTERVAL_SECONDS with its ±10 % jitter (the poller before learning);
* learned: the schedule learned from this trial's history;
* oracle : the bot's own placement given the TRUE distribution instead of 20 samples: what learning
           from little history costs;
* median-only: the schedule "first poll at t1, then every s seconds up to the 99th percentile, then the
           fixed interval" with the least median delay on the TRUE distribution (grid search), at no more
           expected polls than the fixed poller. It wins the median by not polling at all before t1, so
           early finishers wait long (see its p90): a bound on the median, not a schedule to use.

Prints the median and 90th percentile of the delay from "the provider finished" to "the bot polled and saw
it", the polls per task, and the ratios to the fixed poller measured in the same run.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.scheduler import (
    PollPlan,
    completion_estimate,
    learn_schedule,
    next_poll_time,
    polls_to_see,
    samples_for,
)

BILLED_SECONDS = 10  # every simulated task asks for the same length; the history is of that length


@dataclass
class Tally:
    delays: list[float]
    polls: list[int]

    def median(self) -> float:
        return statistics.median(self.delays)

    def p90(self) -> float:
        return statistics.quantiles(self.delays, n=10)[-1]

    def polls_per_task(self) -> float:
        return statistics.fmean(self.polls)


def watch(
    plan: PollPlan, offsets: Sequence[float], done_at: float, rng: random.Random
) -> tuple[float, float, int]:
    """Poll one task submitted at 0 the way the poller does until a poll sees it done: (when the last poll
    found it unfinished, when the first found it done, how many polls)."""
    unfinished_at, polled_at = 0.0, next_poll_time(plan, offsets, 0.0, 0.0, rng)  # the pipeline's first
    polls = 1
    while polled_at < done_at:
        unfinished_at, polled_at = polled_at, next_poll_time(plan, offsets, 0.0, polled_at, rng)
        polls += 1
    return unfinished_at, polled_at, polls


def remembered(plan: PollPlan, done_at: float, rng: random.Random) -> tuple[float, int]:
    """What the store holds about a task the fixed poller watched: its estimated completion, its length."""
    unfinished_at, seen_at, _ = watch(plan, (), done_at, rng)
    return completion_estimate(unfinished_at, seen_at), BILLED_SECONDS


def true_times(median: float, sigma: float, grid: int = 400) -> list[float]:
    """The distribution itself, as `grid` equally likely completion times."""
    dist = statistics.NormalDist(math.log(median), sigma)
    return [math.exp(dist.inv_cdf((i + 0.5) / grid)) for i in range(grid)]


def median_only(plan: PollPlan, times: Sequence[float]) -> tuple[float, ...]:
    """The "t1, then every s" schedule with the least median delay on `times` at equal polls (grid search)."""
    dist_end = statistics.quantiles(times, n=100)[-1]
    budget = statistics.fmean(polls_to_see((), plan.base_interval, t) for t in times)
    end = dist_end
    best: tuple[float, tuple[float, ...]] = (math.inf, ())
    for first in range(10, int(end), 2):
        for step in range(5, int(plan.base_interval) + 1):
            offsets = tuple(float(t) for t in range(first, int(end) + step, step))
            polls, delays = [], []
            for t in times:
                n = polls_to_see(offsets, plan.base_interval, t)
                polls.append(n)
                delays.append((offsets[n - 1] if n <= len(offsets) else math.inf) - t)
            if statistics.fmean(polls) <= budget and (score := statistics.median(delays)) < best[0]:
                best = (score, offsets)
    return best[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=250, help="new tasks per trial")
    parser.add_argument("--history", type=int, default=20, help="completed tasks the bot learns from")
    parser.add_argument("--median", type=float, default=90.0)
    parser.add_argument("--sigma", type=float, default=0.4)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    plan = PollPlan(base_interval=args.interval, task_timeout=3600.0)
    rng = random.Random(args.seed)
    draw = lambda: args.median * math.exp(rng.gauss(0.0, args.sigma))  # noqa: E731
    truth = true_times(args.median, args.sigma)
    oracle = learn_schedule(truth, plan)
    bound = median_only(plan, truth)
    tallies = {name: Tally([], []) for name in ("fixed", "learned", "oracle", "median-only")}
    for _ in range(args.trials):
        history = [remembered(plan, draw(), rng) for _ in range(args.history)]
        learned = learn_schedule(samples_for(history, BILLED_SECONDS), plan)
        for _ in range(args.tasks):
            done_at = draw()
            schedules = (("fixed", ()), ("learned", learned), ("oracle", oracle), ("median-only", bound))
            for name, offsets in schedules:
                _, seen_at, polls = watch(plan, offsets, done_at, rng)
                tallies[name].delays.append(seen_at - done_at)
                tallies[name].polls.append(polls)
    base = tallies["fixed"]
    print(
        f"completion times: lognormal, median {args.median:g} s, sigma {args.sigma:g}; "
        f"{args.trials} trials x {args.tasks} tasks, learned from {args.history} completed tasks each"
    )
    print(f"{'':11} {'median delay':>13} {'p90 delay':>10} {'polls/task':>11} {'median ratio':>13}")
    for name, tally in tallies.items():
        print(
            f"{name:11} {tally.median():11.1f} s {tally.p90():8.1f} s {tally.polls_per_task():11.2f} "
            f"{tally.median() / base.median():13.2f}"
        )
    learned_tally = tallies["learned"]
    ratio = learned_tally.median() / base.median()
    polls_ratio = learned_tally.polls_per_task() / base.polls_per_task()
    oracle_ratio = tallies["oracle"].median() / base.median()
    print(
        f"learned / fixed: median delay {ratio:.2f} (oracle {oracle_ratio:.2f}), "
        f"polls per task {polls_ratio:.3f} (goal: <= 0.60, <= 1.00)"
    )


if __name__ == "__main__":
    main()
