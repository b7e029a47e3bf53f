"""End to end: /videohelp shows, privately and within Discord's limits, how to make videos, the models as
loaded from MODELS_FILE, the member's own quota and the server's rules."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_admin import admin, video
from tests.test_e2e_content_rules import embed_sizes_ok


async def videohelp(emu: DiscordEmulator, user: object = None) -> InteractionHandle:
    handle = await emu.slash_command("videohelp", {}, user=user or emu.default_user)
    await handle.wait_for(lambda h: bool(h.text()))
    assert handle.ephemeral and handle.original is not None
    assert len(handle.original["embeds"]) == 1, "one embed"
    embed_sizes_ok(handle.original)
    return handle


async def test_videohelp_shows_the_loaded_models_the_quota_and_the_rules(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    models = tmp_path / "models.toml"
    models.write_text(
        '[models.grok_video3_pro]\nenabled = false\n\n[models.grok_video3_max]\nlabel = "Max Deluxe"\n'
    )
    grok_api.default_script = TaskScript(complete_after=None)  # stays in progress
    await start_bot(MODELS_FILE=str(models), MEMBER_DAILY_SECONDS="60")
    command = emu.find_command("videohelp", guild=emu.guild)
    assert command["type"] == 1 and not command.get("options"), "top level, no options"

    text = (await videohelp(emu)).text()
    for way in ("/video", "Reply mode", "Animate with Grok"):
        assert way in text, way
    assert f"<@{emu.bot_user.id}>" in text, "names who to mention"
    assert "Max Deluxe" in text and "grok_video3_stable" in text
    assert "grok_video3_pro" not in text, "a model MODELS_FILE disabled is not offered"
    assert "60 s of 60 s left" in text and "In progress:** 0" in text
    assert (
        "every channel" in text
        and "Blocked words:** 0" in text
        and "Age-restricted channels only:** no" in text
    )

    assert "queued" in await video(emu, {"prompt": "a storm", "duration": 6})
    role = emu.add_role(emu.guild, "Makers")
    emu.add_member(emu.guild, emu.default_user, roles=[role])
    await admin(emu, "channel-allow", {"channel": emu.channel})
    await admin(emu, "role", {"role": role})
    await admin(emu, "blocked-words add", {"words": "rain, hail"})
    await admin(emu, "age-restricted-only", {"enabled": True})
    await admin(emu, "models", {"allow": "grok_video3_max"})
    await admin(emu, "pause")
    text = (await videohelp(emu)).text()
    assert "54 s of 60 s left" in text and "In progress:** 1" in text
    assert f"<#{emu.channel.id}>" in text and f"<@&{role.id}>" in text
    assert "Blocked words:** 2" in text and "Age-restricted channels only:** yes" in text and "Paused" in text
    assert "rain" not in text, "the words themselves are not shown to members"
    assert "Max Deluxe" in text and "grok_video3_stable" not in text, "only the models allowed here"


async def long_catalogue_and_many_channels(emu: DiscordEmulator, start_bot: StartBot, tmp_path: Path) -> None:
    """The bot with 25 models of the longest lines MODELS_FILE allows, on a server that allows 25 channels."""
    ratios = ", ".join(
        f'"{a}:{b}"' for a in range(11, 13) for b in range(11, 16)
    )  # 10 ratios, the most allowed
    tables = "\n".join(
        f'[models.extra_model_{n:02d}]\nlabel = "An extravagantly long model label {n:02d}"\n'
        f"durations = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]\ndefault_duration = 5\n"
        f'aspect_ratios = [{ratios}]\ndefault_aspect_ratio = "11:11"\n'
        f'resolutions = ["240p", "360p", "480p", "720p", "1080p", "2160p"]\n'
        f'default_resolution = "720p"\nmax_images = 7\npublic_urls_only = false\nbilling = "per_second"\n'
        for n in range(21)
    )
    models = tmp_path / "models.toml"
    models.write_text(tables)
    bot = await start_bot(MODELS_FILE=str(models))
    assert len(bot.catalogue.models) == 25
    for n in range(25):
        channel = emu.add_text_channel(emu.guild, f"room-{n}")
        await emu.wait_for(lambda c=channel: bot.get_channel(c.id) is not None)
        await admin(emu, "channel-allow", {"channel": channel})


async def test_videohelp_stays_within_discord_limits_with_a_long_catalogue_and_many_channels(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    await long_catalogue_and_many_channels(emu, start_bot, tmp_path)
    text = (await videohelp(emu)).text()
    assert "more models (see /video)" in text and "An extravagantly long model label 00" in text
    assert "…and" in text and "more" in text
