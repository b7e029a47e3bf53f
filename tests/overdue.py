"""Overdue tasks waiting in the store before the bot starts (what a restart after downtime looks like), and
the arithmetic of request rates. Shared by tests/test_e2e_budget.py and bench/bench_catchup.py."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Sequence
from pathlib import Path

from bot.core.catalogue import Catalogue
from bot.core.grok import GrokClient
from bot.core.request import VideoRequest
from bot.core.store import NewTask, State, TaskStore
from tests.fakes.grok_api import FakeGrokAPI

REQUEST = VideoRequest("grok_video3", "catching up", 6, "16:9", "480p")


async def seed_overdue(
    db_path: Path, api: FakeGrokAPI, count: int, *, guild_id: int, channel_id: int, requester_id: int
) -> list[str]:
    """`count` tasks created at the stand-in (over HTTP, as the bot would) and queued in the store, all due
    a minute ago; returns their provider ids. Creates go out in small batches, before any bot runs."""
    body = Catalogue.default().build_body(REQUEST)
    ids: list[str] = []
    async with GrokClient(base_url=api.base_url, api_key=api.api_key) as client:
        for start in range(0, count, 50):
            batch = await asyncio.gather(*(client.create(body) for _ in range(min(50, count - start))))
            ids += [created.id for created in batch]
    store = await TaskStore.open(db_path)
    try:
        now = time.time()
        for api_id in ids:
            new = NewTask("slash", guild_id, channel_id, requester_id, REQUEST, REQUEST.duration or 0)
            task = await store.create_task(new)
            await store.transition(
                task.id, State.SUBMITTING, State.QUEUED, api_id=api_id, submitted_at=now - 120,
                provider_status="queued", next_poll_at=now - 60,
            )  # fmt: skip
    finally:
        await store.close()
    return ids


def peak_in_window(times: Sequence[float], width: float = 1.0) -> int:
    """The most requests in any closed window of `width` seconds."""
    ordered = sorted(times)
    return max((bisect.bisect_right(ordered, t + width) - i for i, t in enumerate(ordered)), default=0)
