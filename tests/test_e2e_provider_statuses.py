"""Status words the provider's documentation does not list: a task must neither hang nor be thrown away.

The documented words are queued, processing, completed and failed. Providers drift: a word that clearly
ends the task fails it at once, one that clearly means success is delivered, and one nobody can read keeps
the task polled (logged once) until it turns into something known or TASK_TIMEOUT_SECONDS runs out.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript
from tests.test_e2e_video import bot_messages, wait_result

POLL = 0.05


async def _first_poll(grok_api: FakeGrokAPI) -> str:
    [poll] = await grok_api.wait_for_requests(lambda r: r.endpoint == "result")
    assert poll.task_id is not None
    return poll.task_id


async def _polls_stop(grok_api: FakeGrokAPI, task_id: str) -> None:
    """No poll of the task in a window worth many poll intervals."""
    before = len(grok_api.result_calls(task_id))
    await asyncio.sleep(POLL * 10)
    assert len(grok_api.result_calls(task_id)) == before, "the bot kept asking about a finished task"


@pytest.mark.parametrize(
    ("word", "error", "reason"),
    [
        ("cancelled", None, "The video service cancelled this video."),  # our plain words
        ("Error", "Render node crashed.", "Render node crashed."),  # the provider's, when it gives some
    ],
)
async def test_a_status_that_ends_the_task_is_reported_at_once(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    start_bot: StartBot,
    word: str,
    error: str | None,
    reason: str,
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot(POLL_INTERVAL_SECONDS=str(POLL), TASK_TIMEOUT_SECONDS="60")
    await emu.slash_command("video", {"prompt": "never mind"})
    task_id = await _first_poll(grok_api)
    grok_api.report_status(task_id, word, error=error)

    result = await wait_result(emu, emu.channel, timeout=5)  # not after the 60 s task timeout
    text = message_text(result)
    assert "could not be made" in text and reason in text
    await _polls_stop(grok_api, task_id)


async def test_succeeded_with_a_link_is_delivered(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.script_next(TaskScript(complete_after=0.0, reported_status="succeeded"))
    await start_bot(POLL_INTERVAL_SECONDS=str(POLL), TASK_TIMEOUT_SECONDS="60")
    await emu.slash_command("video", {"prompt": "a happy ending"})
    result = await wait_result(emu, emu.channel, timeout=5)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4


async def test_an_unknown_status_keeps_the_task_polled_and_is_logged_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(POLL), TASK_TIMEOUT_SECONDS="60")
    await emu.slash_command("video", {"prompt": "patience"})
    task_id = await _first_poll(grok_api)
    caplog.set_level(logging.WARNING, logger="bot")
    grok_api.report_status(task_id, "on_hold")
    since = len(grok_api.requests)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=5, since=since, timeout=15)

    assert not [m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")], "not given up"
    stored = await bot.store.get(1)
    assert stored is not None
    assert stored.provider_status == "on_hold" and stored.error_streak == 0
    assert stored.last_error is not None and "on_hold" in stored.last_error
    told = [r for r in caplog.records if "on_hold" in r.getMessage()]
    assert len(told) == 1, [r.getMessage() for r in caplog.records]

    grok_api.complete(task_id)
    result = await wait_result(emu, emu.channel, timeout=5)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4
