"""When to poll each task, from what the store's history says about tasks like it (see scheduler.py).

The history is read per model at most once per LEARN_CACHE_SECONDS, and each model-and-length's schedule is
worked out once per reading, so no poll costs a query. It lives in the store, so it survives restarts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from bot.core.scheduler import PollPlan, learn_schedule, next_poll_time, samples_for
from bot.core.store import Task, TaskStore

#: How long a model's history is trusted before it is read again (a few more finished tasks change little).
LEARN_CACHE_SECONDS = 300.0
#: The most recent completed tasks of a model that the schedule is learned from.
HISTORY_LIMIT = 200


class PollTimer:
    def __init__(
        self,
        store: TaskStore,
        plan: PollPlan,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._plan = plan
        self._clock = clock
        self._rng = rng
        self._history: dict[str, tuple[float, list[tuple[float, int]]]] = {}
        self._schedules: dict[tuple[str, int], tuple[float, ...]] = {}

    async def schedule(self, model: str, billed_seconds: int) -> tuple[float, ...]:
        """Learned poll offsets (seconds after submission) for such a task; `()`: the fixed interval."""
        cached = self._history.get(model)
        if cached is None or self._clock() - cached[0] > LEARN_CACHE_SECONDS:
            cached = (self._clock(), await self._store.completion_times(model, HISTORY_LIMIT))
            self._history[model] = cached
            self._schedules = {key: value for key, value in self._schedules.items() if key[0] != model}
        key = (model, billed_seconds)
        if key not in self._schedules:
            self._schedules[key] = learn_schedule(samples_for(cached[1], billed_seconds), self._plan)
        return self._schedules[key]

    async def next_poll_at(self, task: Task, now: float) -> float:
        """When to poll this queued or processing task next."""
        offsets = await self.schedule(task.request.model, task.billed_seconds)
        return next_poll_time(self._plan, offsets, task.submitted_at or now, now, self._rng)
