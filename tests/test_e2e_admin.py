"""End to end: /videoadmin against the real bot, the loopback Discord and Grok API, and a real SQLite file.

Who is who in the emulator's default world: `emu.owner` owns the guild (every permission), `emu.default_user`
("alice") is a plain member whose @everyone permissions lack Manage Server. A "Mods" role with Manage Server
shows that the admin check follows the permission, not ownership.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle, Perm
from tests.fakes.grok_api import FakeGrokAPI, TaskScript

MANAGE_GUILD = str(int(Perm.MANAGE_GUILD))


async def start_admin_bot(start_bot: StartBot, **env: str) -> Any:
    """The real bot with cogs.admin loaded (the lead adds it to EXTENSIONS; until then, load and sync it)."""
    bot = await start_bot(**env)
    if "cogs.admin" not in bot.extensions:
        await bot.load_extension("cogs.admin")
        await bot.sync_commands_if_changed()
    return bot


async def admin(
    emu: DiscordEmulator, sub: str, options: dict[str, Any] | None = None, *, user: Any = None
) -> InteractionHandle:
    """Run /videoadmin <sub> (as the guild owner unless told) and wait for the private answer."""
    handle = await emu.slash_command("videoadmin", options or {}, user=user or emu.owner, subcommand=sub)
    await handle.wait_for(lambda h: bool(h.text()))
    assert handle.ephemeral, f"/videoadmin {sub} answered publicly"
    return handle


async def video(
    emu: DiscordEmulator, options: dict[str, Any], *, user: Any = None, channel: Any = None
) -> str:
    """Run /video and return the private answer's text (accepted: contains "queued")."""
    handle = await emu.slash_command("video", options, user=user or emu.default_user, channel=channel)
    await handle.wait_followup()
    assert handle.ephemeral
    return handle.text()


def guild_row(db_path: str, guild_id: int) -> sqlite3.Row | None:
    with sqlite3.connect(db_path) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)).fetchone()


def saved_limits(db_path: str, guild_id: int) -> tuple[Any, ...]:
    row = guild_row(db_path, guild_id)
    assert row is not None
    return tuple(
        row[k] for k in ("max_active", "cooldown_seconds", "member_daily_seconds", "server_daily_seconds")
    )


def add_mod(emu: DiscordEmulator, name: str = "mod") -> Any:
    mods = emu.add_role(emu.guild, "Mods", Perm.MANAGE_GUILD)
    user = emu.add_user(name)
    emu.add_member(emu.guild, user, roles=[mods])
    return user


async def test_only_server_managers_can_use_videoadmin(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_admin_bot(start_bot)
    command = emu.find_command("videoadmin", guild=emu.guild)
    assert str(command["default_member_permissions"]) == MANAGE_GUILD, "hidden from non-managers by default"
    assert command.get("contexts") == [0] or command.get("dm_permission") is False, "servers only"

    # Server settings can show the command to anyone: the bot itself must refuse, privately, and change nothing.
    for sub in ("pause", "config", "channels-clear"):
        refused = await admin(emu, sub, user=emu.default_user)
        assert "Manage Server" in refused.text(), refused.text()
    assert guild_row(str(bot.settings.database_path), emu.guild.id) is None
    assert "queued" in await video(emu, {"prompt": "still allowed"})

    # Manage Server through a role is enough (not only the guild owner).
    mod = add_mod(emu)
    shown = await admin(emu, "config", user=mod)
    assert "Video settings" in shown.text() and "every channel" in shown.text()


async def test_channel_restriction_refuses_elsewhere_without_any_api_call(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_admin_bot(start_bot)
    general = emu.channel
    random = emu.add_text_channel(emu.guild, "random")
    await emu.wait_for(lambda: bot.get_channel(random.id) is not None)

    done = await admin(emu, "channel-allow", {"channel": general})
    assert f"<#{general.id}>" in done.text()
    text = await video(emu, {"prompt": "a cat"}, channel=random)
    assert "Not in this channel" in text and f"<#{general.id}>" in text, text
    assert grok_api.creates == []
    assert "queued" in await video(emu, {"prompt": "a cat"}, channel=general)
    assert len(grok_api.creates) == 1
    # Managers are not bound by the list.
    assert "queued" in await video(emu, {"prompt": "a dog"}, user=emu.owner, channel=random)

    # Removing the last channel (or clearing) opens every channel again.
    removed = await admin(emu, "channel-remove", {"channel": general})
    assert "every channel" in removed.text()
    assert "queued" in await video(emu, {"prompt": "a bird"}, channel=random)
    await admin(emu, "channel-allow", {"channel": random})
    assert "Not in this channel" in await video(emu, {"prompt": "a cow"}, channel=general)
    await admin(emu, "channels-clear")
    assert "queued" in await video(emu, {"prompt": "a cow"}, channel=general)
    assert len(grok_api.creates) == 4


async def test_role_requirement_names_the_role_and_managers_bypass_it(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    makers = emu.add_role(emu.guild, "Video Makers")
    mod = add_mod(emu)
    await start_admin_bot(start_bot)

    done = await admin(emu, "role", {"role": makers})
    assert f"<@&{makers.id}>" in done.text()
    text = await video(emu, {"prompt": "a cat"})
    assert "Video Makers" in text and "queued" not in text, text
    assert grok_api.creates == []

    await emu.set_member_roles(emu.guild, emu.default_user, [makers])
    assert "queued" in await video(emu, {"prompt": "a cat"})
    assert "queued" in await video(emu, {"prompt": "a mod's cat"}, user=mod)

    bob = emu.add_user("bob")
    emu.add_member(emu.guild, bob)
    assert "Video Makers" in await video(emu, {"prompt": "bob's cat"}, user=bob)
    removed = await admin(emu, "role")
    assert "removed" in removed.text()
    assert "queued" in await video(emu, {"prompt": "bob's cat"}, user=bob)
    assert len(grok_api.creates) == 3


async def test_model_restriction_and_unknown_models(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_admin_bot(start_bot)
    db = str(bot.settings.database_path)

    refused = await admin(emu, "models", {"allow": "grok_video3, grok_video9"})
    assert "grok_video9" in refused.text() and "grok_video3_stable" in refused.text(), refused.text()
    assert guild_row(db, emu.guild.id) is None, "nothing saved on a refusal"

    choices = await emu.autocomplete(
        "videoadmin",
        {"allow": "grok_video3_pro, grok_video3_m"},
        focused="allow",
        user=emu.owner,
        subcommand="models",
    )
    assert [c["value"] for c in choices] == ["grok_video3_pro, grok_video3_max"]

    done = await admin(emu, "models", {"allow": "GROK_VIDEO3_PRO grok_video3"})
    assert "grok_video3, grok_video3_pro" in done.text()
    text = await video(emu, {"prompt": "waves", "model": "grok_video3_max"})
    assert "not available" in text and "grok_video3, grok_video3_pro" in text, text
    assert grok_api.creates == []
    assert "queued" in await video(emu, {"prompt": "waves", "model": "grok_video3_pro"})

    await admin(emu, "models", {"allow": "all"})
    row = guild_row(db, emu.guild.id)
    assert row is not None and row["allowed_models"] is None
    assert "queued" in await video(emu, {"prompt": "waves", "model": "grok_video3_max"})
    assert [c["model"] for c in grok_api.creates] == ["grok_video3_pro", "grok_video3_max"]


async def test_pause_stops_members_not_admins_and_running_videos_still_arrive(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_admin_bot(start_bot)
    grok_api.script_next(TaskScript(complete_after=None))  # finished by hand, after the pause
    assert "queued" in await video(emu, {"prompt": "already running"})
    [running] = list(grok_api.tasks)

    paused = await admin(emu, "pause")
    assert "paused" in paused.text().lower()
    text = await video(emu, {"prompt": "a cat"})
    assert "paused" in text.lower() and "queued" not in text
    assert len(grok_api.creates) == 1
    assert "queued" in await video(emu, {"prompt": "an admin's cat"}, user=emu.owner)

    grok_api.complete(running)
    # The admin's video finishes at once, so it may be posted first: wait for the member's own.
    mention = f"<@{emu.default_user.id}>"
    delivered = await emu.wait_for_message(emu.channel, lambda m: m["content"].startswith(mention))
    assert delivered["attachments"]

    await admin(emu, "resume")
    assert "queued" in await video(emu, {"prompt": "a cat"})
    assert len(grok_api.creates) == 3


async def test_settings_apply_at_once_and_survive_a_restart(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    makers = emu.add_role(emu.guild, "Video Makers")
    bot = await start_admin_bot(start_bot)
    db = str(bot.settings.database_path)

    done = await admin(emu, "limits", {"max_active": 3, "cooldown": 120, "member_daily": 15})
    assert "Videos in progress per member: **3** (server setting)" in done.text()
    assert "Video-seconds for the server per day: **no limit** (default)" in done.text()
    # The server's cooldown (the owner's default here is none) applies to the very next request.
    assert "queued" in await video(emu, {"prompt": "one"})
    assert "Cooling down" in await video(emu, {"prompt": "two"})
    await admin(emu, "channel-allow", {"channel": emu.channel})
    await admin(emu, "role", {"role": makers})
    await admin(emu, "models", {"allow": "grok_video3_max"})

    def settings_only(text: str) -> str:  # the line's live counts change as the video is made
        return "\n".join(
            line for line in text.splitlines() if not line.startswith(("Waiting:", "With Grok now:"))
        )

    before = settings_only((await admin(emu, "config")).text())
    await bot.close()
    await start_admin_bot(start_bot)
    after = settings_only((await admin(emu, "config")).text())
    assert after == before
    for expected in (
        f"<#{emu.channel.id}>", f"<@&{makers.id}>", "grok_video3_max",
        "Videos in progress per member: **3** (server setting)",
        "Cooldown between a member's videos: **2 min** (server setting)",
        "Video-seconds per member per day: **15 s** (server setting)",
        "Video-seconds for the server per day: **no limit** (default)",
        "grok_video3: not set",
    ):  # fmt: skip
        assert expected in after, (expected, after)
    assert saved_limits(db, emu.guild.id) == (3, 120, 15, None)

    reset = await admin(emu, "limits", {"reset": True, "server_daily": 600})
    assert "Videos in progress per member: **no limit** (default)" in reset.text()
    assert "Video-seconds for the server per day: **600 s** (server setting)" in reset.text()
    assert saved_limits(db, emu.guild.id) == (None, None, None, 600)


def expected_cost(prices: dict[str, float], model: str, videos: int, seconds: int) -> float | None:
    per_call = {"grok_video3_pro", "grok_video3_stable"}
    if model not in prices:
        return None
    return prices[model] * (videos if model in per_call else seconds)


def money(amount: float | None) -> str:
    return "n/a" if amount is None else f"{amount:,.2f} USD"


async def test_usage_report_matches_the_database(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    prices = {"grok_video3": 0.05, "grok_video3_pro": 0.5}
    bot = await start_admin_bot(start_bot, PRICES="grok_video3=0.05,grok_video3_pro=0.5")
    alice, bob = emu.default_user, emu.add_user("bob")
    emu.add_member(emu.guild, bob)
    empty = await admin(emu, "usage")
    assert "No videos were made today" in empty.text()

    for user, options in [
        (alice, {"model": "grok_video3", "duration": 6}),
        (alice, {"model": "grok_video3", "duration": 12}),
        (alice, {"model": "grok_video3_max", "duration": 20}),
        (bob, {"model": "grok_video3_pro"}),
        (bob, {"model": "grok_video3_pro"}),
        (bob, {"model": "grok_video3", "duration": 30}),
    ]:
        assert "queued" in await video(emu, {"prompt": "usage", **options}, user=user)

    with sqlite3.connect(str(bot.settings.database_path)) as db:
        rows = db.execute(
            "SELECT requester_id, model, COUNT(*), SUM(billed_seconds) FROM tasks "
            "WHERE guild_id = ? AND state != 'rejected' GROUP BY requester_id, model",
            (emu.guild.id,),
        ).fetchall()
    assert len(rows) == 4

    for period in ("today", "30d"):
        report = (await admin(emu, "usage", {"period": period})).text()
        for _member, model, videos, seconds in rows:
            piece = f"{model}: {videos} video{'s' if videos != 1 else ''} · {seconds:,} s · {money(expected_cost(prices, model, videos, seconds))}"
            assert piece in report, (piece, report)
        for user in (alice, bob):
            mine = [r for r in rows if r[0] == user.id]
            videos, seconds = sum(r[2] for r in mine), sum(r[3] for r in mine)
            known = [c for r in mine if (c := expected_cost(prices, r[1], r[2], r[3])) is not None]
            line = f"<@{user.id}> · {videos} videos · {seconds:,} s · {money(sum(known))}"
            assert line in report, (line, report)
        videos, seconds = sum(r[2] for r in rows), sum(r[3] for r in rows)
        known = [c for r in rows if (c := expected_cost(prices, r[1], r[2], r[3])) is not None]
        assert f"Total\n{videos} videos · {seconds:,} s · {money(sum(known))}" in report, report
        # The unpriced model is called out, with what the owner should set.
        assert "No price is set for grok_video3_max" in report and "PRICES=grok_video3_max=" in report
    # Bob used more video-seconds (50 vs 38), so he is listed first.
    assert report.index(f"<@{bob.id}>") < report.index(f"<@{alice.id}>")
    assert re.search(r"grok_video3_max: 1 video · 20 s · n/a", report)
