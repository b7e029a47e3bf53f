"""Fair use under pressure, member commands and result buttons, through the loopback Discord."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, Perm, message_text
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import make_undeliverable, wait_result


async def test_twenty_simultaneous_requests_with_a_limit_of_two_create_exactly_two(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)  # keep them in flight
    await start_bot(MAX_ACTIVE_PER_MEMBER="2")
    member = emu.default_user
    started = time.perf_counter()
    handles = await asyncio.gather(
        *(emu.slash_command("video", {"prompt": f"race {n}"}, user=member) for n in range(20))
    )
    await asyncio.gather(*(h.wait_followup(timeout=15) for h in handles))
    elapsed = time.perf_counter() - started
    texts = [h.text() for h in handles]
    accepted = [t for t in texts if "queued" in t]
    refused = [t for t in texts if "Too many videos at once" in t]
    print(f"\nrace: 20 requests answered in {elapsed:.2f} s: {len(accepted)} accepted, {len(refused)} refused, "
          f"{len(grok_api.creates)} create calls")  # fmt: skip
    assert (len(accepted), len(refused)) == (2, 18)
    assert all(h.ephemeral for h in handles)
    assert all("limit is 2" in t for t in refused)
    assert len(grok_api.creates) == 2
    db = sqlite3.connect(bot_env["DATABASE_PATH"])
    assert db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0] == 2
    db.close()


async def test_server_managers_bypass_the_limits(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot(MAX_ACTIVE_PER_MEMBER="1", COOLDOWN_SECONDS="600")
    for n in range(3):
        h = await emu.slash_command("video", {"prompt": f"boss {n}"}, user=emu.owner)
        await h.wait_text("queued")
    assert len(grok_api.creates) == 3


async def test_cooldown_names_when_the_member_can_ask_again(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(COOLDOWN_SECONDS="120")
    h = await emu.slash_command("video", {"prompt": "one"})
    await h.wait_text("queued")
    h = await emu.slash_command("video", {"prompt": "two"})
    text = await h.wait_text("Cooling down")
    assert "<t:" in text and "every 2 min" in text and h.ephemeral
    assert len(grok_api.creates) == 1


async def test_daily_allowance_refuses_then_resets_the_next_day(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    await start_bot(MEMBER_DAILY_SECONDS="20")
    for n in range(2):
        h = await emu.slash_command("video", {"prompt": f"clip {n}", "duration": 10})
        await h.wait_text("queued")
    h = await emu.slash_command("video", {"prompt": "one too many", "duration": 6})
    text = await h.wait_text("Daily allowance reached")
    assert "0 s of your 20 s left" in text and "resets <t:" in text
    h = await emu.slash_command("videos", subcommand="quota")
    assert "0 s of 20 s left" in await h.wait_text("quota")
    # Yesterday's videos no longer count: move them back a day, as the clock would.
    db = sqlite3.connect(bot_env["DATABASE_PATH"])
    with db:
        db.execute("UPDATE tasks SET created_at = created_at - 86400")
    db.close()
    h = await emu.slash_command("video", {"prompt": "new day", "duration": 6})
    await h.wait_text("queued")
    assert len(grok_api.creates) == 3


async def test_buttons_work_after_a_restart_and_respect_ownership(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    member, other = emu.default_user, emu.add_user("mallory")
    emu.add_member(emu.guild, other)
    await emu.slash_command(
        "video", {"prompt": "a paper boat", "model": "grok_video3_max", "duration": 6}, user=member
    )
    result = await wait_result(emu, emu.channel)
    custom_ids = [c["custom_id"] for row in result["components"] for c in row["components"]]
    assert custom_ids == ["grokvideo:regen:1", "grokvideo:delete:1", "grokvideo:details:1"]

    # Restart: a new process life, same database. The old message's buttons must still work.
    await bot.close()
    await start_bot()

    h = await emu.click_button(result, "grokvideo:details:1", user=other)
    details = await h.wait_text("Task #1")
    assert h.ephemeral and "a paper boat" in details and "grok_video3_max" in details

    h = await emu.click_button(result, "grokvideo:delete:1", user=other)
    assert "Not yours to delete" in await h.wait_text("Not yours") and h.ephemeral
    h = await emu.click_button(result, "grokvideo:regen:1", user=other)
    assert "Not yours to regenerate" in await h.wait_text("Not yours")
    assert len(grok_api.creates) == 1, "no API call for a refused click"

    h = await emu.click_button(result, "grokvideo:regen:1", user=member)
    await h.wait_text("queued")
    assert grok_api.creates[1] == grok_api.creates[0], "same settings"
    second = await emu.wait_for_message(
        emu.channel, lambda m: "#2" in message_text(m) and m["content"].startswith("<@")
    )
    assert second["content"].startswith(f"<@{member.id}>")

    h = await emu.click_button(result, "grokvideo:delete:1", user=member)
    await h.wait_text("Deleted")
    assert all(m["id"] != result["id"] for m in emu.messages(emu.channel))


async def test_moderators_may_delete_anyones_video(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    mods = emu.add_role(emu.guild, "Mods", permissions=int(Perm.MANAGE_MESSAGES))
    mod = emu.add_user("mod")
    emu.add_member(emu.guild, mod, roles=[mods])
    await emu.slash_command("video", {"prompt": "a kite"})
    result = await wait_result(emu, emu.channel)
    h = await emu.click_button(result, "grokvideo:delete:1", user=mod)
    await h.wait_text("Deleted")


async def test_videos_mine_and_status(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    grok_api.script_next(
        TaskScript(complete_after=0.0), TaskScript(complete_after=0.0, fail_reason="Content moderation")
    )
    for prompt in ("first idea", "second idea"):
        await emu.slash_command("video", {"prompt": prompt})
        await wait_result(emu, emu.channel)
        await emu.wait_for(
            lambda: len([m for m in emu.messages(emu.channel) if m["content"].startswith("<@")]) >= 1
        )
    await emu.wait_for(
        lambda: len([m for m in emu.messages(emu.channel) if m["content"].startswith("<@")]) == 2
    )
    h = await emu.slash_command("videos", subcommand="mine")
    text = await h.wait_text("Your recent videos")
    assert "#1" in text and "#2" in text and "video" in text and "failed" in text and "first idea" in text
    h = await emu.slash_command("videos", {"task": 2}, subcommand="status")
    text = await h.wait_text("Task #2")
    assert "Content moderation" in text and "discord.com/channels/" in text
    # Another member cannot look at it.
    other = emu.add_user("nosy")
    emu.add_member(emu.guild, other)
    h = await emu.slash_command("videos", {"task": 2}, subcommand="status", user=other)
    assert "No such video" in await h.wait_text("No such video")


async def test_status_reposts_a_video_that_could_not_be_delivered(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot()
    shy, _ = await make_undeliverable(emu, grok_api, bot)
    other = emu.add_text_channel(emu.guild, "other")
    await asyncio.sleep(0.05)
    h = await emu.slash_command("videos", {"task": 1}, subcommand="status", user=shy, channel=other)
    await h.wait_text("posting it in this channel now")
    result = await wait_result(emu, other)
    assert result["attachments"] and result["content"].startswith(f"<@{shy.id}>")
