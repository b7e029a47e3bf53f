"""End to end in threads and forum posts: the real bot over a real websocket to the loopback Discord, real HTTP
to the loopback Grok API. A thread is its own channel for messages (the status message and the video go there)
but takes its permissions from its parent, with Send Messages in Threads in place of Send Messages."""

from __future__ import annotations

from typing import cast

import aiohttp
import discord
import pytest

from tests.conftest import BOT_TOKEN, StartBot
from tests.fakes.discord import PUBLIC_THREAD, DiscordEmulator, Perm, message_text
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def bot_messages(emu: DiscordEmulator, channel: object) -> list[dict]:
    return [m for m in emu.messages(channel) if int(m["author"]["id"]) == int(emu.bot_user.id)]


def bot_posts_to(emu: DiscordEmulator) -> list[str]:
    """Where the bot created messages, in order (REST paths, as the API received them)."""
    return [r.path for r in emu.requests_to("POST", r"/channels/\d+/messages$") if r.status == 200]


async def wait_result(emu: DiscordEmulator, channel: object, timeout: float = 10.0) -> dict:
    """The delivery message: the one that mentions the requester (status messages never do)."""
    return await emu.wait_for_message(
        channel, lambda m: m.get("content", "").startswith("<@") and bool(m.get("embeds")), timeout=timeout
    )


def creates(grok_api: FakeGrokAPI) -> int:
    return len([r for r in grok_api.requests if r.endpoint == "create"])


async def test_video_made_in_a_thread_is_delivered_in_that_thread(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    # Started before the bot connects: the bot learns of it from GUILD_CREATE's threads.
    thread = await emu.add_thread(emu.channel, "fox ideas")
    assert thread.type == PUBLIC_THREAD
    await start_bot()
    # Allowing the parent channel allows its threads, as /videoadmin channel-allow says.
    allow = await emu.slash_command(
        "videoadmin", {"channel": emu.channel}, subcommand="channel-allow", user=emu.owner
    )
    await allow.wait_text("Channel allowed")

    member = emu.default_user
    h = await emu.slash_command("video", {"prompt": "a fox in the snow"}, user=member, channel=thread)
    ack = await h.wait_response()
    assert ack.type == 5 and ack.ephemeral
    await h.wait_text("queued")
    assert grok_api.creates == [
        {"model": "grok_video3", "prompt": "a fox in the snow", "duration": 10, "aspect_ratio": "16:9",
         "resolution": "720p"}
    ]  # fmt: skip

    result = await wait_result(emu, thread)
    assert result["channel_id"] == str(thread.id)
    assert result["content"].startswith(f"<@{member.id}>") and "ready" in message_text(result)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4
    status, delivered = bot_messages(emu, thread)
    assert delivered["id"] == result["id"]
    await emu.wait_for(lambda: "Done" in message_text(emu.get_message(status["id"])))
    # Members of the parent channel see nothing of it; every post went to the thread.
    assert bot_messages(emu, emu.channel) == []
    assert set(bot_posts_to(emu)) == {f"/channels/{thread.id}/messages"}


async def test_reply_mode_in_a_thread_delivers_in_the_thread(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    # Started while the bot is connected: the bot learns of it from THREAD_CREATE.
    thread = await emu.add_thread(emu.channel, "cats")
    member = emu.default_user
    original = await emu.post_message(thread, member, "my cat", attachments=[("cat.png", PNG, "image/png")])
    ask = await emu.post_message(
        thread, member, f"<@{emu.bot_user.id}> the cat waves hello --duration 6",
        reference=original, mentions=[emu.bot_user],
    )  # fmt: skip
    await grok_api.wait_for_requests(lambda r: r.endpoint == "create")
    [body] = grok_api.creates
    assert body["prompt"] == "the cat waves hello" and body["duration"] == 6
    assert len(body["image_urls"]) == 1 and emu.file_bytes(body["image_urls"][0]) == PNG

    result = await wait_result(emu, thread)
    assert result["channel_id"] == str(thread.id)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4
    status = bot_messages(emu, thread)[0]
    assert status["message_reference"]["message_id"] == ask["id"], "the status answers the member's message"
    assert status["message_reference"]["channel_id"] == str(thread.id)
    assert bot_messages(emu, emu.channel) == []


async def test_a_thread_without_send_messages_in_threads_is_refused_naming_that_permission(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    thread = await emu.add_thread(emu.channel, "quiet thread")
    # The bot may post in the channel itself, but not in its threads (the parent's overwrite decides).
    await emu.set_bot_channel_permissions(emu.channel, deny=Perm.SEND_MESSAGES_IN_THREADS)
    assert emu.permissions_for(emu.bot_user, emu.channel) & Perm.SEND_MESSAGES

    h = await emu.slash_command("video", {"prompt": "a cat"}, channel=thread)
    await h.wait_followup()
    assert h.ephemeral
    # Exactly that permission: not Send Messages (which it has), nor Embed Links / Attach Files, which Discord
    # only denies along with posting while the parent channel grants them.
    assert "I'm missing these permissions here: Send Messages in Threads." in h.text(), h.text()
    assert "Embed Links" not in h.text() and "Attach Files" not in h.text()
    assert creates(grok_api) == 0 and grok_api.requests == []
    assert bot_messages(emu, thread) == [] and bot_messages(emu, emu.channel) == []

    # With posting allowed, what the parent channel denies is named: here Attach Files, and only it.
    await emu.set_bot_channel_permissions(emu.channel, deny=Perm.ATTACH_FILES)
    h = await emu.slash_command("video", {"prompt": "a cat"}, channel=thread)
    await h.wait_followup()
    assert "I'm missing these permissions here: Attach Files." in h.text(), h.text()
    assert grok_api.requests == []


async def test_a_forum_post_works_like_a_thread(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    forum = emu.add_forum_channel(emu.guild, "showcase")
    await start_bot()
    # A forum can be put on the allowed list like a text channel; its posts are then allowed.
    allow = await emu.slash_command(
        "videoadmin", {"channel": forum}, subcommand="channel-allow", user=emu.owner
    )
    await allow.wait_text("Channel allowed")
    member = emu.default_user
    post = await emu.add_thread(forum, "my drawing", owner=member, content="look",
                                attachments=[("drawing.png", PNG, "image/png")])  # fmt: skip
    starter = emu.get_message(post.id)
    assert starter["channel_id"] == str(post.id), "a post's first message has the post's id"

    h = await emu.slash_command("video", {"prompt": "a lighthouse"}, user=member, channel=post)
    await h.wait_text("queued")
    first = await wait_result(emu, post)
    assert emu.file_bytes(first["attachments"][0]) == FAKE_MP4

    # Reply mode on the post's first message uses its image; the video lands in the post too.
    await emu.post_message(
        post, member, f"<@{emu.bot_user.id}> it comes alive", reference=starter, mentions=[emu.bot_user]
    )
    await grok_api.wait_for_requests(lambda r: r.endpoint == "create", count=2)
    assert [c["prompt"] for c in grok_api.creates] == ["a lighthouse", "it comes alive"]
    assert emu.file_bytes(grok_api.creates[1]["image_urls"][0]) == PNG
    await emu.wait_for(lambda: len([m for m in bot_messages(emu, post) if m["attachments"]]) == 2, timeout=10)
    assert set(bot_posts_to(emu)) == {f"/channels/{post.id}/messages"}
    assert emu.messages(forum) == []


async def test_threads_and_forums_have_discords_shapes_and_rules(
    emu: DiscordEmulator, start_bot: StartBot
) -> None:
    """What the emulator answers for threads is checked against Discord's OpenAPI description (the fixture
    fails on any violation), and discord.py reads it as Discord's."""
    forum = emu.add_forum_channel(emu.guild, "showcase")
    bot = await start_bot()
    thread = await emu.add_thread(emu.channel, "talk")
    post = await emu.add_thread(forum, "a post", content="hello")
    fetched = await bot.fetch_channel(thread.id)  # GET /channels/{id}: a ThreadResponse
    assert isinstance(fetched, discord.Thread) and fetched.parent_id == emu.channel.id
    assert isinstance(await bot.fetch_channel(forum.id), discord.ForumChannel)
    cached = bot.get_channel(post.id)  # from THREAD_CREATE
    assert isinstance(cached, discord.Thread) and isinstance(cached.parent, discord.ForumChannel)
    assert [t.id for t in cast(discord.ForumChannel, bot.get_channel(forum.id)).threads] == [post.id]

    # A forum takes no messages of its own; a thread needs Send Messages in Threads, not Send Messages.
    async with aiohttp.ClientSession() as http:
        answer = await http.post(f"{emu.api_base}/channels/{forum.id}/messages", json={"content": "x"},
                                 headers={"Authorization": f"Bot {BOT_TOKEN}"})  # fmt: skip
        assert answer.status == 400 and (await answer.json())["code"] == 50008
    await emu.set_bot_channel_permissions(
        emu.channel, allow=Perm.SEND_MESSAGES, deny=Perm.SEND_MESSAGES_IN_THREADS
    )
    with pytest.raises(discord.Forbidden):
        await cast(discord.Thread, bot.get_channel(thread.id)).send("hi")
    await emu.set_bot_channel_permissions(
        emu.channel, allow=Perm.SEND_MESSAGES_IN_THREADS, deny=Perm.SEND_MESSAGES
    )
    sent = await cast(discord.Thread, bot.get_channel(thread.id)).send("hi")
    assert sent.channel.id == thread.id and emu.get_message(sent.id)["channel_id"] == str(thread.id)
