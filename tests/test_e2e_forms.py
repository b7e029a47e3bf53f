"""The "Animate with Grok" form survives a restart: opened in one life of `python -m bot`, submitted in the
next, it is still answered (the video made from the message's images, or a private answer that gives back
what the member typed)."""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI
from tests.test_e2e_resilience import BotProcess
from tests.test_e2e_service import Spawn, sigterm
from tests.test_e2e_service import spawn as spawn  # the fixture, used by name
from tests.test_e2e_video import PNG, wait_result

TYPED = {"prompt": "the kite climbs into the storm", "duration": "6", "aspect_ratio": ["9:16"]}


async def open_form(emu: DiscordEmulator) -> tuple[dict, InteractionHandle]:
    """A member posts a picture and opens the form on it."""
    target = await emu.post_message(
        emu.channel, emu.default_user, "my kite", attachments=[("kite.png", PNG, "image/png")]
    )
    opened = await emu.message_context_menu("Animate with Grok", target)
    await opened.wait_for(lambda handle: handle.modal is not None, timeout=10)
    return target, opened


async def form_across_a_restart(
    emu: DiscordEmulator, spawn: Spawn, *, delete_the_message: bool = False
) -> tuple[InteractionHandle, BotProcess]:
    """The form opened in one life of the bot (stopped with SIGTERM), submitted in the next one."""
    first = await spawn()
    await first.wait_log("logged in as")
    target, opened = await open_form(emu)
    await sigterm(first)
    if delete_the_message:
        await emu.delete_user_message(target)
    second = await spawn()
    await second.wait_log("logged in as")
    return await emu.submit_modal(opened, TYPED), second


async def test_a_form_opened_before_a_restart_makes_the_video_after_it(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    submitted, second = await form_across_a_restart(emu, spawn)
    await submitted.wait_text("queued", timeout=10)
    assert submitted.ephemeral
    [body] = grok_api.creates
    assert body["prompt"] == TYPED["prompt"] and body["duration"] == 6 and body["aspect_ratio"] == "9:16"
    assert len(body["image_urls"]) == 1 and "kite.png" in body["image_urls"][0], (
        "the message's image, fetched again"
    )
    result = await wait_result(emu, emu.channel, timeout=15)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4
    await sigterm(second)


async def test_a_form_whose_message_is_gone_gives_back_what_was_typed(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    submitted, second = await form_across_a_restart(emu, spawn, delete_the_message=True)
    text = await submitted.wait_text("couldn't make a video", timeout=10)
    assert submitted.ephemeral
    assert TYPED["prompt"] in text and "9:16" in text, "what the member typed comes back to them"
    assert grok_api.creates == []
    await sigterm(second)


async def test_a_form_in_memory_is_answered_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """The handler for forms from before never answers a form this process still holds (a second answer
    would be refused by Discord, and a second video paid for)."""
    await start_bot()
    _, opened = await open_form(emu)
    submitted = await emu.submit_modal(opened, TYPED)
    await submitted.wait_text("queued", timeout=10)
    await wait_result(emu, emu.channel)
    assert len(submitted.callbacks) == 1 and len(submitted.followups) == 1
    assert len(grok_api.creates) == 1


async def test_a_form_from_before_never_reads_another_channel(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """A form from before names its message in its custom_id; one naming a message of another channel than
    the one it is submitted in (which Discord never shows) reads nothing from there."""
    first = await start_bot()
    _, opened = await open_form(emu)
    await first.close()
    await start_bot()
    elsewhere = emu.add_text_channel(emu.guild, "staff-only")
    secret = await emu.post_message(
        elsewhere, emu.default_user, "not for you", attachments=[("secret.png", PNG, "image/png")]
    )
    assert opened.modal is not None
    _, _, channel_id, message_id, nonce = opened.modal["custom_id"].split(":")
    assert (int(channel_id), int(message_id)) != (elsewhere.id, int(secret["id"]))
    opened.modal["custom_id"] = f"grokvideo:animate:{elsewhere.id}:{secret['id']}:{nonce}"
    submitted = await emu.submit_modal(opened, TYPED)
    await submitted.wait_text("couldn't make a video", timeout=10)
    assert grok_api.creates == []
