"""Gateway shards, end to end: the real bot (one process or several) against the loopback Discord with several
shards. A guild belongs to shard (guild_id >> 22) % SHARD_COUNT; each process receives only its shards'
guilds and interactions, yet any process may post any task, in a channel it does not cache."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.core.store import State
from tests import test_e2e_service as service
from tests.conftest import StartBot
from tests.fakes.discord import Channel, DiscordEmulator, message_text, shard_of
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript
from tests.test_e2e_health import wait_health
from tests.test_e2e_service import Spawn, sigterm
from tests.test_e2e_video import bot_messages, wait_result

spawn = service.spawn  # `python -m bot` as its own process, its log lines collected


def channel_on_shard(emu: DiscordEmulator, shard: int, count: int = 2) -> Channel:
    """A guild on shard `shard` of `count` (the default member in it) and its #general."""
    guild = emu.add_guild(f"Shard {shard}", owner=emu.owner, shard=(shard, count))
    emu.add_member(guild, emu.default_user)
    return emu.add_text_channel(guild, "general")


async def request_video(emu: DiscordEmulator, channel: Channel, prompt: str) -> Any:
    handle = await emu.slash_command("video", {"prompt": prompt}, channel=channel)
    await handle.wait_text("queued")
    return handle


async def assert_delivered(emu: DiscordEmulator, channel: Channel) -> None:
    """What the members of `channel` see: the video itself, and the status message edited to Done."""
    result = await wait_result(emu, channel, timeout=15)
    assert result["content"].startswith(f"<@{emu.default_user.id}>") and "ready" in message_text(result)
    [attachment] = result["attachments"]
    assert emu.file_bytes(attachment) == FAKE_MP4
    status, posted = bot_messages(emu, channel)
    assert posted["id"] == result["id"]
    await emu.wait_for(lambda: "Done" in message_text(emu.get_message(status["id"])), what="status Done")


# ---- one process, every shard -------------------------------------------------------------------------------


async def test_one_process_runs_every_shard_discord_recommends(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    zero, one = channel_on_shard(emu, 0), channel_on_shard(emu, 1)
    emu.recommended_shards = 2
    bot = await start_bot(HEALTH_PORT="0")  # SHARD_COUNT unset: Discord's recommendation
    assert emu.requests_to("GET", r"/gateway/bot$")
    assert emu.live_shards() == [(0, 2), (1, 2)]  # two gateway sessions, one per shard
    assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert bot.get_channel(zero.id) is not None and bot.get_channel(one.id) is not None
    assert (await wait_health(bot, 200))["parts"]["gateway"] == "ok"

    first = await request_video(emu, zero, "a fox on shard zero")
    second = await request_video(emu, one, "a fox on shard one")
    assert (first.shard, second.shard) == ((0, 2), (1, 2))
    await assert_delivered(emu, zero)
    await assert_delivered(emu, one)
    assert [c["prompt"] for c in grok_api.creates] == ["a fox on shard zero", "a fox on shard one"]


async def test_healthz_names_the_shard_whose_connection_is_down(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot(SHARD_COUNT="2", HEALTH_PORT="0")
    assert (await wait_health(bot, 200))["status"] == "ok"

    await emu.disconnect_all(code=4000, shard=(1, 2))  # shard 1 drops; its RESUME is refused: a new IDENTIFY
    body = await wait_health(bot, 503)
    assert body["failing"] == ["gateway"]
    assert body["parts"]["gateway"] == "the Discord gateway connection of shard 1 is down; reconnecting"
    body = await wait_health(bot, 200, timeout=15)  # discord.py waits 5 s before the IDENTIFY
    assert body["parts"]["gateway"] == "ok" and emu.live_shards() == [(0, 2), (1, 2)]


# ---- two processes, one shard each ---------------------------------------------------------------------------


async def test_two_processes_each_serve_their_own_shard(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    zero_channel, one_channel = channel_on_shard(emu, 0), channel_on_shard(emu, 1)
    zero = await start_bot(SHARD_COUNT="2", SHARD_IDS="0", DATABASE_PATH=str(tmp_path / "zero.sqlite3"))
    one = await start_bot(SHARD_COUNT="2", SHARD_IDS="1", DATABASE_PATH=str(tmp_path / "one.sqlite3"))
    assert emu.live_shards() == [(0, 2), (1, 2)]
    assert not emu.requests_to("GET", r"/gateway/bot$")  # SHARD_COUNT given: nothing to ask
    # Each caches its own shard's guild only.
    assert zero.get_channel(zero_channel.id) is not None and zero.get_channel(one_channel.id) is None
    assert one.get_channel(one_channel.id) is not None and one.get_channel(zero_channel.id) is None

    # The process of shard 1 takes the request and posts it; the other never sees it.
    await served_by(emu, one, one_channel, (1, 2), "asked on shard one")
    assert await zero.store.get(1) is None

    # Two stores both number their first task 1, so both posts would carry the nonce gv1c, and Discord answers
    # a repeated nonce of one author (the bot) with the earlier message for 5 minutes: processes of one bot
    # must share one store. Here they don't (to tell them apart), so the second request comes later.
    emu.advance_clock(emu.nonce_window + 1)
    await served_by(emu, zero, zero_channel, (0, 2), "asked on shard zero")
    assert await one.store.get(2) is None


async def served_by(
    emu: DiscordEmulator, bot: Any, channel: Channel, shard: tuple[int, int], prompt: str
) -> None:
    """A /video in `channel` reaches `shard`'s session, and `bot` records it as task 1 and delivers it."""
    handle = await request_video(emu, channel, prompt)
    assert handle.shard == shard
    got = [
        to
        for to, event, data in emu.shard_events
        if event == "INTERACTION_CREATE" and data["id"] == str(handle.id)
    ]
    assert got == [shard]  # one session had it: the other process never heard of it
    await assert_delivered(emu, channel)
    task = await bot.store.get(1)
    assert task is not None and task.channel_id == channel.id and task.state is State.DELIVERED
    assert task.request.prompt == prompt


# ---- a process posts where it caches nothing --------------------------------------------------------------


async def test_a_process_delivers_in_a_channel_of_another_shard(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """Two processes on one database: shard 1's takes the request and stops; shard 0's, which caches nothing
    of that guild, finishes it there: progress edits, the video, and Done."""
    channel = channel_on_shard(emu, 1)
    grok_api.default_script = TaskScript(complete_after=None)  # finished by hand, once shard 1's is gone
    zero = await start_bot(SHARD_COUNT="2", SHARD_IDS="0")
    one = await start_bot(SHARD_COUNT="2", SHARD_IDS="1")
    handle = await request_video(emu, channel, "finished elsewhere")
    assert handle.shard == (1, 2)
    [status] = await emu.wait_for(lambda: bot_messages(emu, channel), what="the status message")
    await emu.wait_for(lambda: grok_api.result_calls(), what="a first poll")

    await one.close()  # the process of shard 1 stops: its poller hands the task back to the store
    assert emu.live_shards() == [(0, 2)]
    assert zero.get_channel(channel.id) is None and zero.get_guild(channel.guild_id) is None
    [provider_task] = list(grok_api.tasks)
    grok_api.complete(provider_task)
    # Shard 0's poller may be sleeping out the lease it last saw: one process is not told when another hands
    # a task back (it finds out at its next tick), so tick now rather than wait for that.
    zero.poller.wake()

    await assert_delivered(emu, channel)
    task = await zero.store.get(1)
    assert task is not None and task.state is State.DELIVERED and task.outcome == "video"
    assert task.delivered_channel_id == channel.id
    # Shard 0's process read the channel and its server (for the upload limit) from Discord, then posted.
    assert emu.requests_to("GET", rf"/channels/{channel.id}$")
    assert emu.requests_to("GET", rf"/guilds/{channel.guild_id}$")
    edits = emu.requests_to("PATCH", rf"/channels/{channel.id}/messages/{status['id']}$")
    assert edits and edits[-1].status == 200


# ---- settings Discord or the bot refuse ------------------------------------------------------------------


async def test_invalid_shard_settings_are_refused_before_connecting(
    emu: DiscordEmulator, spawn: Spawn
) -> None:
    bot = await spawn(SHARD_COUNT="2", SHARD_IDS="0,2")
    await asyncio.wait_for(bot.proc.wait(), 30)
    await bot.stop()
    text = "\n".join(bot.lines)
    assert bot.proc.returncode == 2, text
    assert "SHARD_IDS='0,2' is invalid: with SHARD_COUNT=2 the shards are 0 to 1, not 2" in text
    assert "Traceback" not in text and emu.identify_count == 0

    bot = await spawn(SHARD_IDS="1")
    await asyncio.wait_for(bot.proc.wait(), 30)
    await bot.stop()
    assert bot.proc.returncode == 2 and "SHARD_IDS='1' needs SHARD_COUNT" in "\n".join(bot.lines)


async def test_too_few_shards_for_discord_ends_the_process_with_advice(
    emu: DiscordEmulator, spawn: Spawn
) -> None:
    emu.min_shards = 2  # Discord: this bot is in too many servers for one shard
    bot = await spawn(SHARD_COUNT="1")
    await asyncio.wait_for(bot.proc.wait(), 30)
    await bot.stop()
    text = "\n".join(bot.lines)
    assert bot.proc.returncode == 3, text
    assert "sharding required" in text and "SHARD_COUNT" in text
    assert "Traceback" not in text and "cannot reach Discord" not in text
    # The start-up probe, then the IDENTIFY refused (discord.py may read the close too early to see its code,
    # and IDENTIFY once more, 5 s later: refused alike).
    assert emu.gateway_close_codes[:2] == [4000, 4011], text


async def test_a_process_logs_which_shards_it_runs(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    channel_on_shard(emu, 1, count=3)
    bot = await spawn(SHARD_COUNT="3", SHARD_IDS="1")
    await bot.wait_log("logged in as")
    assert emu.live_shards() == [(1, 3)]
    servers = sum(1 for guild in emu.guilds.values() if shard_of(guild.id, 3) == 1)  # and the default one?
    [ready] = [line for line in bot.lines if "logged in as" in line]
    assert f"in {servers} servers; shard 1 of 3" in ready
    assert any(f"shard 1 of 3 ready: {servers} servers" in line for line in bot.lines)
    await sigterm(bot)
