"""End to end: a bot whose store remembers how long the provider takes polls a new task where such tasks
finish, not at the fixed interval. Real bot, loopback stand-ins, a scaled-down time base (the interval is
half a second instead of 30)."""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path

import pytest

from bot.core.request import VideoRequest
from bot.core.scheduler import PollPlan, learn_schedule, samples_for
from bot.core.store import NewTask, State, TaskStore
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import wait_result

INTERVAL = 0.5  # POLL_INTERVAL_SECONDS: the fixed poller would look at 0.45–0.55 s
MEDIAN = 2.0  # how long this model's 10-second videos took, in the history


async def remember_finished_tasks(path: Path, times: list[float]) -> list[tuple[float, int]]:
    """Completed, delivered grok_video3 tasks of 10 s, as an earlier life of the bot left them."""
    store = await TaskStore.open(path)
    request = VideoRequest("grok_video3", "an earlier video", 10, "16:9", "720p")
    for n, took in enumerate(times):
        task = await store.create_task(NewTask("slash", 1, 2, 3, request, billed_seconds=10))
        submitted = 1_000_000.0 + 1000 * n
        await store.transition(
            task.id, State.SUBMITTING, State.DELIVERED, api_id=f"video_old_{n}", submitted_at=submitted,
            finished_at=submitted + took, video_url="https://example.invalid/v.mp4", next_poll_at=None,
        )  # fmt: skip
    history = await store.completion_times("grok_video3", 200)
    await store.close()
    return history


async def test_with_history_the_first_polls_fall_where_tasks_finish(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    rng = random.Random(11)
    times = [MEDIAN * math.exp(rng.gauss(0.0, 0.3)) for _ in range(20)]
    history = await remember_finished_tasks(Path(bot_env["DATABASE_PATH"]), times)
    assert sorted(s for s, _ in history) == pytest.approx(sorted(times))
    plan = PollPlan(base_interval=INTERVAL, task_timeout=3600.0)
    learned = learn_schedule(samples_for(history, 10), plan)
    assert learned and learned[0] >= 1.5 * INTERVAL  # what the bot should do, from the real functions

    grok_api.script_next(TaskScript(processing_after=0.0, complete_after=MEDIAN))
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(INTERVAL))
    handle = await emu.slash_command("video", {"prompt": "a heron lifting off a river"})
    await handle.wait_text("queued")
    [task_id] = grok_api.tasks
    created_at = grok_api.tasks[task_id].created_at
    row = await bot.store.get(len(times) + 1)
    assert row is not None and row.api_id == task_id and row.submitted_at is not None
    if row.poll_attempts == 0:  # not polled yet: its first poll is the learned one, not the interval
        assert row.next_poll_at == pytest.approx(row.submitted_at + learned[0])

    await wait_result(emu, emu.channel, timeout=15)
    polled = [r.time - created_at for r in grok_api.result_calls(task_id)]
    # Nothing at the fixed interval: the first look is the learned one, then they bunch near the median.
    assert polled[0] >= learned[0] - 0.05, polled
    assert len([t for t in polled if t < MEDIAN]) <= len([o for o in learned if o < MEDIAN]), polled
    done = await bot.store.get(row.id)
    assert done is not None and done.finished_at is not None and done.submitted_at is not None
    # What it teaches the next schedule: the provider finished (MEDIAN after the create) between the last
    # poll that found it unfinished and the first that found it done.
    assert done.polled_at is not None
    unfinished, finished = done.polled_at - done.submitted_at, done.finished_at - done.submitted_at
    assert unfinished < MEDIAN + 0.05  # (the two clocks differ by the create call's return trip)
    assert finished > MEDIAN - 0.05
    [(learned_from_it, _)] = await bot.store.completion_times("grok_video3", 1)
    assert learned_from_it == pytest.approx((unfinished + finished) / 2)
    gaps_near_median = [b - a for a, b in itertools.pairwise(learned) if MEDIAN * 0.9 <= a <= MEDIAN * 1.3]
    assert gaps_near_median and max(gaps_near_median) < INTERVAL  # denser than the fixed poller there
