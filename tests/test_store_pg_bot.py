"""The real bot on PostgreSQL (DATABASE_URL): a member's requests through the line, a provider failure and a
video, each posted once, /healthz and /metrics reading the store; everything the bot writes goes through
asyncpg's strict types. Loopback Discord and Grok stand-ins, a real PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.store import PgTaskStore, State
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_health import get, samples, value, wait_health
from tests.test_e2e_queue import ask, creates
from tests.test_e2e_resilience import BotProcess, _child_env


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


async def test_a_postgresql_down_at_start_is_waited_for_then_the_bot_runs(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, bot_env: dict[str, str], pg_url: str, tmp_path: Path
) -> None:
    """`python -m bot` started before its database (a machine booting both): one line per attempt, no
    traceback, no exit; once PostgreSQL answers (here: a loopback forwarder to it opens on DATABASE_URL's
    port), the bot logs in and works. The password never shows."""
    real = urlsplit(pg_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = f"postgresql://postgres:not-shown-pw@127.0.0.1:{port}{real.path}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=_child_env(bot_env, DATABASE_URL=url),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    bot = BotProcess(proc)
    forwarder = None
    try:
        await bot.wait_log("attempt 2, next in", timeout=30)
        assert proc.returncode is None

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            up_reader, up_writer = await asyncio.open_connection(real.hostname, real.port)

            async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                with contextlib.suppress(OSError):
                    while data := await src.read(65536):
                        dst.write(data)
                        await dst.drain()
                dst.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

        forwarder = await asyncio.start_server(forward, "127.0.0.1", port)
        await bot.wait_log("logged in as", timeout=90)
        h = await emu.slash_command("video", {"prompt": "after the database came up"})
        await emu.wait_for(lambda: bool(h.followups), timeout=15, what="the answer")
        assert "queued" in h.text().lower()
    finally:
        assert await bot.stop() == 0
        if forwarder is not None:
            forwarder.close()
    waits = [line for line in bot.lines if "cannot reach the database" in line]
    assert len(waits) >= 2 and all(f"PostgreSQL at postgresql://127.0.0.1:{port}" in w for w in waits), waits
    text = "\n".join(bot.lines)
    assert "Traceback" not in text and "not-shown-pw" not in text
