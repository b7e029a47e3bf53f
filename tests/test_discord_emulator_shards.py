"""The emulator with several gateway shards, against REAL discord.py clients (AutoShardedBot).

Discord's rules: a guild belongs to shard (guild_id >> 22) % shard_count, DMs to shard 0; IDENTIFY's
`shard: [id, count]` comes back in READY, which lists only that shard's guilds; each guild's events (and
interactions) go to its shard's session only; an invalid shard closes with 4010, too few with 4011; GET
/gateway/bot recommends a count.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import aiohttp
import discord
import pytest
from discord.ext import commands

from tests import test_discord_emulator as plain
from tests.fakes.discord import DiscordEmulator, new_snowflake, shard_of
from tests.test_discord_emulator import TOKEN, StartBot

# The plain emulator tests' fixtures: an emulator taking TOKEN, and start_bot(bot) -> once on_ready fired.
emu = plain.emu
start_bot = plain.start_bot


class ShardedBot(commands.AutoShardedBot):
    """A plain sharded bot that records the messages and interactions each of its shards got."""

    def __init__(self, **options: Any) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.1, **options)
        self.seen: list[tuple[int | None, str]] = []  # (shard id, what)

        @self.tree.command(name="ping", description="Ping")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py waits 5 s between two shards' IDENTIFYs; the emulator has no such limit

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        shard = message.guild.shard_id if message.guild else 0
        self.seen.append((shard, message.content))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.seen.append((interaction.guild.shard_id if interaction.guild else None, "interaction"))


def two_guilds(emu: DiscordEmulator) -> tuple[Any, Any]:
    """A guild on each of two shards, each with a #general and the default member."""
    guilds = []
    for k in (0, 1):
        guild = emu.add_guild(f"Shard {k}", owner=emu.owner, shard=(k, 2))
        emu.add_member(guild, emu.default_user)
        emu.add_text_channel(guild, "general")
        guilds.append(guild)
    return guilds[0], guilds[1]


def general(guild: Any) -> Any:
    return next(iter(guild.channels.values()))


# ---------------------------------------------------------------------------------------------------------


def test_a_guild_can_be_made_on_a_chosen_shard() -> None:
    ids = [new_snowflake(shard=(k % 3, 3)) for k in range(12)]
    assert [shard_of(i, 3) for i in ids] == [k % 3 for k in range(12)]
    assert ids == sorted(set(ids))  # still strictly increasing
    with pytest.raises(ValueError, match="no shard 2 among 2"):
        new_snowflake(shard=(2, 2))


async def test_add_guild_refuses_an_id_on_another_shard(emu: DiscordEmulator) -> None:
    gid = new_snowflake(shard=(1, 2))
    with pytest.raises(ValueError, match="is on shard 1 of 2"):
        emu.add_guild("wrong", guild_id=gid, shard=(0, 2))
    assert shard_of(emu.add_guild("right", guild_id=gid, shard=(1, 2)).id, 2) == 1


async def test_one_process_with_every_shard_sees_every_guild(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    g0, g1 = two_guilds(emu)
    emu.recommended_shards = 2
    bot = await start_bot(ShardedBot())  # no shard_count: discord.py asks GET /gateway/bot
    assert emu.requests_to("GET", r"/gateway/bot$")
    assert bot.shard_count == 2 and sorted(bot.shards) == [0, 1]
    assert emu.live_shards() == [(0, 2), (1, 2)]
    assert {g.id for g in bot.guilds} == {emu.guild.id, g0.id, g1.id}
    assert bot.get_guild(g0.id).shard_id == 0 and bot.get_guild(g1.id).shard_id == 1  # type: ignore[union-attr]
    # READY echoes each session's shard and lists only its guilds; GUILD_CREATE follows the same rule.
    readies = {shard: data for shard, event, data in emu.shard_events if event == "READY"}
    assert readies[(0, 2)]["shard"] == [0, 2] and readies[(1, 2)]["shard"] == [1, 2]
    for (k, n), data in readies.items():
        listed = {int(g["id"]) for g in data["guilds"]}
        assert listed == {g.id for g in emu.guilds.values() if shard_of(g.id, n) == k}
    created = [(shard, int(data["id"])) for shard, event, data in emu.shard_events if event == "GUILD_CREATE"]
    assert ((0, 2), g0.id) in created and ((1, 2), g1.id) in created
    assert all(shard_of(gid, 2) == k for (k, _), gid in created)
    # Each shard gets its own guild's messages, once.
    await emu.post_message(general(g0), emu.default_user, "to zero")
    await emu.post_message(general(g1), emu.default_user, "to one")
    await emu.wait_for(lambda: len(bot.seen) == 2)
    assert sorted(bot.seen) == [(0, "to zero"), (1, "to one")]


async def test_two_processes_each_get_only_their_shards_events(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    g0, g1 = two_guilds(emu)
    zero = await start_bot(ShardedBot(shard_count=2, shard_ids=[0]))
    one = await start_bot(ShardedBot(shard_count=2, shard_ids=[1]))
    assert emu.live_shards() == [(0, 2), (1, 2)]
    assert zero.get_guild(g0.id) is not None and zero.get_guild(g1.id) is None
    assert one.get_guild(g1.id) is not None and one.get_guild(g0.id) is None

    # A guild added later: GUILD_CREATE to its shard only; then its channel's events follow it.
    later = emu.add_guild("Later", owner=emu.owner, shard=(1, 2))
    emu.add_member(later, emu.default_user)
    channel = emu.add_text_channel(later, "news")
    await emu.wait_for(lambda: one.get_channel(channel.id) is not None)
    assert zero.get_guild(later.id) is None and zero.get_channel(channel.id) is None

    await emu.post_message(general(g0), emu.default_user, "zero's")
    await emu.post_message(channel, emu.default_user, "one's")
    await emu.wait_for(lambda: zero.seen and one.seen)
    await emu.set_premium_tier(later, 2)
    await emu.wait_for(lambda: one.get_guild(later.id).premium_tier == 2)  # type: ignore[union-attr]
    assert zero.seen == [(0, "zero's")] and one.seen == [(1, "one's")]
    guild_events = [(shard, event, data) for shard, event, data in emu.shard_events if "guild_id" in data]
    assert guild_events and all(shard_of(int(d["guild_id"]), 2) == k for (k, _), _, d in guild_events)


async def test_interactions_go_to_the_newest_session_of_the_guilds_shard(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    g0, g1 = two_guilds(emu)
    zero = await start_bot(ShardedBot(shard_count=2, shard_ids=[0]))
    await zero.tree.sync()
    one = await start_bot(ShardedBot(shard_count=2, shard_ids=[1]))  # the newest session, but of shard 1
    first = await emu.slash_command("ping", channel=general(g0))
    await first.wait_text("pong")
    assert first.shard == (0, 2) and zero.seen == [(0, "interaction")] and one.seen == []

    second = await emu.slash_command("ping", channel=general(g1))
    await second.wait_text("pong")
    assert second.shard == (1, 2) and one.seen == [(1, "interaction")]

    # A DM interaction goes to shard 0.
    dm = await emu.slash_command("ping", channel=emu.dm_channel(emu.default_user))
    await dm.wait_text("pong")
    assert dm.shard == (0, 2)

    # Shard 1 gone: its guild's interactions reach nobody (shard 0 never gets them).
    await one.close()
    await emu.wait_for(lambda: emu.live_shards() == [(0, 2)])
    lost = await emu.slash_command("ping", channel=general(g1))
    assert not lost.delivered and lost.shard is None
    assert zero.seen == [(0, "interaction"), (None, "interaction")]


async def test_gateway_bot_recommends_the_shard_count(emu: DiscordEmulator) -> None:
    emu.recommended_shards = 3
    auth = {"Authorization": f"Bot {TOKEN}"}
    async with aiohttp.ClientSession() as http, http.get(f"{emu.api_base}/gateway/bot", headers=auth) as r:
        body = await r.json()
    assert body["shards"] == 3 and body["url"] == emu.gateway_url


async def _identify(emu: DiscordEmulator, shard: Any) -> tuple[int | None, list[dict[str, Any]]]:
    """IDENTIFY over a raw websocket; (close code or None, the frames received after HELLO)."""
    frames: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(emu.gateway_url) as ws:
        await ws.receive_json()  # HELLO
        d: dict[str, Any] = {"token": TOKEN, "intents": 1, "properties": {}}
        if shard is not None:
            d["shard"] = shard
        await ws.send_json({"op": 2, "d": d})
        code = None
        with contextlib.suppress(TimeoutError):  # no close within 0.3 s: the session lives
            while True:
                msg = await ws.receive(timeout=0.3)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    code = int(msg.data) if msg.type == aiohttp.WSMsgType.CLOSE else -1
                    break
                frames.append(json.loads(msg.data))
        return code, frames


@pytest.mark.parametrize("shard", [[2, 2], [0, 0], [-1, 2], [0], "0,1"])
async def test_an_invalid_shard_is_closed_with_4010(emu: DiscordEmulator, shard: Any) -> None:
    code, frames = await _identify(emu, shard)
    assert code == 4010 and frames == []
    assert emu.live_shards() == []


async def test_too_few_shards_is_closed_with_4011(emu: DiscordEmulator) -> None:
    emu.min_shards = 2
    assert (await _identify(emu, None))[0] == 4011
    assert (await _identify(emu, [0, 1]))[0] == 4011
    code, frames = await _identify(emu, [1, 2])
    assert code is None and frames[0]["t"] == "READY" and frames[0]["d"]["shard"] == [1, 2]


async def test_without_a_shard_a_session_is_shard_0_of_1_with_every_guild(emu: DiscordEmulator) -> None:
    g0, g1 = two_guilds(emu)
    code, frames = await _identify(emu, None)
    assert code is None
    ready = frames[0]["d"]
    assert "shard" not in ready
    assert {int(g["id"]) for g in ready["guilds"]} == {emu.guild.id, g0.id, g1.id}
    created = {int(f["d"]["id"]) for f in frames if f["t"] == "GUILD_CREATE"}
    assert created == {emu.guild.id, g0.id, g1.id}
