"""The real bot on PostgreSQL (DATABASE_URL): a member's requests through the line, a provider failure and a
video, each posted once, /healthz and /metrics reading the store; everything the bot writes goes through
asyncpg's strict types. Loopback Discord and Grok stand-ins, a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.core.store import PgTaskStore, State
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_health import get, samples, value, wait_health
from tests.test_e2e_queue import ask, creates


async def test_the_bot_on_postgresql_serves_the_line_and_posts_each_outcome_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, pg_url: str, tmp_path: Path
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)  # finished by hand, one at a time
    bot = await start_bot(
        DATABASE_URL=pg_url,
        HEALTH_PORT="0",
        MAX_IN_FLIGHT="1",
        MAX_ACTIVE_PER_MEMBER="3",
        COOLDOWN_SECONDS="0",
    )
    assert isinstance(bot.store, PgTaskStore) and bot.store.kind == "postgresql"
    assert not (tmp_path / "data" / "bot.sqlite3").exists(), "no SQLite file beside the shared database"
    member = emu.default_user

    assert "queued" in await ask(emu, "a storm over the sea", member)
    assert "#1 in line" in await ask(emu, "a fox in the snow", member)
    await creates(grok_api, 1)
    [first] = grok_api.tasks
    grok_api.fail(first, "The prompt was refused by the moderation model.")
    failed = await emu.wait_for_message(
        emu.channel,
        lambda m: m.get("content", "").startswith("<@") and "refused" in message_text(m),
        timeout=10,
    )
    assert "Grok said" in message_text(failed)

    await creates(grok_api, 2)  # the line moved: the second request was sent
    second = next(task_id for task_id in grok_api.tasks if task_id != first)
    grok_api.complete(second)
    video = await emu.wait_for_message(
        emu.channel,
        lambda m: m.get("content", "").startswith("<@") and bool(m.get("attachments")),
        timeout=10,
    )
    assert "ready" in message_text(video)
    for _ in range(200):  # the post lands just before the task is marked delivered
        tasks = await bot.store.tasks_for_member(member.id, emu.guild.id)
        if {t.state for t in tasks} == {State.DELIVERED}:
            break
        await asyncio.sleep(0.05)
    assert [t.outcome for t in tasks] == ["video", "failed"]
    assert all(t.delivered_message_id and t.next_poll_at is None for t in tasks)

    body = await wait_health(bot, 200)
    assert body["parts"]["database"] == "ok"
    status, _, text = await get(bot, "/metrics")
    metrics = samples(text)
    assert status == 200 and value(metrics, "grokbot_tasks", state="delivered") == 2
    assert value(metrics, "grokbot_videos_delivered_total", model="grok_video3", outcome="video") == 1
    posted = [m for m in emu.messages(emu.channel) if m.get("content", "").startswith("<@")]
    assert len(posted) == 2, "each outcome posted once"
