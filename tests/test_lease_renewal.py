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
from bot.core.store import TO_DELIVER, NewTask, State, Task, TaskStore
from tests.conftest import GROK_KEY
from tests.fakes.grok_api import FakeGrokAPI
from tests.test_poller_leases import SlowDelivery

LEASE = 0.6


async def due_task(store: TaskStore, state: State) -> Task:
    """A task in `state`, due now."""
    task = await store.create_task(NewTask(
        source="slash", guild_id=1, channel_id=2, requester_id=3,
        request=VideoRequest("grok_video3", "a fox", 10, "16:9", "720p"), billed_seconds=10,
    ))  # fmt: skip
    moved = await store.transition(task.id, State.SUBMITTING, state, next_poll_at=time.time())
    assert moved is not None
    return moved


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
        task = await due_task(mine, State.DOWNLOADED)
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


class ParkingDelivery(SlowDelivery):
    """Parks the task (no next time: nothing to do until someone acts), as a delivery that gave up for now
    does, then keeps working: the renewal must not make it due again."""

    def __init__(self, store: TaskStore) -> None:
        super().__init__()
        self._store = store

    async def deliver(self, task: Task) -> None:
        await self._store.transition(task.id, task.state, next_poll_at=None)
        await super().deliver(task)


async def test_a_workers_own_next_time_is_never_overwritten_by_a_renewal(
    tmp_path: Path, grok_api: FakeGrokAPI
) -> None:
    store = await TaskStore.open(tmp_path / "own.sqlite3")
    client = GrokClient(base_url=grok_api.base_url, api_key=GROK_KEY, total_timeout=5.0)
    delivery = ParkingDelivery(store)
    plan = PollPlan(base_interval=0.05, task_timeout=3600.0, submit_grace=2.0)
    poller = Poller(store, client, delivery, PollerConfig(plan, tmp_path, 1 << 20, task_lease=LEASE))
    try:
        task = await due_task(store, State.DOWNLOADED)
        poller.start()
        await asyncio.wait_for(_started(delivery), 5)
        await asyncio.sleep(3 * LEASE)  # several renewal rounds
        parked = await store.get(task.id)
        assert parked is not None and parked.next_poll_at is None, "a renewal made a parked task due again"
    finally:
        delivery.release.set()
        await poller.stop()
        await client.close()
        await store.close()


async def test_a_create_still_in_flight_stays_leased_past_its_send_by(
    tmp_path: Path, grok_api: FakeGrokAPI
) -> None:
    """A request sent from the line whose create call outlasts send_by (a slow provider, a long wait in the
    budget): another process must not take the `submitting` row and report the video lost while the create
    may still succeed."""
    path = tmp_path / "line.sqlite3"
    mine, other = await TaskStore.open(path), await TaskStore.open(path)
    client = GrokClient(base_url=grok_api.base_url, api_key=GROK_KEY, total_timeout=5.0)
    in_flight = asyncio.Event()
    answered = asyncio.Event()

    async def slow_create(task: Task) -> Task:
        in_flight.set()
        await answered.wait()
        return task

    grace = 0.6
    plan = PollPlan(base_interval=0.05, task_timeout=3600.0, submit_grace=grace)
    poller = Poller(
        mine,
        client,
        SlowDelivery(),
        PollerConfig(plan, tmp_path, 1 << 20, task_lease=LEASE),
        send=slow_create,
    )
    try:
        task = await due_task(mine, State.WAITING)
        poller.start()
        await asyncio.wait_for(in_flight.wait(), 5)
        stolen, margins = 0, []
        until = time.monotonic() + 4 * grace
        while time.monotonic() < until:
            stolen += len(await other.claim_due([(1, {State.SUBMITTING: grace})]))
            held = await other.get(task.id)
            assert held is not None and held.state is State.SUBMITTING and held.next_poll_at is not None
            margins.append(held.next_poll_at - time.time())
            await asyncio.sleep(0.02)
        assert stolen == 0, "another process took a request whose create was still in flight"
        # Renewed before it runs out, never left to be raced for at its end.
        assert min(margins) > grace / 6, f"the lease came within {min(margins):.3f} s of running out"
    finally:
        answered.set()
        await poller.stop()
        await client.close()
        await mine.close()
        await other.close()


async def _started(delivery: SlowDelivery) -> None:
    while not delivery.started:  # noqa: ASYNC110 (the stand-in records; it does not signal)
        await asyncio.sleep(0.01)
