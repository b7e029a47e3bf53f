"""End to end: a command that fails, is refused, or can't be answered any more gets at most one private answer.

BotTree.on_error (bot/discord/tree.py) is the one app-command error handler and embeds.send_private the one
way to answer privately; these run the real bot against the loopback Discord to pin both down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle
from tests.fakes.grok_api import FakeGrokAPI


async def settled(handle: InteractionHandle) -> InteractionHandle:
    """Wait until discord.py has finished every command it started (error handlers included), so nothing
    more can arrive for `handle`."""
    await handle.wait_response()
    running = [t for t in asyncio.all_tasks() if t.get_name() == "CommandTree-invoker"]
    if running:
        await asyncio.wait(running, timeout=5)
    return handle


def answers(handle: InteractionHandle) -> list[dict[str, Any]]:
    """Every message the bot sent the member: an immediate answer, followups, edits of the original."""
    immediate = [c.data for c in handle.callbacks if c.accepted and c.type == 4]
    return immediate + handle.followup_bodies + handle.edits


@pytest.mark.parametrize(
    ("command", "subcommand"),
    [("videos", "mine"), ("videoadmin", "config"), ("videoadmin", "usage")],  # usage defers first
)
async def test_a_failing_command_answers_exactly_once_privately(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    start_bot: StartBot,
    caplog: pytest.LogCaptureFixture,
    command: str,
    subcommand: str,
) -> None:
    bot = await start_bot()
    await bot.store.db.close()  # a real failure under the command: the database is gone
    h = await settled(await emu.slash_command(command, {}, user=emu.owner, subcommand=subcommand))

    assert len(answers(h)) == 1, h.timeline
    assert h.ephemeral
    assert "Something went wrong" in h.text() and "Traceback" not in h.text()
    failed = [r for r in caplog.records if r.name == "bot.discord.tree" and r.levelno == logging.ERROR]
    assert len(failed) == 1 and failed[0].exc_info, "the failure is logged once, with its traceback"
    assert f"/{command} {subcommand}" in failed[0].getMessage()


async def test_a_non_manager_is_refused_once_and_the_subcommand_never_runs(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot()
    await bot.store.db.close()  # had the subcommand run, it would fail and answer "Something went wrong"
    h = await settled(await emu.slash_command("videoadmin", {}, user=emu.default_user, subcommand="usage"))

    assert len(answers(h)) == 1 and h.ephemeral
    assert "Not allowed" in h.text() and "Manage Server" in h.text(), h.text()
    assert "Something went wrong" not in h.text()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_interaction_discord_no_longer_accepts_is_dropped_quietly(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.embeds")
    await start_bot()
    emu.ack_deadline = 0  # the answer comes "too late": Discord says Unknown interaction (10062)
    late = await settled(await emu.slash_command("videos", {}, subcommand="mine"))
    assert late.callbacks and late.callbacks[0].error_code == 10062
    assert answers(late) == []

    emu.ack_deadline = 3.0
    emu.token_lifetime = 0  # deferred in time, but the token expired before the followup (50027)
    expired = await settled(await emu.slash_command("videoadmin", {}, user=emu.owner, subcommand="usage"))
    assert expired.acknowledged and answers(expired) == []

    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "expected, so no warning"
    gone = [r for r in caplog.records if "can't be answered any more" in r.getMessage()]
    assert len(gone) == 2
