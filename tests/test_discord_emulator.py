"""The Discord emulator against a REAL discord.py client over a real websocket.

Each test starts a loopback emulator, points discord.py at it (Route.BASE + DEFAULT_GATEWAY only), runs a
`commands.Bot`, and checks what Discord would answer. Every test ends with no spec violation: each REST
request and response the emulator handled conforms to Discord's OpenAPI description.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes.discord import (
    FLAG_EPHEMERAL,
    REST_ROUTES,
    DiscordEmulator,
    Intent,
    MiB,
    Perm,
    message_text,
)
from tests.fakes.discord.rest import UNDESCRIBED_ROUTES
from tests.fakes.discord.spec import METHODS, SPEC_PATH, get_validator, operations_served

TOKEN = "emulator-test-token"

StartBot = Callable[..., Awaitable[commands.Bot]]


def make_bot(*, message_content: bool = True, members: bool = False, **kwargs: Any) -> commands.Bot:
    intents = discord.Intents.default()
    intents.message_content = message_content
    intents.members = members
    return commands.Bot(command_prefix="!", intents=intents, guild_ready_timeout=0.1, **kwargs)


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token=TOKEN)
    await emulator.start()
    undo = emulator.patch_discord_py()
    try:
        yield emulator
    finally:
        undo()
        await emulator.stop()
    assert emulator.spec_violations == [], "\n".join(emulator.spec_violations)
    assert emulator.unhandled_requests == []


@pytest.fixture
async def start_bot(emu: DiscordEmulator) -> AsyncIterator[StartBot]:
    """start_bot(bot) -> the bot, once on_ready fired; every started bot is closed at teardown."""
    started: list[tuple[commands.Bot, asyncio.Task[None]]] = []

    async def start(bot: commands.Bot, *, token: str = TOKEN, wait_ready: bool = True) -> commands.Bot:
        ready_event = asyncio.Event()

        async def on_ready() -> None:
            ready_event.set()

        bot.add_listener(on_ready)
        task = asyncio.create_task(bot.start(token), name=f"bot-{len(started)}")
        started.append((bot, task))
        if wait_ready:
            ready = asyncio.create_task(ready_event.wait())
            done, _ = await asyncio.wait({ready, task}, timeout=5.0, return_when=asyncio.FIRST_COMPLETED)
            if ready not in done:
                ready.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ready
                if task in done:
                    task.result()  # raises the bot's error
                raise TimeoutError("the bot did not become ready")
        return bot

    yield start
    for bot, task in started:
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5.0)


# ---------------------------------------------------------------------------------------------------------


async def test_bot_connects_and_sees_the_guild(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = await start_bot(make_bot(members=True))
    guild = bot.get_guild(emu.guild.id)
    assert guild is not None and guild.name == "Test Guild"
    assert [c.name for c in guild.text_channels] == ["general"]
    assert guild.owner_id == emu.owner.id
    assert guild.filesize_limit == 10 * MiB
    me = guild.me
    assert me.id == emu.bot_user.id and me.bot
    perms = guild.text_channels[0].permissions_for(me)
    assert perms.send_messages and perms.embed_links and perms.attach_files and not perms.administrator
    # members intent: discord.py chunked the guild over the gateway (op 8 -> GUILD_MEMBERS_CHUNK)
    assert guild.chunked and guild.get_member(emu.default_user.id) is not None
    assert emu.identify_count == 1 and emu.open_connections == 1
    assert emu.last_identify is not None and emu.last_identify["intents"] & Intent.MESSAGE_CONTENT
    assert "token" not in emu.last_identify
    assert bot.application_id == emu.application_id
    assert not any("Authorization" in str(r) for r in emu.requests)
    assert emu.spec_violations == []


async def test_slash_command_with_attachment_defers_and_follows_up(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    bot = make_bot()
    seen: dict[str, Any] = {}

    @bot.tree.command(name="video", description="Make a video")
    async def video(
        interaction: discord.Interaction, prompt: str, image: discord.Attachment, seconds: int = 5
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        seen.update(
            prompt=prompt,
            seconds=seconds,
            image=await image.read(),
            filename=image.filename,
            content_type=image.content_type,
            limit=interaction.guild.filesize_limit,
        )
        await interaction.followup.send(
            f"Queued: {prompt}", embed=discord.Embed(title="Video", description="ETA 1m"), ephemeral=True
        )

    await start_bot(bot)
    await bot.tree.sync()
    assert emu.command_put_count == 1
    [registered] = emu.global_commands
    assert registered["name"] == "video" and [o["type"] for o in registered["options"]] == [3, 11, 4]
    version = registered["version"]
    await bot.tree.sync()  # same command set: Discord keeps the id and the version
    assert emu.command_put_count == 2 and emu.global_commands[0]["version"] == version

    handle = await emu.slash_command(
        "video",
        {"prompt": "a cat surfing", "seconds": 8},
        attachments=[("cat photo.png", b"\x89PNG-fake", "image/png")],
    )
    response = await handle.wait_response()
    assert response.type == 5 and response.ephemeral and response.flags == FLAG_EPHEMERAL
    followup = await handle.wait_followup()
    assert emu.cdn_requests and emu.cdn_requests[0].startswith("/ephemeral-attachments/")
    assert seen == {
        "prompt": "a cat surfing",
        "seconds": 8,
        "image": b"\x89PNG-fake",
        "filename": "cat_photo.png",
        "content_type": "image/png",
        "limit": 10 * MiB,
    }
    # The first followup after a defer fills the "thinking" message and keeps the defer's ephemerality.
    assert followup["id"] == handle.original["id"]
    assert followup["flags"] & FLAG_EPHEMERAL
    assert handle.followup_bodies[0]["flags"] == FLAG_EPHEMERAL
    assert handle.texts() == ["Queued: a cat surfing\nVideo\nETA 1m"]
    assert emu.messages(emu.channel) == []  # ephemeral: nothing visible in the channel
    options = handle.payload["data"]["options"]
    assert [(o["name"], o["type"]) for o in options] == [("prompt", 3), ("image", 11), ("seconds", 4)]
    assert options[2]["value"] == 8
    with pytest.raises(ValueError, match="INTEGER"):
        await emu.slash_command(
            "video", {"prompt": "x", "seconds": 1.5}, attachments=[("a.png", b"1", "image/png")]
        )
    assert emu.spec_violations == []


async def test_late_answer_gets_unknown_interaction(emu: DiscordEmulator, start_bot: StartBot) -> None:
    emu.ack_deadline = 0.3
    bot = make_bot()
    errors: list[discord.HTTPException] = []

    @bot.tree.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.5)
        try:
            await interaction.response.defer()
        except discord.HTTPException as e:
            errors.append(e)

    @bot.tree.command(name="fast", description="Answers at once")
    async def fast(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("done")

    await start_bot(bot)
    await bot.tree.sync()
    handle = await emu.slash_command("slow")
    record = await handle.wait_response()
    assert (record.status, record.error_code) == (404, 10062)
    assert not handle.acknowledged
    await emu.wait_for(lambda: errors)
    assert isinstance(errors[0], discord.NotFound) and errors[0].code == 10062

    fast_handle = await emu.slash_command("fast")
    await fast_handle.wait_response()
    assert fast_handle.original is not None and fast_handle.original["content"] == "done"
    assert emu.messages(emu.channel)[-1]["content"] == "done"
    # A second answer to the same interaction: 40060.
    url = f"{emu.api_base}/interactions/{fast_handle.id}/{fast_handle.token}/callback"
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"type": 4, "data": {"content": "again"}}) as resp,
    ):
        assert resp.status == 400 and resp.headers["Content-Type"] == "application/json"
        assert (await resp.json())["code"] == 40060
    assert emu.spec_violations == []


class VideoModal(discord.ui.Modal, title="New video"):
    prompt: discord.ui.Label = discord.ui.Label(
        text="Prompt",
        component=discord.ui.TextInput(custom_id="prompt", style=discord.TextStyle.paragraph, max_length=500),
    )
    model: discord.ui.Label = discord.ui.Label(
        text="Model",
        component=discord.ui.Select(
            custom_id="model",
            options=[
                discord.SelectOption(label="Grok Video 3 Max", value="grok_video3_max"),
                discord.SelectOption(label="Grok Video 3 Fast", value="grok_video3_fast", default=True),
            ],
        ),
    )
    seed = discord.ui.TextInput(label="Seed", custom_id="seed", required=False)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        assert isinstance(self.prompt.component, discord.ui.TextInput)
        assert isinstance(self.model.component, discord.ui.Select)
        await interaction.response.send_message(
            f"{self.prompt.component.value} | {self.model.component.values[0]} | seed={self.seed.value or '-'}",
            ephemeral=True,
        )


async def test_modal_round_trip(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = make_bot()

    @bot.tree.command(name="compose", description="Open the video form")
    async def compose(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(VideoModal())

    await start_bot(bot)
    await bot.tree.sync()
    opened = await emu.slash_command("compose")
    record = await opened.wait_response()
    assert record.type == 9 and opened.modal is not None
    assert [c["type"] for c in opened.modal["components"]] == [18, 18, 1]

    submitted = await emu.submit_modal(opened, {"prompt": "a fox in snow", "model": "grok_video3_max"})
    answer = await submitted.wait_response()
    assert answer.type == 4 and answer.ephemeral
    assert submitted.text() == "a fox in snow | grok_video3_max | seed=-"
    data = submitted.payload["data"]
    assert data["components"][0]["component"] == {
        "type": 4,
        "id": data["components"][0]["component"]["id"],
        "custom_id": "prompt",
        "value": "a fox in snow",
    }
    with pytest.raises(ValueError, match="not among its options"):
        await emu.submit_modal(opened, {"prompt": "x", "model": "grok_imagine"})
    with pytest.raises(KeyError, match="no inputs"):
        await emu.submit_modal(opened, {"prompt": "x", "duration": "5"})
    assert emu.spec_violations == []


class RetryButton(discord.ui.DynamicItem[discord.ui.Button], template=r"retry:(?P<task_id>\d+)"):
    def __init__(self, task_id: int) -> None:
        super().__init__(discord.ui.Button(label="Retry", custom_id=f"retry:{task_id}"))
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: Any
    ) -> RetryButton:
        return cls(int(match["task_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(content=f"Retrying task {self.task_id}", view=None)


class StatusView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Status", custom_id="status:persistent")
    async def status(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message("Still rendering", ephemeral=True)


class ButtonBot(commands.Bot):
    async def setup_hook(self) -> None:
        self.add_dynamic_items(RetryButton)
        self.add_view(StatusView())


async def test_buttons_survive_a_restart(emu: DiscordEmulator, start_bot: StartBot) -> None:
    intents = discord.Intents.default()
    first = await start_bot(ButtonBot(command_prefix="!", intents=intents, guild_ready_timeout=0.1))
    channel = first.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    view = discord.ui.View(timeout=None)
    view.add_item(RetryButton(42))
    failed = await channel.send("Task 42 failed", view=view)
    status = await channel.send("Rendering…", view=StatusView())
    await first.close()

    # A new process: the views come back from setup_hook only.
    await start_bot(ButtonBot(command_prefix="!", intents=intents, guild_ready_timeout=0.1))
    assert emu.identify_count == 2
    click = await emu.click_button(failed.id, "retry:42")
    record = await click.wait_response()
    assert record.type == 7
    updated = emu.get_message(failed.id)
    assert updated["content"] == "Retrying task 42" and updated["components"] == []

    click2 = await emu.click_button(status.id, "status:persistent")
    assert (await click2.wait_response()).type == 4
    assert click2.ephemeral and click2.text() == "Still rendering"
    with pytest.raises(LookupError):
        await emu.click_button(status.id, "nope")
    assert emu.spec_violations == []


async def test_multipart_upload_is_stored_and_served_back(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = await start_bot(make_bot())
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    payload = os.urandom(1 * MiB + 123)
    sent = await channel.send(
        "Here is your video",
        file=discord.File(io.BytesIO(payload), "clip.mp4"),
        embed=discord.Embed(title="Done"),
    )
    [attachment] = sent.attachments
    assert attachment.size == len(payload) and attachment.content_type == "video/mp4"
    assert await attachment.read() == payload  # through discord.py's CDN fetch
    async with aiohttp.ClientSession() as session, session.get(attachment.url) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
        assert await resp.read() == payload
    [stored] = emu.messages(emu.channel)
    assert emu.file_bytes(stored["attachments"][0]) == payload
    assert emu.file_bytes(attachment.url) == payload
    [request] = emu.requests_to("POST", r"^/channels/\d+/messages$")
    assert request.multipart and request.files == [("clip.mp4", payload, "application/octet-stream")]
    assert request.json["content"] == "Here is your video"
    fetched = await channel.fetch_message(sent.id)
    assert fetched.attachments[0].filename == "clip.mp4" and fetched.embeds[0].title == "Done"
    edited = await sent.edit(content="Edited", attachments=[])
    assert edited.attachments == [] and emu.get_message(sent.id)["content"] == "Edited"
    assert emu.spec_violations == []


async def test_upload_over_the_limit_is_413(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = await start_bot(make_bot())
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    too_big = b"\0" * (10 * MiB + 1)
    with pytest.raises(discord.HTTPException) as info:
        await channel.send(file=discord.File(io.BytesIO(too_big), "big.mp4"))
    assert info.value.status == 413 and info.value.code == 40005
    assert emu.messages(emu.channel) == []

    await emu.set_premium_tier(emu.guild, 2)
    await emu.wait_for(lambda: channel.guild.filesize_limit == 50 * MiB)
    sent = await channel.send(file=discord.File(io.BytesIO(too_big), "big.mp4"))
    assert sent.attachments[0].size == len(too_big)
    assert emu.spec_violations == []


async def test_missing_permissions_are_403(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = await start_bot(make_bot())
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)

    def same_as_discord_py() -> bool:
        # the emulator's computation agrees with discord.py's (which also drops voice bits in text channels)
        voice = discord.Permissions.voice().value
        return (
            emu.permissions_for(emu.bot_user, emu.channel) & ~voice
            == channel.permissions_for(channel.guild.me).value & ~voice
        )

    await emu.set_bot_channel_permissions(emu.channel, deny=Perm.EMBED_LINKS)
    await emu.wait_for(lambda: not channel.permissions_for(channel.guild.me).embed_links)
    assert same_as_discord_py()
    with pytest.raises(discord.Forbidden) as info:
        await channel.send(embed=discord.Embed(title="x"))
    assert info.value.code == 50013
    await channel.send("plain text still works")

    await emu.set_bot_channel_permissions(emu.channel, deny=Perm.ATTACH_FILES)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send(file=discord.File(io.BytesIO(b"x"), "x.txt"))
    assert info.value.code == 50013

    await emu.set_bot_channel_permissions(emu.channel, deny=Perm.SEND_MESSAGES)
    await emu.wait_for(lambda: not channel.permissions_for(channel.guild.me).send_messages)
    assert not channel.permissions_for(channel.guild.me).embed_links  # implicitly denied, as Discord does
    assert same_as_discord_py() and not emu.permissions_for(emu.bot_user, emu.channel) & Perm.EMBED_LINKS
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hi")
    assert info.value.code == 50013

    await emu.set_bot_channel_permissions(emu.channel, deny=Perm.VIEW_CHANNEL)
    with pytest.raises(discord.Forbidden) as info:
        await channel.send("hi")
    assert info.value.code == 50001

    # administrator overrides every overwrite
    bot_role = next(r for r in emu.guild.roles.values() if r.bot_id == emu.bot_user.id)
    await emu.set_role_permissions(bot_role, Perm.ADMINISTRATOR)
    await emu.wait_for(lambda: channel.permissions_for(channel.guild.me).administrator)
    assert same_as_discord_py()
    await channel.send(embed=discord.Embed(title="admin"))
    assert emu.spec_violations == []


async def test_dm_to_a_user_refusing_dms_is_50007(emu: DiscordEmulator, start_bot: StartBot) -> None:
    shy = emu.add_user("shy", refuses_dms=True)
    emu.add_member(emu.guild, shy)
    bot = await start_bot(make_bot())
    user = await bot.fetch_user(shy.id)
    dm = await user.create_dm()
    assert dm.id == emu.dm_channel(shy).id
    with pytest.raises(discord.Forbidden) as info:
        await user.send("your video is ready")
    assert info.value.code == 50007

    friendly = await bot.fetch_user(emu.default_user.id)
    await friendly.send("your video is ready")
    dm_message = await emu.wait_for_message(
        emu.default_user, lambda m: m["author"]["id"] == str(emu.bot_user.id)
    )
    assert dm_message["content"] == "your video is ready"
    assert emu.spec_violations == []


async def test_deleted_channel_is_unknown(emu: DiscordEmulator, start_bot: StartBot) -> None:
    videos = emu.add_text_channel(emu.guild, "videos")
    bot = await start_bot(make_bot())
    channel = bot.get_channel(videos.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("first")
    await emu.delete_channel(videos)
    await emu.wait_for(lambda: bot.get_channel(videos.id) is None)
    with pytest.raises(discord.NotFound) as info:
        await channel.send("second")
    assert info.value.code == 10003
    with pytest.raises(discord.NotFound):
        await bot.fetch_channel(videos.id)
    assert emu.spec_violations == []


async def test_without_message_content_intent_content_is_stripped(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    bot = make_bot(message_content=False)
    received: list[discord.Message] = []

    @bot.event
    async def on_message(message: discord.Message) -> None:
        received.append(message)

    await start_bot(bot)
    assert not emu.last_identify["intents"] & Intent.MESSAGE_CONTENT  # type: ignore[index]
    plain = await emu.post_message(
        emu.channel, emu.owner, "make a video of a cat", attachments=[("ref.png", b"img", "image/png")]
    )
    await emu.wait_for(lambda: len(received) == 1)
    assert received[0].content == "" and received[0].attachments == []

    mention = await emu.post_message(
        emu.channel, emu.default_user, f"<@{emu.bot_user.id}> a dog please", reference=plain
    )
    await emu.wait_for(lambda: len(received) == 2)
    msg = received[1]
    assert msg.content == f"<@{emu.bot_user.id}> a dog please"
    assert (
        bot.user in msg.mentions
        and msg.reference is not None
        and msg.reference.message_id == int(plain["id"])
    )
    # the replied-to message does not mention the bot: its content is stripped too
    assert isinstance(msg.reference.resolved, discord.Message) and msg.reference.resolved.content == ""
    # a reply pings the replied-to author (owner); the bot got its mention
    assert emu.pings(emu.owner) == [int(mention["id"])] and emu.pings(emu.bot_user) == [int(mention["id"])]
    # REST follows the same rule
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    assert (await channel.fetch_message(int(plain["id"]))).content == ""
    assert (await channel.fetch_message(int(mention["id"]))).content.endswith("a dog please")
    # DMs always carry content
    await emu.post_message(emu.default_user, emu.default_user, "hello in private")
    await emu.wait_for(lambda: len(received) == 3)
    assert received[2].content == "hello in private" and received[2].guild is None
    assert emu.spec_violations == []


async def test_privileged_intent_not_allowed_closes_4014(emu: DiscordEmulator, start_bot: StartBot) -> None:
    emu.message_content_allowed = False
    bot = make_bot(message_content=True)
    await start_bot(bot, wait_ready=False)
    task = next(t for t in asyncio.all_tasks() if t.get_name() == "bot-0")
    with pytest.raises(discord.PrivilegedIntentsRequired):
        await asyncio.wait_for(task, 5.0)
    assert emu.gateway_close_codes[-1] == 4014
    assert emu.identify_count == 1 and emu.open_connections == 0


async def test_second_client_reconnects_after_the_first_closed(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    first = make_bot()

    @first.tree.command(name="ping", description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    await start_bot(first)
    await first.tree.sync()
    channel = first.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("before restart")
    await first.close()
    await emu.wait_for(lambda: emu.open_connections == 0)

    second = make_bot()

    @second.tree.command(name="ping", description="Ping")
    async def ping2(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong from the second")

    await start_bot(second)
    assert emu.identify_count == 2 and emu.open_connections == 1
    fetched = await second.tree.fetch_commands()
    assert [c.name for c in fetched] == ["ping"]  # the registration survived the restart, no re-sync
    assert emu.command_put_count == 1
    channel2 = second.get_channel(emu.channel.id)
    assert isinstance(channel2, discord.TextChannel)
    assert (await channel2.fetch_message(sent.id)).content == "before restart"
    handle = await emu.slash_command("ping")
    await handle.wait_response()
    assert handle.text() == "pong from the second"
    assert emu.spec_violations == []


class QuickReidentifyBot(commands.Bot):
    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        pass  # discord.py sleeps 5 s before every non-initial IDENTIFY; not needed against the emulator


async def test_rejected_resume_leads_to_a_fresh_identify(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = QuickReidentifyBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
    connects: list[str] = []

    async def on_connect() -> None:
        connects.append("connect")

    bot.add_listener(on_connect)
    await start_bot(bot)
    await emu.disconnect_all(code=4000)  # discord.py tries to RESUME; the emulator answers op 9 (false)
    await emu.wait_identified(count=2)
    assert emu.resume_count == 0
    await emu.wait_for(lambda: len(connects) >= 2)
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    await channel.send("still here")
    assert emu.spec_violations == []


async def test_accepted_resume_replays_missed_events(emu: DiscordEmulator, start_bot: StartBot) -> None:
    emu.allow_resume = True
    bot = make_bot()
    received: list[str] = []

    @bot.event
    async def on_message(message: discord.Message) -> None:
        received.append(message.content)

    await start_bot(bot)
    await emu.disconnect_all(code=4000)
    await emu.post_message(emu.channel, emu.default_user, "sent while the bot was away")
    await emu.wait_for(lambda: emu.resume_count == 1)
    await emu.wait_for(lambda: received == ["sent while the bot was away"])
    assert emu.identify_count == 1
    assert emu.spec_violations == []


async def test_autocomplete_and_message_context_menu(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = make_bot()
    models = ["grok_video3_max", "grok_video3_fast", "grok_imagine"]

    async def model_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=m, value=m) for m in models if current in m]

    @bot.tree.command(name="video", description="Make a video")
    @app_commands.autocomplete(model=model_choices)
    async def video(interaction: discord.Interaction, prompt: str, model: str) -> None:
        await interaction.response.send_message(f"{prompt} with {model}")

    @bot.tree.context_menu(name="Make video")
    async def make_video(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"video from: {message.content}", ephemeral=True)

    await start_bot(bot)
    await bot.tree.sync()
    choices = await emu.autocomplete("video", {"prompt": "cat", "model": "video3"}, focused="model")
    assert [c["value"] for c in choices] == ["grok_video3_max", "grok_video3_fast"]

    target = await emu.post_message(emu.channel, emu.default_user, "a lighthouse at dusk")
    handle = await emu.message_context_menu("Make video", target)
    await handle.wait_response()
    assert handle.ephemeral and handle.text() == "video from: a lighthouse at dusk"
    assert handle.original is not None and handle.original["type"] == 23
    assert emu.spec_violations == []


async def test_webhook_token_expires_and_injected_errors(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = make_bot()
    interactions: list[discord.Interaction] = []

    @bot.tree.command(name="later", description="Answer later")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        interactions.append(interaction)

    await start_bot(bot)
    await bot.tree.sync()
    handle = await emu.slash_command("later")
    await handle.wait_response()
    await emu.wait_for(lambda: interactions)
    await interactions[0].edit_original_response(content="Queued (1/2)")
    await interactions[0].followup.send("Another note")
    assert handle.texts() == ["Queued (1/2)", "Another note"]
    assert [r["content"] for r in emu.messages(emu.channel)] == ["Queued (1/2)", "Another note"]

    emu.advance_clock(15 * 60 + 1)
    with pytest.raises(discord.HTTPException) as info:
        await interactions[0].followup.send("too late")
    assert info.value.status == 401 and info.value.code == 50027

    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    emu.inject_rest_error("POST", r"^/channels/\d+/typing$", 429)  # discord.py waits retry_after, retries
    await channel.typing()
    assert [r.status for r in emu.requests_to("POST", "/typing$")] == [429, 204]
    emu.inject_rest_error("POST", r"^/channels/\d+/messages$", 503)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("hiccup")
    await channel.send("recovered")
    assert emu.messages(emu.channel)[-1]["content"] == "recovered"
    assert emu.spec_violations == []


async def test_guild_group_commands_dm_and_rest_fetches(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = make_bot()
    guild_obj = discord.Object(id=emu.guild.id)
    admin = app_commands.Group(name="admin", description="Admin tools", guild_ids=[emu.guild.id])

    @admin.command(name="quota", description="Set a member's daily quota")
    async def quota(
        interaction: discord.Interaction, member: discord.Member, videos: app_commands.Range[int, 0, 50]
    ) -> None:
        await interaction.response.send_message(
            f"{member.display_name}: {videos}/day", file=discord.File(io.BytesIO(b"report"), "quota.txt")
        )

    @bot.tree.command(name="ping", description="Ping")
    async def ping(interaction: discord.Interaction) -> None:
        where = "DM" if interaction.guild is None else interaction.guild.name
        await interaction.response.send_message(f"pong in {where}")

    bot.tree.add_command(admin)
    await start_bot(bot)
    await bot.tree.sync()
    await bot.tree.sync(guild=guild_obj)
    assert [c["name"] for c in emu.guild_commands[emu.guild.id]] == ["admin"]
    assert [c["name"] for c in emu.global_commands] == ["ping"]

    handle = await emu.slash_command("admin", {"member": emu.default_user, "videos": 7}, subcommand="quota")
    await handle.wait_response()
    assert handle.text() == "alice: 7/day"
    [attachment] = handle.original["attachments"]  # type: ignore[index]
    assert emu.file_bytes(attachment) == b"report"
    assert handle.payload["data"]["guild_id"] == str(emu.guild.id)
    assert str(emu.default_user.id) in handle.payload["data"]["resolved"]["members"]
    with pytest.raises(ValueError, match="outside"):
        await emu.slash_command("admin", {"member": emu.default_user, "videos": 99}, subcommand="quota")

    dm = await emu.slash_command("ping", channel=emu.dm_channel(emu.default_user))
    await dm.wait_response()
    assert dm.text() == "pong in DM" and dm.payload["context"] == 1

    fetched_guild = await bot.fetch_guild(emu.guild.id)
    assert fetched_guild.name == "Test Guild" and fetched_guild.premium_tier == 0
    member = await fetched_guild.fetch_member(emu.default_user.id)
    assert member.name == "alice"
    assert [c.name for c in await fetched_guild.fetch_channels()] == ["general"]
    channel = bot.get_channel(emu.channel.id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("one")
    await channel.send("two")
    assert [m.content async for m in channel.history(limit=10)][:3] == ["two", "one", "alice: 7/day"]
    await first.delete()
    assert [m["content"] for m in emu.messages(emu.channel)] == ["alice: 7/day", "two"]
    await first.channel.typing()
    assert emu.gateway_queries[-1]["compress"] == "zlib-stream"
    assert emu.spec_violations == []


async def test_followup_message_routes(emu: DiscordEmulator, start_bot: StartBot) -> None:
    bot = make_bot()

    @bot.tree.command(name="render", description="Render")
    async def render(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Queued")
        note = await interaction.followup.send("progress 10%", wait=True)
        await note.edit(content="progress 100%")
        original = await interaction.original_response()
        await original.edit(content=f"{original.content} -> done")
        await interaction.followup.send(file=discord.File(io.BytesIO(b"v" * 64), "video.mp4"), ephemeral=True)
        await note.delete()

    await start_bot(bot)
    await bot.tree.sync()
    handle = await emu.slash_command("render")
    await handle.wait_for(lambda h: len(h.followup_ids) == 2 and h.followups and len(h.followups) == 1)
    assert handle.texts() == ["Queued", "progress 10%", "progress 100%", "Queued -> done"]
    [video] = handle.followups
    assert video["flags"] & FLAG_EPHEMERAL and video["attachments"][0]["filename"] == "video.mp4"
    assert [b.get("flags", 0) for b in handle.followup_bodies] == [0, FLAG_EPHEMERAL]
    assert [m["content"] for m in emu.messages(emu.channel)] == ["Queued -> done"]
    assert emu.spec_violations == []


SUBPROCESS_BOT = """
import os, discord, yarl
from discord.ext import commands
discord.http.Route.BASE = os.environ["DISCORD_API_BASE_URL"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
bot = commands.Bot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)

@bot.tree.command(name="ping", description="Ping")
async def ping(interaction):
    await interaction.response.send_message(f"pong from {os.getpid()}")

@bot.event
async def on_ready():
    if os.environ.get("SYNC"):
        await bot.tree.sync()
    print("ready", flush=True)

bot.run(os.environ["DISCORD_TOKEN"], log_handler=None)
"""


async def test_subprocess_bot_killed_and_restarted(emu: DiscordEmulator) -> None:
    async def launch(**extra: str) -> asyncio.subprocess.Process:
        env = {**os.environ, **emu.env(), "DISCORD_TOKEN": TOKEN, **extra}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SUBPROCESS_BOT, env=env, stdout=asyncio.subprocess.PIPE
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 15.0)
        assert line.strip() == b"ready"
        return proc

    procs: list[asyncio.subprocess.Process] = []
    try:
        first = await launch(SYNC="1")
        assert emu.command_put_count == 1
        first.kill()  # SIGKILL: no goodbye on the websocket
        await first.wait()
        await emu.wait_for(lambda: emu.open_connections == 0)
        second = await launch()
        assert emu.identify_count == 2 and emu.command_put_count == 1
        handle = await emu.slash_command("ping")
        await handle.wait_response()
        assert handle.text() == f"pong from {second.pid}"
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert emu.spec_violations == []


def test_spec_validator_flags_what_discord_would_not_send() -> None:
    v = get_validator()
    assert v.find_operation("PATCH", "/webhooks/1/tok/messages/@original").template.endswith("@original")
    # discord.py sends some snowflakes as integers in requests: tolerated
    assert (
        v.validate_request(
            "POST", "/channels/1/messages", {"content": "x", "message_reference": {"message_id": 5}}
        )
        == []
    )
    assert v.validate_request("POST", "/channels/1/messages", {"content": 5})
    # but a response must carry string ids and the required fields
    assert v.validate_response("GET", "/users/1", 200, {"id": 1, "username": "x"})
    assert (
        v.validate_response("POST", "/channels/1/messages", 403, {"code": 50013, "message": "Missing"}) == []
    )
    assert v.validate_response("DELETE", "/channels/1/messages/2", 204, None) == []
    assert v.validate_request("GET", "/no/such/route", None)


#: Routes the emulator serves that Discord's OpenAPI description lacks (rest.py's UNDESCRIBED_ROUTES says
#: where each one's shape comes from). POST /attachments/refresh-urls: Discord's "Signed Attachment CDN URLs".
ALLOWED_UNDESCRIBED_ROUTES = {("POST", r"/attachments/refresh-urls")}


def test_spec_excerpt_has_an_operation_for_every_route() -> None:
    """The excerpt is current: a route added without rerunning scripts/make_discord_spec_excerpt.py fails here."""
    root = Path(__file__).resolve().parents[1]
    assert SPEC_PATH.resolve().is_relative_to(root), "the description must be read from inside the repository"
    excerpt = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    served: set[tuple[str, str]] = set()
    for method, pattern, handler, _auth in REST_ROUTES:
        templates = operations_served(excerpt, method, pattern)
        assert templates, f"{method} {pattern} ({handler}): no operation in {SPEC_PATH.name}; regenerate it"
        served.update((method.lower(), template) for template in templates)
    described = {(m, t) for t, item in excerpt["paths"].items() for m in item if m in METHODS}
    assert described == served, f"operations no route serves: {sorted(described - served)}; regenerate"
    # The only routes served without an operation: Discord documents them, its description lacks them.
    # Each must be listed here by name, and must leave this list once the description gains it.
    assert {(m, p) for m, p, _h, _a in UNDESCRIBED_ROUTES} == ALLOWED_UNDESCRIBED_ROUTES
    validator = get_validator()
    for method, pattern, handler, _auth in UNDESCRIBED_ROUTES:
        assert not operations_served(excerpt, method, pattern), f"{handler}: described now; move it"
        assert validator.find_operation(method, pattern) is None, "its pattern is a literal path"


def test_message_text_reads_everything_a_user_sees() -> None:
    message = {
        "content": "hi",
        "embeds": [
            {"title": "T", "description": "D", "fields": [{"name": "Model", "value": "grok", "inline": True}]}
        ],
        "components": [{"type": 17, "components": [{"type": 10, "content": "status: done"}]}],
    }
    assert message_text(message) == "hi\nT\nD\nModel\ngrok\nstatus: done"


async def test_cdn_links_are_signed_expire_and_refresh(emu: DiscordEmulator) -> None:
    """Attachment links carry ex/is/hm; each read of the message signs them anew; expire_cdn_urls() kills
    every link issued so far (404), a hand-edited one is refused (403), and POST /attachments/refresh-urls
    answers fresh links for the files that still exist and nothing for a deleted message's."""
    kept = await emu.post_message(emu.channel, content="a", attachments=[("a.png", b"A", "image/png")])
    dropped = await emu.post_message(emu.channel, content="b", attachments=[("b.png", b"B", "image/png")])
    old_a, old_b = kept["attachments"][0]["url"], dropped["attachments"][0]["url"]
    auth = {"Authorization": f"Bot {TOKEN}"}
    async with aiohttp.ClientSession() as http:

        async def status(url: str) -> int:
            async with http.get(url) as response:
                return response.status

        assert await status(old_a) == 200 and {"ex", "is", "hm"} <= set(parse_qs(urlsplit(old_a).query))
        assert await status(old_a.replace("hm=", "hm=0")) == 403
        emu.expire_cdn_urls()
        assert await status(old_a) == 404 and await status(old_b) == 404
        async with http.get(
            f"{emu.api_base}/channels/{emu.channel.id}/messages/{kept['id']}", headers=auth
        ) as r:
            reread = (await r.json())["attachments"][0]["url"]
        assert reread != old_a and await status(reread) == 200
        await emu.delete_user_message(dropped)
        body = {"attachment_urls": [old_a, old_b]}
        async with http.post(f"{emu.api_base}/attachments/refresh-urls", json=body, headers=auth) as r:
            assert r.status == 200
            [pair] = (await r.json())["refreshed_urls"]
        assert pair["original"] == old_a and await status(pair["refreshed"]) == 200
        async with http.post(
            f"{emu.api_base}/attachments/refresh-urls", json={"attachment_urls": []}, headers=auth
        ) as r:
            assert r.status == 400
    assert emu.refresh_requests == [[old_a, old_b]]
