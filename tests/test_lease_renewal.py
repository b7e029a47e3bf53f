"""A process renews the leases of the work it has in hand (TASK_LEASE_SECONDS), so no other process takes a
task it is still working on, however long the work; when it dies, another takes the task within one lease.

Real store on a SQLite file shared by two connections (two "processes"), the real clock; the Discord side is
the poller's `Delivery` port, held so a delivery can outlast several leases.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.core.grok import GrokClient
from bot.core.poller import Poller, PollerConfig, lease_seconds
from bot.core.request import VideoRequest
from bot.core.scheduler import PollPlan
from bot.core.store import TO_DELIVER, NewTask, State, TaskStore
from tests.conftest import GROK_KEY
from tests.fakes.grok_api import FakeGrokAPI
from tests.test_poller_leases import SlowDelivery

LEASE = 0.6


def test_no_lease_is_longer_than_task_lease_seconds() -> None:
    plan = PollPlan(base_interval=30.0, task_timeout=3600.0, submit_grace=62.0)
    assert max(lease_seconds(plan, 300.0, 60.0).values()) == 60.0
    assert lease_seconds(plan, 300.0, 1000.0)[State.COMPLETED] == 305.0  # a cap only ever shortens


async def test_work_in_hand_keeps_its_lease_and_a_dead_holders_work_is_taken_within_one_lease(
    tmp_path: Path, grok_api: FakeGrokAPI
) -> None:
    path = tmp_path / "shared.sqlite3"
    mine, other = await TaskStore.open(path), await TaskStore.open(path)
    client = GrokClient(base_url=grok_api.base_url, api_key=GROK_KEY, total_timeout=5.0)
    delivery = SlowDelivery()
    plan = PollPlan(base_interval=0.05, task_timeout=3600.0, submit_grace=2.0)
    poller = Poller(mine, client, delivery, PollerConfig(plan, tmp_path, 1 << 20, task_lease=LEASE))
    other_leases = dict.fromkeys(TO_DELIVER, LEASE)
    try:
        task = await mine.create_task(NewTask(
            source="slash", guild_id=1, channel_id=2, requester_id=3,
            request=VideoRequest("grok_video3", "a fox", 10, "16:9", "720p"), billed_seconds=10,
        ))  # fmt: skip
        await mine.transition(task.id, State.SUBMITTING, State.DOWNLOADED, next_poll_at=time.time())
        poller.start()
        deadline = time.monotonic() + 5
        while not delivery.started:
            assert time.monotonic() < deadline, "the poller never took the task"
            await asyncio.sleep(0.01)

        # Four leases long, the other process looks for due work: the holder's renewals keep it out, and
        # keep a third of a lease in hand at every moment (the lease is renewed, never left to run out and
        # then raced for).
        stolen, margins = 0, []
        until = time.monotonic() + 4 * LEASE
        while time.monotonic() < until:
            stolen += len(await other.claim_due([(1, other_leases)]))
            held = await other.get(task.id)
            assert held is not None and held.next_poll_at is not None
            margins.append(held.next_poll_at - time.time())
            await asyncio.sleep(0.02)
        assert stolen == 0, "another process took a task whose holder was still working on it"
        assert min(margins) > LEASE / 6, f"the lease came within {min(margins):.3f} s of running out"
        assert delivery.started == [task.id]

        # The holder dies (no clean stop, nothing handed back): its loop and its renewals simply end.
        for job in (poller._loop_task, poller._renewer):
            assert job is not None
            job.cancel()
        died = time.monotonic()
        taken = []
        while not taken:
            assert time.monotonic() - died < LEASE + 1.0, "not taken within one lease of the holder dying"
            taken = await other.claim_due([(1, other_leases)])
            await asyncio.sleep(0.02)
        assert [t.id for t in taken] == [task.id]
    finally:
        delivery.release.set()
        await poller.stop()
        await client.close()
        await mine.close()
        await other.close()
