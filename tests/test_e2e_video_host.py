"""Hostile video hosts, through the real bot: what the member sees when the link is not a video or trickles.
Real bot, loopback Discord and provider (tests/fakes/grok_api.py serves the links), real SQLite file."""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_video import wait_result


async def started_task(emu: DiscordEmulator, grok_api: FakeGrokAPI) -> str:
    """A /video whose provider task finishes only when the test says so; returns its provider id."""
    grok_api.script_next(TaskScript(complete_after=None))
    await emu.slash_command("video", {"prompt": "a paper boat"})
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=1, timeout=10)
    [task_id] = grok_api.tasks
    return task_id


async def test_an_error_page_at_the_video_link_is_never_posted_as_a_video(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(POLL_INTERVAL_SECONDS="0.05")
    task_id = await started_task(emu, grok_api)
    grok_api.video_host_mode(task_id, "html")
    grok_api.complete(task_id)
    posted = await wait_result(emu, emu.channel)
    text = message_text(posted)
    assert "the video service sent something that is not a video" in text
    assert "ready" not in text.lower()
    assert posted["attachments"] == []
    assert grok_api.served[task_id] < 64 * 1024 * 1024, "refused from its first bytes, not read whole"
    downloads = [r for r in grok_api.requests if r.endpoint == "download"]
    assert len(downloads) == 1, "not retried: another try cannot turn a page into a video"


async def test_a_trickling_link_ends_in_a_clear_failure_by_the_tasks_deadline(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(POLL_INTERVAL_SECONDS="0.05", DOWNLOAD_STALL_SECONDS="0.3", TASK_TIMEOUT_SECONDS="4")
    task_id = await started_task(emu, grok_api)
    grok_api.video_host_mode(task_id, "trickle", bytes_per_second=2048)
    grok_api.complete(task_id)
    posted = await wait_result(emu, emu.channel, timeout=15)
    text = message_text(posted)
    assert "couldn't download it" in text and "stopped sending" in text, text
    assert posted["attachments"] == []
    downloads = [r for r in grok_api.requests if r.endpoint == "download"]
    assert len(downloads) >= 2, "a stall is retried until the deadline"
