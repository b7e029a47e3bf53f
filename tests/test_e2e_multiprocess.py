"""Several bot processes, one bot: two `python -m bot` processes on one real PostgreSQL and the loopback
Discord with two shards, a guild on each.

- 40 videos across both guilds; one process is SIGKILLed while they are being made, downloaded and posted:
  the other takes over its tasks within a lease (TASK_LEASE_SECONDS) and every video is delivered exactly
  once, in its own guild's channel, with no create call repeated.
- 20 simultaneous requests from one member reaching both processes, with a limit of 2 videos at once:
  exactly 2 tasks, 2 create calls, and 18 private refusals that say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from tests.fakes.discord import DiscordEmulator, InteractionHandle
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript
from tests.test_e2e_resilience import BotProcess, _child_env

VIDEOS = 40
SETTINGS = {
    "POLL_INTERVAL_SECONDS": "0.05",
    "PROVIDER_MAX_RPS": "500",
    "GROK_TIMEOUT_SECONDS": "1",
    "DOWNLOAD_TIMEOUT_SECONDS": "3",
    "TASK_LEASE_SECONDS": "1.5",  # a dead process's tasks are taken up by the other within 1.5 s
    "STATUS_EDIT_SECONDS": "0",
    "MAX_ACTIVE_PER_MEMBER": "0",
    "COOLDOWN_SECONDS": "0",
    "SHARD_COUNT": "2",
}

Spawn = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def spawn_on(bot_env: dict[str, str], tmp_path: Path, pg_url: str) -> AsyncIterator[Spawn]:
    """`python -m bot` processes as an owner runs them on several machines: one .env (one DATABASE_URL, one
    VIDEO_DIR volume), each with its own SHARD_IDS."""
    started: list[BotProcess] = []

    async def start(shard_ids: str, **extra: str) -> BotProcess:
        env = _child_env(bot_env, **{**SETTINGS, "DATABASE_URL": pg_url, "SHARD_IDS": shard_ids, **extra})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        bot = BotProcess(proc)
        started.append(bot)
        await bot.wait_log("logged in as", timeout=30)
        return bot

    yield start
    for bot in started:
        if bot.proc.returncode is None:
            with contextlib.suppress(Exception):
                await bot.kill()


async def task_rows(pg_url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(pg_url)
    try:
        return list(
            await conn.fetch(
                "SELECT id, state, outcome, request::json->>'prompt' AS prompt, guild_id FROM tasks"
            )
        )
    finally:
        await conn.close()


def outcome_posts(emu: DiscordEmulator, channel: object) -> list[dict]:
    """The posts that mention a requester and carry a video."""
    return [
        m
        for m in emu.messages(channel)
        if int(m["author"]["id"]) == int(emu.bot_user.id)
        and m["content"].startswith("<@")
        and m.get("attachments")
    ]


async def test_two_processes_two_shards_one_killed_every_video_exactly_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn_on: Spawn, pg_url: str
) -> None:
    guilds = [emu.add_guild(f"Shard {k}", owner=emu.owner, shard=(k, 2)) for k in (0, 1)]
    channels = [emu.add_text_channel(g, "videos") for g in guilds]
    for g in guilds:
        emu.add_member(g, emu.default_user)
    # Staggered completions and slow-ish downloads: at the kill, tasks are queued, downloading and posting.
    grok_api.script_next(*(TaskScript(complete_after=0.3 + 0.1 * (n % 20)) for n in range(VIDEOS)))
    grok_api.latency["download"] = 0.05
    first = await spawn_on("0")
    second = await spawn_on("1")
    await emu.wait_for(lambda: emu.open_connections >= 2, timeout=10, what="both shards connected")
    # The command sync is a once-only job (an advisory lock, then the stored hash): one PUT for both.
    syncs = [r for r in emu.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(syncs) == 1, f"{len(syncs)} command syncs by two processes"
    assert any("application commands unchanged; not syncing" in line for line in second.lines)

    handles: list[tuple[str, int, InteractionHandle]] = []
    for n in range(VIDEOS):
        k = n % 2
        prompt = f"multiprocess video {n:02d}"
        handles.append((prompt, k, await emu.slash_command("video", {"prompt": prompt}, channel=channels[k])))
    await emu.wait_for(
        lambda: all(h.followups for _, _, h in handles), timeout=20, what="every request answered"
    )
    await emu.wait_for(lambda: len(grok_api.creates) >= VIDEOS, timeout=20, what="every create sent")

    # Mid-run: some videos are posted, the rest are still being made, downloaded or posted.
    await emu.wait_for(
        lambda: sum(len(outcome_posts(emu, ch)) for ch in channels) >= 4, timeout=20, what="the first posts"
    )
    await first.kill()
    at_kill = Counter(row["state"] for row in await task_rows(pg_url))
    assert at_kill["delivered"] < VIDEOS, "everything was already delivered: the kill proved nothing"

    # The survivor (shard 1 only) posts everything, shard 0's guild included, through the REST API.
    await emu.wait_for(
        lambda: sum(len(outcome_posts(emu, ch)) for ch in channels) >= VIDEOS,
        timeout=40,
        what="every video posted",
        poll=0.1,
    )
    await asyncio.sleep(0.5)  # anything posted twice would show up now
    rows = await task_rows(pg_url)
    assert len(rows) == VIDEOS and {row["state"] for row in rows} == {"delivered"}, Counter(
        r["state"] for r in rows
    )
    assert {row["outcome"] for row in rows} == {"video"}
    creates = Counter(body["prompt"] for body in grok_api.creates)
    assert len(creates) == VIDEOS and max(creates.values()) == 1, creates.most_common(3)
    for prompt, k, _ in handles:
        posts = [m for ch in channels for m in outcome_posts(emu, ch) if prompt in str(m.get("embeds"))]
        assert len(posts) == 1, f"{prompt!r} posted {len(posts)} times"
        assert int(posts[0]["channel_id"]) == channels[k].id, f"{prompt!r} posted in the wrong guild"
        assert [emu.file_bytes(a) for a in posts[0]["attachments"]] == [FAKE_MP4]
    print(f"\ntwo processes: states at the kill {dict(at_kill)}; all {VIDEOS} delivered once by the survivor")
    assert await second.stop() == 0


async def test_twenty_simultaneous_requests_across_two_processes_make_exactly_two_videos(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn_on: Spawn, pg_url: str
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)  # nothing finishes: both stay in progress
    # Both processes run the bot's one shard, and each interaction goes to one of the two sessions in turn:
    # the member's requests reach the two processes at once.
    emu.interaction_routing = "round_robin"
    for _ in range(2):
        await spawn_on("0", SHARD_COUNT="1", MAX_ACTIVE_PER_MEMBER="2")
    handles = await asyncio.gather(
        *(emu.slash_command("video", {"prompt": f"at once {n:02d}"}) for n in range(20))
    )
    assert sorted(Counter(h.session_id for h in handles).values()) == [10, 10], "not both processes"
    await emu.wait_for(lambda: all(h.followups for h in handles), timeout=20, what="20 answers")
    rows = await task_rows(pg_url)
    assert len(rows) == 2, rows
    assert len(grok_api.creates) == 2
    texts = [h.text() for h in handles]
    refused = [t for t in texts if "Too many videos at once" in t and "(the limit is 2)" in t]
    assert len(refused) == 18, texts
    assert all(h.ephemeral for h in handles if "Too many videos at once" in h.text())


async def test_a_clean_stop_hands_the_work_in_hand_to_the_other_process_at_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn_on: Spawn, pg_url: str
) -> None:
    """SIGTERM while a download is under way: the stopping process hands the task back and says so (NOTIFY),
    and the other takes it up at once: not when the 60 s lease would have run out, nor at its next planned
    look (30 s at the latest)."""
    guild = emu.add_guild("Shard 0", owner=emu.owner, shard=(0, 2))
    channel = emu.add_text_channel(guild, "videos")
    emu.add_member(guild, emu.default_user)
    first = await spawn_on("0", TASK_LEASE_SECONDS="60", DOWNLOAD_TIMEOUT_SECONDS="120")
    grok_api.latency["download"] = 60.0  # the download hangs until the process doing it stops
    await emu.slash_command("video", {"prompt": "handed over"}, channel=channel)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "download", timeout=10)
    second = await spawn_on(
        "1", TASK_LEASE_SECONDS="60", DOWNLOAD_TIMEOUT_SECONDS="120"
    )  # starts with the task leased to the first
    grok_api.latency["download"] = 0.0
    assert [row["state"] for row in await task_rows(pg_url)] == ["completed"]
    await asyncio.sleep(1.0)  # the second process has looked, and found nothing due for a minute
    assert [row["state"] for row in await task_rows(pg_url)] == ["completed"]

    stopped_at = emu.now()
    assert await first.stop() == 0
    post = await emu.wait_for_message(channel, lambda m: bool(m.get("attachments")), timeout=20)
    assert emu.now() - stopped_at < 10, "taken up at a planned look or the lease's end, not when handed back"
    assert "handed over" in str(post.get("embeds")) and [emu.file_bytes(a) for a in post["attachments"]] == [
        FAKE_MP4
    ]
    assert second.proc.returncode is None
