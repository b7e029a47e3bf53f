"""A lease that runs out under slow work never lets a second worker of the same process start on the task.

Real TaskStore of each kind (tests/test_store.py's `database`) with an injected clock; the Discord side is the poller's `Delivery` port, held
here so a delivery can be made to outlast its lease.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.grok import GrokClient
from bot.core.poller import DELIVERY_LEASE_SECONDS, Poller, PollerConfig
from bot.core.request import VideoRequest
from bot.core.scheduler import PollPlan
from bot.core.store import NewTask, State, Task
from tests.conftest import GROK_KEY
from tests.fakes.grok_api import FakeGrokAPI
from tests.test_store import Database, database

__all__ = ["database"]  # the fixture, shared with tests/test_store.py


class SlowDelivery:
    """Posts nothing until released: a shrink plus an upload plus a DM fallback can take this long."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.release = asyncio.Event()

    async def deliver(self, task: Task) -> None:
        self.started.append(task.id)
        await self.release.wait()

    async def show_progress(self, task: Task) -> None:
        return None


async def test_a_delivery_that_outlasts_its_lease_is_not_started_twice(
    tmp_path: Path, grok_api: FakeGrokAPI, database: Database
) -> None:
    now = [1_000_000.0]
    store = await database.open(clock=lambda: now[0])
    client = GrokClient(base_url=grok_api.base_url, api_key=GROK_KEY, total_timeout=5.0)
    delivery = SlowDelivery()
    plan = PollPlan(base_interval=30.0, task_timeout=3600.0, submit_grace=12.0)
    poller = Poller(
        store,
        client,
        delivery,
        PollerConfig(plan, tmp_path, 1 << 20, post_concurrency=4),
        clock=lambda: now[0],
    )
    try:
        task = await store.create_task(NewTask(
            source="slash", guild_id=1, channel_id=2, requester_id=3,
            request=VideoRequest("grok_video3", "a fox", 10, "16:9", "720p"), billed_seconds=10,
        ))  # fmt: skip
        await store.transition(task.id, State.SUBMITTING, State.DOWNLOADED, next_poll_at=now[0])
        assert await poller.tick() == 1
        await asyncio.sleep(0)  # the worker starts and blocks in deliver()
        assert delivery.started == [task.id]

        now[0] += DELIVERY_LEASE_SECONDS + 1  # the lease ran out; the first delivery is still going
        assert await poller.tick() == 0, "claimed again (its lease renewed), but no second worker"
        await asyncio.sleep(0)
        assert delivery.started == [task.id]
        # The lease renewal goes on from the lease this claim wrote (compare and set needs the new value).
        reclaimed = await store.get(task.id)
        assert reclaimed is not None and poller._leased[task.id][1] == reclaimed.next_poll_at

        delivery.release.set()
        for _ in range(5):
            await asyncio.sleep(0)
        now[0] += DELIVERY_LEASE_SECONDS + 1
        assert await poller.tick() == 1, "once the first worker is done, the task can be taken again"
    finally:
        delivery.release.set()
        await poller.stop()
        await client.close()
        await store.close()
