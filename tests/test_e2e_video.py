"""End to end: the real bot over a real websocket to the loopback Discord, real HTTP to the loopback Grok API,
a real SQLite file. Assertions are on what members see and on what the API received."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import GROK_KEY, StartBot
from tests.fakes.discord import DiscordEmulator, Perm, message_text
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def bot_messages(emu: DiscordEmulator, channel: object) -> list[dict]:
    return [m for m in emu.messages(channel) if int(m["author"]["id"]) == int(emu.bot_user.id)]


def footer_ids(message: dict) -> list[str]:
    return [e.get("footer", {}).get("text", "") for e in message.get("embeds", [])]


async def wait_result(emu: DiscordEmulator, channel: object, timeout: float = 10.0) -> dict:
    """The delivery message: the one that mentions the requester (status messages never do)."""
    return await emu.wait_for_message(
        channel, lambda m: m.get("content", "").startswith("<@") and bool(m.get("embeds")), timeout=timeout
    )


async def test_text_to_video_is_delivered_with_identical_bytes(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    member = emu.default_user
    handle = await emu.slash_command("video", {"prompt": "  a red fox running through snow  "}, user=member)
    ack = await handle.wait_response()
    assert ack.type == 5 and ack.ephemeral, "deferred privately at once"
    await handle.wait_text("queued")
    assert grok_api.creates == [
        {"model": "grok_video3", "prompt": "a red fox running through snow", "duration": 10,
         "aspect_ratio": "16:9", "resolution": "720p"}
    ]  # fmt: skip
    result = await wait_result(emu, emu.channel)
    assert result["content"].startswith(f"<@{member.id}>")
    assert "ready" in message_text(result)
    [attachment] = result["attachments"]
    assert emu.file_bytes(attachment) == FAKE_MP4
    assert result["id"] in [str(m) for m in emu.pings(member)] or int(result["id"]) in emu.pings(member)
    # One status message (edited to Done, pings nobody) + one result message; nothing twice.
    messages = bot_messages(emu, emu.channel)
    assert len(messages) == 2
    status = messages[0]
    await emu.wait_for(lambda: "Done" in message_text(emu.get_message(status["id"])))
    assert "Task #1" in footer_ids(emu.get_message(status["id"]))[0]


async def test_pro_never_sends_a_duration_and_options_reach_the_api(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    h = await emu.slash_command("video", {"prompt": "city at night", "model": "grok_video3_pro"})
    await h.wait_text("queued")
    h = await emu.slash_command(
        "video",
        {
            "prompt": "waves",
            "model": "grok_video3_max",
            "duration": 20,
            "aspect_ratio": "9:16",
            "resolution": "480p",
        },
    )
    await h.wait_text("queued")
    assert grok_api.creates[0] == {
        "model": "grok_video3_pro",
        "prompt": "city at night",
        "aspect_ratio": "16:9",
        "resolution": "720p",
    }
    assert grok_api.creates[1] == {
        "model": "grok_video3_max",
        "prompt": "waves",
        "duration": 20,
        "aspect_ratio": "9:16",
        "resolution": "480p",
    }


INVALID = [
    ({"model": "grok_video3_max", "duration": 8}, ["6, 10, 12, 16, 20 or 30"]),
    ({"model": "grok_video3_pro", "duration": 6}, ["10"]),
    ({"model": "grok_video3_pro", "aspect_ratio": "9:16"}, ["16:9"]),
    ({"model": "grok_video3_pro", "resolution": "480p"}, ["720p"]),
    ({"model": "grok_video3_max", "aspect_ratio": "3:2"}, ["16:9", "9:16", "1:1"]),
    ({"model": "grok_video3_stable", "duration": 12}, ["6 or 10"]),
    ({"model": "grok_video3", "duration": 31}, ["6", "30"]),
    ({"model": "grok_video3", "duration": 5, "aspect_ratio": "1:1"}, ["6", "30"]),
]


async def test_invalid_combinations_are_refused_privately_without_any_api_call(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    for options, allowed in INVALID:
        # The registered duration range follows the catalogue (6–30 s over all models): Discord itself stops
        # a value outside it; a forged interaction past that check is still refused by the bot.
        outside_range = not 6 <= options.get("duration", 10) <= 30
        if outside_range:
            with pytest.raises(ValueError, match="outside"):
                await emu.slash_command("video", {"prompt": "a cat", **options})
        h = await emu.slash_command("video", {"prompt": "a cat", **options}, validate=not outside_range)
        await h.wait_followup()
        text = h.text()
        assert h.ephemeral, options
        assert all(a in text for a in allowed), (options, text)
        assert "queued" not in text
    # Too many images for grok_video3_max (5), and a non-image file.
    h = await emu.slash_command(
        "video", {"prompt": "a cat", "model": "grok_video3_max"},
        attachments=[(f"i{n}.png", PNG, "image/png") for n in range(6)],
    )  # fmt: skip
    await h.wait_followup()
    assert "up to 5 images" in h.text() and h.ephemeral
    h = await emu.slash_command(
        "video", {"prompt": "a cat"}, attachments=[("notes.txt", b"hello", "text/plain")]
    )
    await h.wait_followup()
    assert "notes.txt is not an image" in h.text()
    assert [r for r in grok_api.requests if r.endpoint == "create"] == []
    assert bot_messages(emu, emu.channel) == [], "a refusal never posts in the channel"


async def test_missing_channel_permissions_are_refused_before_any_api_call(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    await emu.set_bot_channel_permissions(emu.channel, deny=int(Perm.ATTACH_FILES))
    h = await emu.slash_command("video", {"prompt": "a cat"})
    await h.wait_followup()
    assert "Attach Files" in h.text() and h.ephemeral
    assert grok_api.creates == []


async def test_slash_attachment_sends_its_url(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    h = await emu.slash_command(
        "video", {"prompt": "make it move"}, attachments=[("cat.png", PNG, "image/png")]
    )
    await h.wait_text("queued")
    [body] = grok_api.creates
    [url] = body["image_urls"]
    assert url.endswith("/cat.png") or "cat.png" in url
    assert emu.file_bytes(url) == PNG


async def test_context_menu_and_modal_use_the_messages_images(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    poster = emu.add_user("painter")
    emu.add_member(emu.guild, poster)
    target = await emu.post_message(
        emu.channel, poster, "look at my drawings",
        attachments=[("a.png", PNG, "image/png"), ("b.jpg", PNG, "image/jpeg")],
    )  # fmt: skip
    h = await emu.message_context_menu("Animate with Grok", target)
    await h.wait_for(lambda handle: handle.modal is not None)
    submit = await emu.submit_modal(
        h,
        {
            "prompt": "they start dancing",
            "model": ["grok_video3_max"],
            "duration": "6",
            "aspect_ratio": ["9:16"],
        },
    )
    await submit.wait_text("queued")
    [body] = grok_api.creates
    assert body["model"] == "grok_video3_max" and body["duration"] == 6 and body["aspect_ratio"] == "9:16"
    assert [u.rsplit("/", 1)[-1].split("?")[0] for u in body["image_urls"]] == ["a.png", "b.jpg"]

    # A message without images is refused privately, without a modal.
    plain = await emu.post_message(emu.channel, poster, "no pictures here")
    h = await emu.message_context_menu("Animate with Grok", plain)
    await h.wait_response()
    assert h.ephemeral and "no image" in h.text().lower() and h.modal is None


async def test_reply_mode_uses_the_replied_messages_images_and_flags(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    member = emu.default_user
    original = await emu.post_message(
        emu.channel, member, "my cat", attachments=[("cat.png", PNG, "image/png")]
    )
    await emu.post_message(
        emu.channel, member, f"<@{emu.bot_user.id}> the cat waves hello --model grok_video3_stable --duration 6 --ar 1:1",
        reference=original, mentions=[emu.bot_user],
    )  # fmt: skip
    await grok_api.wait_for_requests(lambda r: r.endpoint == "create")
    [body] = grok_api.creates
    assert body["model"] == "grok_video3_stable" and body["duration"] == 6 and body["aspect_ratio"] == "1:1"
    assert body["prompt"] == "the cat waves hello"
    assert len(body["image_urls"]) == 1 and "cat.png" in body["image_urls"][0]
    result = await wait_result(emu, emu.channel)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4

    # A bad flag is refused with a short reply, and no API call.
    await emu.post_message(
        emu.channel, member, f"<@{emu.bot_user.id}> wave --model grok_video3_pro --ar 9:16",
        reference=original, mentions=[emu.bot_user],
    )  # fmt: skip
    refusal = await emu.wait_for_message(
        emu.channel, lambda m: "16:9" in message_text(m) and "pro" in message_text(m)
    )
    assert refusal["message_reference"] is not None
    assert len(grok_api.creates) == 1


async def test_failure_reason_is_posted(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    long_reason = "Content policy violation: " + "x" * 5000
    grok_api.script_next(TaskScript(complete_after=0.0, fail_reason="Reference image could not be accessed."),
                         TaskScript(complete_after=0.0, fail_reason=long_reason))  # fmt: skip
    await emu.slash_command("video", {"prompt": "first"})
    first = await wait_result(emu, emu.channel)
    assert "could not be made" in message_text(first)
    assert "Reference image could not be accessed." in message_text(first)
    await emu.slash_command("video", {"prompt": "second"})
    second = await emu.wait_for_message(
        emu.channel,
        lambda m: m.get("content", "").startswith("<@") and "content policy" in message_text(m),
        timeout=3,
    )
    embed = second["embeds"][0]
    assert len(embed.get("description", "")) <= 4096
    assert all(len(f["value"]) <= 1024 for f in embed.get("fields", []))
    assert len(second["content"]) <= 2000


async def test_everyone_in_a_prompt_pings_nobody_but_the_requester(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    bystander = emu.add_user("bystander")
    emu.add_member(emu.guild, bystander)
    member = emu.default_user
    h = await emu.slash_command(
        "video", {"prompt": f"@everyone @here look <@&123> and <@{bystander.id}>"}, user=member
    )
    await h.wait_text("queued")
    result = await wait_result(emu, emu.channel)
    assert result["mention_everyone"] is False
    assert emu.pings(bystander) == []
    assert [int(m) for m in emu.pings(member)] == [int(result["id"])]
    sent = [
        r
        for r in emu.requests
        if r.method == "POST" and r.path.endswith(f"/channels/{emu.channel.id}/messages")
    ]
    for request in sent:
        allowed = request.json["allowed_mentions"]
        assert allowed["parse"] == [] and not allowed.get("roles")
        assert {int(u) for u in allowed.get("users", [])} <= {member.id}


async def test_deleted_channel_delivers_by_dm(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    grok_api.default_script = TaskScript(complete_after=None)
    member = emu.default_user
    h = await emu.slash_command("video", {"prompt": "a lighthouse"}, user=member)
    await h.wait_text("queued")
    await emu.delete_channel(emu.channel)
    grok_api.complete(grok_api.creates and next(iter(grok_api.tasks)))
    dm = emu.dm_channel(member)
    result = await emu.wait_for_message(dm, lambda m: bool(m.get("attachments")), timeout=10)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4
    assert "couldn't post in the channel" in result["content"]


async def make_undeliverable(emu: DiscordEmulator, grok_api: FakeGrokAPI, bot: Any) -> tuple[Any, Any]:
    """A member with closed DMs whose video finishes after its channel was deleted: nowhere to post it."""
    grok_api.default_script = TaskScript(complete_after=None)
    shy = emu.add_user("shy", refuses_dms=True)
    emu.add_member(emu.guild, shy)
    h = await emu.slash_command("video", {"prompt": "a lighthouse"}, user=shy)
    await h.wait_text("queued")
    await emu.delete_channel(emu.channel)
    grok_api.complete(next(iter(grok_api.tasks)))
    for _ in range(300):  # the bot's own database is the only place this shows
        if owed := await bot.store.pending_notices(shy.id):
            return shy, owed[0]
        await asyncio.sleep(0.02)
    raise AssertionError("the task was never marked undeliverable")


async def test_dm_refused_too_keeps_the_task_and_tells_the_member_next_time(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    shy, task = await make_undeliverable(emu, grok_api, bot)
    assert task.state.value == "downloaded" and task.delivered_message_id is None
    other = emu.add_text_channel(emu.guild, "other")
    await asyncio.sleep(0)
    h = await emu.slash_command("video", {"prompt": "again"}, user=shy, channel=other)
    text = await h.wait_text("still owe you")
    assert f"#{task.id}" in text


async def test_slow_create_is_still_acknowledged_in_time(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    grok_api.slow_next("create", 4.0)
    h = await emu.slash_command("video", {"prompt": "slow one"})
    ack = await h.wait_response(timeout=3)
    assert ack.status < 300 and ack.error_code is None, "acknowledged within Discord's 3 seconds"
    await h.wait_text("queued", timeout=10)


@pytest.mark.parametrize("status,expected", [(401, "API key was refused"), (400, "refused it")])
async def test_api_refusals_are_explained(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, status: int, expected: str
) -> None:
    await start_bot()
    grok_api.fail_next(
        "create",
        status=status,
        body={"error": {"message": "Prompt rejected: " + "y" * 3000}},
        headers={"Retry-After": "7"},
    )
    h = await emu.slash_command("video", {"prompt": "a cat"})
    text = await h.wait_text(expected)
    assert GROK_KEY not in text
    assert len(text) < 4096 + 256
    assert bot_messages(emu, emu.channel) == []


async def test_an_unexpected_failure_still_answers_privately(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    await bot.store.db.close()  # a real failure under the command: the database is gone
    h = await emu.slash_command("video", {"prompt": "a cat"})
    text = await h.wait_text("Something went wrong")
    assert h.ephemeral and "Traceback" not in text
    assert grok_api.creates == []


async def test_duration_suggestions_follow_the_chosen_model(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    choices = await emu.autocomplete(
        "video", {"prompt": "x", "model": "grok_video3_max", "duration": ""}, focused="duration"
    )
    assert [c["value"] for c in choices] == [6, 10, 12, 16, 20, 30]
    choices = await emu.autocomplete(
        "video", {"prompt": "x", "model": "grok_video3_stable", "duration": "1"}, focused="duration"
    )
    assert [c["value"] for c in choices] == [10]
    choices = await emu.autocomplete("video", {"prompt": "x", "duration": "2"}, focused="duration")
    assert [c["value"] for c in choices] == list(range(20, 30))
    assert grok_api.requests == []


async def test_an_image_over_the_size_cap_is_refused(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(MAX_IMAGE_MB="0.01")
    h = await emu.slash_command(
        "video", {"prompt": "a cat"}, attachments=[("huge.png", PNG + b"\x00" * 20_000, "image/png")]
    )
    text = await h.wait_text("huge.png")
    assert "at most" in text and h.ephemeral
    assert grok_api.creates == []
