"""`python -m bot migrate --to postgresql://...`: a SQLite database with 1,000 tasks moved into a real
PostgreSQL, verified, and the real bot carrying on from it (the tasks that were still with the provider or in
the line are delivered; the history counts against the members as before)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import asyncpg

from bot.core.config import url_location
from bot.core.policy import GuildConfig
from bot.core.request import VideoRequest
from bot.core.store import NewTask, State, open_store
from tests.conftest import ROOT, StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, FakeTask, TaskScript
from tests.test_e2e_video import bot_messages

HISTORY = 990  # delivered long ago
WITH_PROVIDER = 6  # queued at the provider when the bot was stopped
IN_LINE = 4  # waiting for a slot: never sent


def run_migrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "DISCORD_", "GROK_"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", "migrate", *args], cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def fill(path: Path, emu: DiscordEmulator, api: FakeGrokAPI) -> list[str]:
    """A SQLite database as a bot that ran for a while leaves it; returns the prompts still to deliver."""
    store = await open_store(None, path)
    pending: list[str] = []
    try:
        await store.save_guild_config(GuildConfig(emu.guild.id, cooldown_seconds=0.0, max_active=0))
        await store.set_meta("migrate-test", "remembered")
        for n in range(HISTORY + WITH_PROVIDER + IN_LINE):
            prompt = f"video number {n}"
            new = NewTask(
                source="slash", guild_id=emu.guild.id, channel_id=emu.channel.id,
                requester_id=emu.default_user.id, billed_seconds=6,
                request=VideoRequest("grok_video3", prompt, 6, "16:9", "480p", ()),
            )  # fmt: skip
            task = await store.create_task(new, next_poll_at=time.time() + 3600)
            if n < HISTORY:
                await store.transition(
                    task.id, State.SUBMITTING, State.DELIVERED, outcome="video", api_id=f"old_{n}",
                    finished_at=task.created_at, delivered_at=task.created_at, next_poll_at=None,
                )  # fmt: skip
            elif n < HISTORY + WITH_PROVIDER:
                api_id = f"video_grok_migrated_{n}"
                api.tasks[api_id] = FakeTask(
                    api_id, "grok_video3", int(time.time()), api.clock(), {"model": "grok_video3", "duration": 6},
                    TaskScript(processing_after=0.0, complete_after=0.0), api.clock,
                )  # fmt: skip
                await store.transition(
                    task.id, State.SUBMITTING, State.QUEUED, api_id=api_id, submitted_at=time.time(),
                    polled_at=time.time(), next_poll_at=time.time() + 3600,  # due long after the migration
                )  # fmt: skip
                pending.append(prompt)
            else:  # back in the line, as after a 429: due now, sent by the line's stage
                await store.transition(task.id, State.SUBMITTING, State.WAITING, next_poll_at=time.time())
                pending.append(prompt)
    finally:
        await store.close()
    return pending


async def test_migrate_moves_1000_tasks_and_the_bot_carries_on_from_postgresql(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str], pg_url: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    source = Path(bot_env["DATABASE_PATH"])
    pending = await fill(source, emu, grok_api)
    password_url = pg_url.replace("postgres@", "postgres:hunter2-not-shown@")  # trust auth ignores it

    done = await asyncio.to_thread(run_migrate, "--from", str(source), "--to", password_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"verified: {HISTORY + WITH_PROVIDER + IN_LINE} tasks" in done.stdout
    assert "delivered 990" in done.stdout and "queued 6" in done.stdout and "waiting 4" in done.stdout
    assert (
        "hunter2" not in done.stdout + done.stderr and f"({pg_url.replace('postgres@', '')})" in done.stdout
    )

    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM tasks") == 1000
        assert await conn.fetchval("SELECT value FROM bot_meta WHERE key = 'migrate-test'") == "remembered"
        assert await conn.fetchval("SELECT COUNT(*) FROM guild_settings") == 1
        # The queued tasks were due in an hour: make them due now, as if that hour had passed.
        await conn.execute("UPDATE tasks SET next_poll_at = $1 WHERE state = 'queued'", time.time())
    finally:
        await conn.close()

    # Run again: PostgreSQL is no longer empty, so nothing is written twice.
    again = await asyncio.to_thread(run_migrate, "--from", str(source), "--to", pg_url, cwd=tmp_path)
    assert again.returncode == 1 and "is not empty" in again.stderr, again.stderr

    bot = await start_bot(DATABASE_URL=pg_url)
    assert bot.store.kind == "postgresql"
    await emu.wait_for(
        lambda: sum(1 for m in bot_messages(emu, emu.channel) if m.get("attachments")) >= len(pending),
        timeout=30,
        what="every migrated pending task delivered",
    )
    posted = [m for m in bot_messages(emu, emu.channel) if m.get("attachments")]
    assert len(posted) == len(pending)
    # Only the tasks in the line were sent to the provider: nothing of the history, no queued task again.
    assert len(grok_api.creates) == IN_LINE
    # A new task gets an id past the copied ones (the sequence was moved on).
    after = NewTask(
        source="slash", guild_id=emu.guild.id, channel_id=emu.channel.id, requester_id=emu.default_user.id,
        billed_seconds=6, request=VideoRequest("grok_video3", "after", 6, "16:9", "480p", ()),
    )  # fmt: skip
    new = await bot.store.create_task(after)
    assert new.id == HISTORY + WITH_PROVIDER + IN_LINE + 1
    # On PostgreSQL the provider budget is the database's schedule, shared with any other process.
    assert type(bot.budget).__name__ == "SharedBudget"
    conn = await asyncpg.connect(pg_url)
    try:
        assert await conn.fetchval("SELECT tat FROM provider_budget") > 0, "no request took a shared slot"
    finally:
        await conn.close()


def test_what_migrate_prints_never_holds_the_password() -> None:
    for url in (
        "postgresql://bot:s3cret@db:5432/grok",
        "postgresql://bot@db/grok?password=s3cret&sslmode=require",
        "postgresql://bot:s3?cr/et@db/grok",  # written raw: "?" and "/" inside the password
        "postgresql://bot:s3%40cret@db/grok",
    ):
        shown = url_location(url)
        assert "s3" not in shown and "bot" not in shown and shown.startswith("postgresql://db"), shown


async def test_migrate_refuses_what_it_cannot_do_and_writes_nothing(tmp_path: Path, pg_url: str) -> None:
    missing = run_migrate("--from", str(tmp_path / "nope.sqlite3"), "--to", pg_url, cwd=tmp_path)
    assert missing.returncode == 1 and "no SQLite database at" in missing.stderr
    bad = run_migrate("--from", str(tmp_path / "nope.sqlite3"), "--to", "mysql://x", cwd=tmp_path)
    assert bad.returncode == 1
    usage = run_migrate(cwd=tmp_path)
    assert usage.returncode == 2 and "--to" in usage.stderr
