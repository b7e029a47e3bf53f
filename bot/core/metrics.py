"""What the bot counts for Prometheus, and the facts /healthz judges (bot/discord/health.py serves both).

Two kinds of numbers:

- **Events**, counted where they happen, in `EVENTS`: a registry of this module (never prometheus-client's
  global one), so nothing else that imports prometheus-client mixes in. Provider requests and their latency,
  how late the poller claimed due tasks, interaction acknowledgements, Discord post failures, requests
  waiting in the request budget. The call sites are one line each (`metrics.X.…`).
- **State**, read when scraped (`BotCollector`): tasks by state, videos created and delivered (by model and
  outcome), the estimated spend by model, all from ONE `GROUP BY` over the tasks table, so they are true
  across restarts; and the request budget's pause. Each bot has its own registry (`bot_registry`) holding
  its collector and `EVENTS`, so several bots in one test process never collide.

Labels carry only our own words (endpoints, HTTP status numbers, model ids from the catalogue, states,
outcomes): never a URL, a token or a provider message, so no secret can reach a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.core.models import ModelSpec
from bot.core.policy import cost
from bot.core.store import State, TaskStore

__all__ = [
    "ACK_LATENCY",
    "AUTH_STATUSES",
    "BUDGET_WAITERS",
    "DISCORD_POST_FAILURES",
    "EVENTS",
    "POLLER_LAG",
    "PROVIDER_LATENCY",
    "PROVIDER_REQUESTS",
    "STALL_SLACK_SECONDS",
    "BotCollector",
    "Heartbeat",
    "ProviderHealth",
    "Snapshot",
    "bot_registry",
    "poller_lag",
    "provider_request",
]

EVENTS: Final = CollectorRegistry()

_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Discord wants an answer within 3 s: the buckets are dense below that.
_ACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)

PROVIDER_REQUESTS: Final = Counter(
    "grokbot_provider_requests",
    "Requests to the video provider, by endpoint (create, result) and HTTP status (or timeout, connection)",
    ["endpoint", "status"],
    registry=EVENTS,
)
PROVIDER_LATENCY: Final = Histogram(
    "grokbot_provider_request_seconds",
    "Time from sending a provider request to its whole answer (the wait in the request budget excluded)",
    ["endpoint"],
    buckets=_SECONDS_BUCKETS,
    registry=EVENTS,
)
POLLER_LAG: Final = Histogram(
    "grokbot_poller_lag_seconds",
    "How late each poller tick claimed the most overdue task, against its next_poll_at",
    buckets=_SECONDS_BUCKETS,
    registry=EVENTS,
)
ACK_LATENCY: Final = Histogram(
    "grokbot_interaction_ack_seconds",
    "From an interaction's creation (its snowflake time) to Discord's answer to the bot's acknowledgement",
    buckets=_ACK_BUCKETS,
    registry=EVENTS,
)
DISCORD_POST_FAILURES: Final = Counter(
    "grokbot_discord_post_failures",
    "Outcome posts (video, link, failure notice) Discord refused or that failed to reach it",
    registry=EVENTS,
)
BUDGET_WAITERS: Final = Gauge(
    "grokbot_request_budget_waiters",
    "Provider requests waiting for their turn in the request budget (PROVIDER_MAX_RPS)",
    registry=EVENTS,
)


# ---- one-line hooks -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ProviderHealth:
    """The last answer one GrokClient got: /healthz reports a refused key (HTTP 401/403)."""

    last_status: int | None = None


#: The provider's answers that mean the API key was refused (grok_errors.classify: AuthenticationError).
AUTH_STATUSES: Final = frozenset({401, 403})


def provider_request(
    endpoint: str, outcome: int | BaseException, seconds: float, answers: ProviderHealth
) -> None:
    """One provider request ended: `outcome` is its HTTP status, or the error that ended it unanswered (which
    says nothing about the key: `answers` keeps the last status)."""
    status = str(outcome) if isinstance(outcome, int) else _failure_label(outcome)
    PROVIDER_REQUESTS.labels(endpoint=endpoint, status=status).inc()
    PROVIDER_LATENCY.labels(endpoint=endpoint).observe(max(0.0, seconds))
    if isinstance(outcome, int):
        answers.last_status = outcome


def _failure_label(error: BaseException) -> str:
    return "timeout" if "Timeout" in type(error).__name__ else "connection"


def poller_lag(heartbeat: Heartbeat, claimed_at: float, claimed: Sequence[object]) -> None:
    """A tick claimed tasks at `claimed_at`: the most overdue of them was due at the earliest next_poll_at the
    loop knew of when it went to sleep (claim_due takes the most overdue first, and its RETURNING rows
    already hold the lease's end, not the due time). Each such due time is counted once."""
    due = heartbeat.due_at
    if claimed and due is not None and due <= claimed_at:
        POLLER_LAG.observe(claimed_at - due)
        heartbeat.due_at = None


# ---- the poller's heartbeat ---------------------------------------------------------------------------

#: Beyond the planned wait, a loop iteration may take this long (a claim waiting on a locked database:
#: busy_timeout is 5 s) before the loop counts as stalled.
STALL_SLACK_SECONDS: Final = 10.0


@dataclass(slots=True)
class Heartbeat:
    """The poller's loop beats once per iteration, saying how long it means to sleep. It is stalled when the
    next beat is overdue by more than that sleep again (and STALL_SLACK_SECONDS): the loop sleeps at most
    IDLE_WAKE_SECONDS (30 s) when idle, so an idle poller is stalled after 60 s without a beat, a busy one
    after 10 s."""

    clock: Callable[[], float] = time.monotonic
    at: float | None = None
    wait: float = 0.0
    #: The earliest next_poll_at (wall clock) the loop knew of when it last went to sleep: for POLLER_LAG.
    due_at: float | None = None

    def beat(self, wait: float) -> None:
        self.at, self.wait = self.clock(), max(0.0, wait)

    def stalled(self) -> str | None:
        """None while the loop keeps its own schedule; otherwise why not, in words."""
        if self.at is None:
            return "the poller has not started"
        silent = self.clock() - self.at
        allowed = max(2 * self.wait, self.wait + STALL_SLACK_SECONDS)
        if silent > allowed:
            return f"the poller loop last ran {silent:.0f} s ago (planned to wake after {self.wait:.1f} s)"
        return None


# ---- state, read at scrape time -----------------------------------------------------------------------


@dataclass(slots=True)
class Snapshot:
    """One scrape's reading of the store (filled by `BotCollector.refresh`)."""

    by_state: dict[str, int] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)  # model → accepted by the provider
    delivered: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, outcome) → count
    billed: dict[str, tuple[int, int]] = field(default_factory=dict)  # model → (videos, seconds)
    paused_for: float = 0.0


def _read(rows: Iterable[tuple[str, str, str, int, int, int]], paused_for: float) -> Snapshot:
    snap = Snapshot(by_state=dict.fromkeys((s.value for s in State), 0), paused_for=paused_for)
    for state, outcome, model, accepted, count, seconds in rows:
        snap.by_state[state] = snap.by_state.get(state, 0) + count
        if accepted:
            snap.created[model] = snap.created.get(model, 0) + count
            videos, total = snap.billed.get(model, (0, 0))
            snap.billed[model] = (videos + count, total + seconds)
        if state == State.DELIVERED:
            key = (model, outcome or "unknown")
            snap.delivered[key] = snap.delivered.get(key, 0) + count
    return snap


class BotCollector(Collector):
    """The bot's state as metrics. `refresh()` (async: one query) runs before each `collect()`."""

    def __init__(
        self,
        store: TaskStore,
        models: Mapping[str, ModelSpec],
        prices: Mapping[str, float],
        currency: str,
        paused_for: Callable[[], float],
    ) -> None:
        self._store = store
        self._models = models
        self._prices = prices
        self._currency = currency
        self._paused_for = paused_for
        self._snap = Snapshot()

    async def refresh(self) -> None:
        self._snap = _read(await self._store.state_counts(), self._paused_for())

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        snap = self._snap
        tasks = GaugeMetricFamily("grokbot_tasks", "Tasks in the store, by state", labels=["state"])
        for state, count in sorted(snap.by_state.items()):
            tasks.add_metric([state], count)
        created = CounterMetricFamily(
            "grokbot_videos_created", "Videos the provider accepted (and bills), by model", labels=["model"]
        )
        for model, count in sorted(snap.created.items()):
            created.add_metric([model], count)
        delivered = CounterMetricFamily(
            "grokbot_videos_delivered",
            "Outcomes posted in Discord, by model and outcome (video, link, failed, expired, lost)",
            labels=["model", "outcome"],
        )
        for (model, outcome), count in sorted(snap.delivered.items()):
            delivered.add_metric([model, outcome], count)
        yield from (tasks, created, delivered, self._spend(snap))
        yield GaugeMetricFamily(
            "grokbot_request_budget_paused_seconds",
            "Seconds until the provider-wide pause after a 429 ends (0: not paused)",
            value=snap.paused_for,
        )

    def _spend(self, snap: Snapshot) -> GaugeMetricFamily:
        spend = GaugeMetricFamily(
            "grokbot_estimated_spend",
            "Estimated spend on accepted videos, by model, from PRICES (models without a price are left out)",
            labels=["model", "currency"],
        )
        for model, (videos, seconds) in sorted(snap.billed.items()):
            spec = self._models.get(model)
            amount = cost(self._prices, model, spec.billing if spec else "per_second", videos, seconds)
            if amount is not None:
                spend.add_metric([model, self._currency], amount)
        return spend


def bot_registry(collector: BotCollector) -> CollectorRegistry:
    """One bot's /metrics: its own state and the process's events."""
    registry = CollectorRegistry()
    registry.register(collector)
    registry.register(EVENTS)
    return registry
