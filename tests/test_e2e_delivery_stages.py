"""Delivery's stages do not block each other: a channel whose status edits Discord holds back never slows
polling, and a long ffmpeg run never delays another member's post.

The real bot over a real websocket to the loopback Discord, real HTTP to the loopback Grok API, real ffmpeg.
With POLL_CONCURRENCY=1 (and POST_CONCURRENCY=1) a single stuck worker would stop everything: these tests
show that nothing gets stuck in a worker.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.discord.rest import RecordedRequest
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_resilience import noise_video
from tests.test_e2e_video import bot_messages
from tests.test_transcode import ffmpeg_children

MiB = 1024 * 1024
POLL = 0.05
#: Discord answers the busy channel's edit 429 this many times, each asking for this long a wait; discord.py
#: sleeps through them inside the edit, so that one edit takes about STUCK_TRIES * RETRY_AFTER seconds.
STUCK_TRIES = 4
RETRY_AFTER = 1.0


def polls_between(grok_api: FakeGrokAPI, task_id: str, start: float, end: float) -> int:
    return len([r for r in grok_api.result_calls(task_id) if start <= r.time <= end])


def bar_percent(edit: RecordedRequest) -> int:
    """The progress the edit shows (the bar's last field, "▰▰▱… 12%")."""
    [embed] = edit.json["embeds"]
    match = re.search(r"(\d+)%$", embed["fields"][-1]["value"])
    assert match is not None, embed
    return int(match.group(1))


async def test_status_edits_held_back_by_discord_neither_slow_polling_nor_pile_up(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(processing_after=0.0, complete_after=None)
    busy = emu.channel
    quiet = emu.add_text_channel(emu.guild, "quiet")
    await start_bot(
        POLL_INTERVAL_SECONDS=str(POLL), POLL_CONCURRENCY="1", STATUS_EDIT_SECONDS="0", PROVIDER_MAX_RPS="200"
    )
    # 6-second videos: the first estimate is 81 s, so the bar moves 1 % about every 0.8 s.
    h = await emu.slash_command("video", {"prompt": "busy", "duration": 6}, channel=busy)
    await h.wait_text("queued")
    h = await emu.slash_command("video", {"prompt": "quiet", "duration": 6}, channel=quiet)
    await h.wait_text("queued")
    busy_task, quiet_task = list(grok_api.tasks)
    [status] = bot_messages(emu, busy)
    edits_path = rf"/channels/{busy.id}/messages/{status['id']}$"

    # The baseline: both tasks polled every POLL seconds, edits answered at once.
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=4)
    start = time.monotonic()
    await asyncio.sleep(1.0)
    baseline = polls_between(grok_api, quiet_task, start, time.monotonic())
    assert baseline >= 5

    emu.inject_rest_error(
        "PATCH", edits_path, 429, times=STUCK_TRIES,
        body={"message": "You are being rate limited.", "retry_after": RETRY_AFTER, "global": False, "code": 0},
    )  # fmt: skip
    stuck = await emu.wait_for(
        lambda: [r for r in emu.requests_to("PATCH", edits_path) if r.injected], timeout=5
    )
    stuck_at = stuck[0].time

    def landed() -> list[RecordedRequest]:
        return [
            r
            for r in emu.requests_to("PATCH", edits_path)
            if r.time >= stuck_at and not r.injected and r.status == 200
        ]

    await emu.wait_for(lambda: len(landed()) >= 2, timeout=STUCK_TRIES * RETRY_AFTER + 5)
    first, second = landed()[:2]
    window = first.time - stuck_at
    assert window >= (STUCK_TRIES - 0.5) * RETRY_AFTER, "the edit really was held back"

    # Polling went on at its pace while the busy channel's edit waited out Discord's rate limit: the other
    # channel's task and the busy channel's own task alike.
    rate = polls_between(grok_api, quiet_task, stuck_at, first.time) / window
    assert rate >= 0.5 * baseline / 1.0, (rate, baseline)
    busy_rate = polls_between(grok_api, busy_task, stuck_at, first.time) / window
    assert busy_rate >= 0.5 * baseline / 1.0, (busy_rate, baseline)

    # Coalesced: the bar moved several times while the edit was held, and those updates became ONE edit
    # (sent once the held one landed), showing the newest state.
    skipped = bar_percent(second) - bar_percent(first)
    assert skipped >= 3, (bar_percent(first), bar_percent(second))
    attempts = [r for r in emu.requests_to("PATCH", edits_path) if stuck_at <= r.time <= second.time]
    assert len(attempts) == STUCK_TRIES + 2, "the held edit's tries, its success, then one edit for the rest"


async def test_a_long_shrink_does_not_delay_another_members_post(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    big = noise_video(tmp_path / "big.mp4", seconds=5)  # about 40 MiB of noise: a few seconds of ffmpeg
    grok_api.script_next(TaskScript(complete_after=0.0, video=big), TaskScript(complete_after=None))
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(POLL), POLL_CONCURRENCY="1", POST_CONCURRENCY="1")
    other = emu.add_user("other")
    emu.add_member(emu.guild, other)
    h = await emu.slash_command("video", {"prompt": "static"})
    await h.wait_text("queued")
    h = await emu.slash_command("video", {"prompt": "a lighthouse"}, user=other)
    await h.wait_text("queued")
    _, failing = list(grok_api.tasks)

    await emu.wait_for(ffmpeg_children, timeout=20, what="the shrink to start")
    shrinking = await bot.store.get(1)
    assert shrinking is not None and shrinking.state.value == "downloaded"
    assert shrinking.next_poll_at is not None and shrinking.next_poll_at > time.time() + 600, (
        "leased for the whole shrink, not the poll interval"
    )

    grok_api.fail(failing, "Reference image could not be accessed.")
    post = await emu.wait_for_message(
        emu.channel, lambda m: m.get("content", "").startswith(f"<@{other.id}>"), timeout=5
    )
    assert "could not be made" in post["content"]
    assert ffmpeg_children(), "posted while the shrink was still running"
    assert [m for m in bot_messages(emu, emu.channel) if m.get("attachments")] == []

    result = await emu.wait_for_message(emu.channel, lambda m: bool(m.get("attachments")), timeout=60)
    assert result["content"].startswith(f"<@{emu.default_user.id}>")
    [attachment] = result["attachments"]
    data = emu.file_bytes(attachment)
    assert len(data) <= emu.upload_limit(emu.guild) and data[4:8] == b"ftyp"
    await emu.wait_for(lambda: not list(bot.settings.video_dir.iterdir()), what="the files to be removed")


async def test_closing_the_bot_stops_a_running_shrink(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    grok_api.script_next(TaskScript(complete_after=0.0, video=noise_video(tmp_path / "big.mp4", seconds=5)))
    bot = await start_bot(POLL_INTERVAL_SECONDS=str(POLL))
    await emu.slash_command("video", {"prompt": "static"})
    await emu.wait_for(ffmpeg_children, timeout=20, what="the shrink to start")
    await bot.close()
    assert ffmpeg_children() == {}, "ffmpeg was stopped with the bot"
    assert not list(bot.settings.video_dir.glob("*-fit*")), "no half-written copy left"
