"""End to end: Regenerate a week later, when Discord's links to the reference images have expired.

The real bot, the loopback Discord (its CDN signs links with ex/is/hm; `expire_cdn_urls()` is the day passing)
and the loopback Grok API. Each test asserts on what the provider received and what the CDN serves for it."""

from __future__ import annotations

import dataclasses
from typing import Any

import aiohttp
import pytest

from bot.core.store import NewTask
from bot.discord.views import result_view
from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI

CAT = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DOG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 80
GONE = "The images of this video are no longer on Discord, so it can't be made again."


async def cdn_get(url: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read()


def attachment_ids(urls: list[str]) -> list[str]:
    return [url.split("?")[0].rsplit("/", 2)[-2] for url in urls]


async def wait_result(emu: DiscordEmulator, task_id: int) -> dict[str, Any]:
    """The delivery message of a task: it mentions the requester and carries the task's buttons."""

    def delivered(m: dict[str, Any]) -> bool:
        ids = [c.get("custom_id") for row in m.get("components", []) for c in row.get("components", [])]
        return m.get("content", "").startswith("<@") and f"grokvideo:regen:{task_id}" in ids

    return await emu.wait_for_message(emu.channel, delivered, timeout=10)


async def ask_from_message(emu: DiscordEmulator, mode: str) -> dict[str, Any]:
    """A member asks for a video from a message's two images, in reply mode or with the message menu; returns
    that message."""
    member = emu.default_user
    original = await emu.post_message(
        emu.channel,
        member,
        "my pets",
        attachments=[("cat.png", CAT, "image/png"), ("dog.png", DOG, "image/png")],
    )
    if mode == "reply":
        await emu.post_message(
            emu.channel,
            member,
            f"<@{emu.bot_user.id}> they wave",
            reference=original,
            mentions=[emu.bot_user],
        )
    else:
        h = await emu.message_context_menu("Animate with Grok", original, user=member)
        await h.wait_for(lambda handle: handle.modal is not None)
        submit = await emu.submit_modal(h, {"prompt": "they wave", "model": ["grok_video3"]})
        await submit.wait_text("queued")
    return original


async def regenerate(emu: DiscordEmulator, result: dict[str, Any], task_id: int) -> str:
    """Click the task's Regenerate button as its requester; the private answer's text."""
    h = await emu.click_button(result, f"grokvideo:regen:{task_id}", user=emu.default_user)
    await h.wait_for(lambda handle: "queued" in handle.text() or "Can't" in handle.text())
    assert h.ephemeral
    return h.text()


@pytest.mark.parametrize("mode", ["reply", "context"])
async def test_regenerate_reads_the_origin_message_again_for_current_links(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, mode: str
) -> None:
    await start_bot()
    original = await ask_from_message(emu, mode)
    result = await wait_result(emu, 1)
    first = grok_api.creates[0]["image_urls"]
    assert [(await cdn_get(u))[1] for u in first] == [CAT, DOG]

    emu.expire_cdn_urls()  # a week later
    assert [(await cdn_get(u))[0] for u in first] == [404, 404], "the stored links are dead now"
    reads_before = len(emu.requests_to("GET", rf"/messages/{original['id']}$"))
    assert "queued" in await regenerate(emu, result, 1)
    second = grok_api.creates[1]["image_urls"]
    assert second != first and attachment_ids(second) == attachment_ids(first), "same attachments, new links"
    assert [await cdn_get(u) for u in second] == [(200, CAT), (200, DOG)]
    assert len(emu.requests_to("GET", rf"/messages/{original['id']}$")) == reads_before + 1
    assert emu.refresh_requests == [], "a message's images come from the message"

    # Regenerating the regenerated video a week later still goes back to the first message.
    emu.expire_cdn_urls()
    assert "queued" in await regenerate(emu, await wait_result(emu, 2), 2)
    third = grok_api.creates[2]["image_urls"]
    assert attachment_ids(third) == attachment_ids(first) and not set(third) & (set(first) | set(second))
    assert [await cdn_get(u) for u in third] == [(200, CAT), (200, DOG)]


async def test_regenerate_of_a_slash_command_refreshes_its_attachment_links(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    h = await emu.slash_command(
        "video", {"prompt": "the cat yawns"}, attachments=[("cat.png", CAT, "image/png")]
    )
    await h.wait_text("queued")
    result = await wait_result(emu, 1)
    [old] = grok_api.creates[0]["image_urls"]
    assert "/ephemeral-attachments/" in old and "ex=" in old and "hm=" in old

    emu.expire_cdn_urls()
    assert (await cdn_get(old))[0] == 404
    assert "queued" in await regenerate(emu, result, 1)
    [new] = grok_api.creates[1]["image_urls"]
    assert new != old and attachment_ids([new]) == attachment_ids([old])
    assert await cdn_get(new) == (200, CAT)
    assert emu.refresh_requests == [[old]]
    [call] = emu.requests_to("POST", r"^/attachments/refresh-urls$")
    assert call.authorized and call.status == 200
    assert call.response == {"refreshed_urls": [{"original": old, "refreshed": new}]}


@pytest.mark.parametrize("loss", ["message deleted", "one attachment removed"])
async def test_regenerate_whose_images_are_gone_is_refused_privately(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, loss: str
) -> None:
    bot = await start_bot()
    original = await ask_from_message(emu, "reply")
    result = await wait_result(emu, 1)
    if loss == "message deleted":
        await emu.delete_user_message(original)
    else:
        await emu.remove_user_attachments(original, keep=original["attachments"][:1])
    emu.expire_cdn_urls()

    h = await emu.click_button(result, "grokvideo:regen:1", user=emu.default_user)
    text = await h.wait_text("no longer on Discord")
    assert h.ephemeral and GONE in text and "Post them again and use /video or reply mode." in text
    assert len(grok_api.creates) == 1, "nothing spent"
    assert await bot.store.get(2) is None, "no task written either"


async def test_a_link_from_elsewhere_is_sent_unchanged_next_to_a_refreshed_one(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    member = emu.default_user
    h = await emu.slash_command(
        "video", {"prompt": "the cat yawns"}, attachments=[("cat.png", CAT, "image/png")]
    )
    await h.wait_text("queued")
    await wait_result(emu, 1)
    first = await bot.store.get(1)
    assert first is not None
    [discord_link] = first.request.image_urls
    # A task whose request holds a link to another host (written by another surface or version of the bot),
    # with query parameters that look like Discord's signature: it is not Discord's, so it is left alone.
    elsewhere = "https://images.example.org/attachments/1/2/fox.png?ex=1&is=1&hm=ab"
    request = dataclasses.replace(first.request, image_urls=(elsewhere, discord_link))
    task = await bot.store.create_task(
        NewTask("slash", first.guild_id, first.channel_id, member.id, request, first.billed_seconds)
    )
    channel = bot.get_channel(first.channel_id)
    posted = await channel.send(f"Task #{task.id}", view=result_view(task))  # type: ignore[union-attr]

    emu.expire_cdn_urls()
    assert "queued" in await regenerate(emu, {"id": str(posted.id)}, task.id)
    sent = grok_api.creates[-1]["image_urls"]
    assert sent[0] == elsewhere
    assert sent[1] != discord_link and await cdn_get(sent[1]) == (200, CAT)
    assert emu.refresh_requests == [[discord_link]], "only the Discord link is refreshed"
