"""Fault suite, Discord's side: 5xx and 429 answers to the outcome post and its upload, and a gateway that
drops (resumed, or refused with op 9). Real bot, loopback Discord and provider, real SQLite file.

Each test counts what reached Discord, so a lost post, a second post or a retry loop fails it."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript
from tests.test_e2e_video import bot_messages, wait_result

POSTS = r"^/channels/\d+/messages$"


def outcomes(emu: DiscordEmulator) -> list[dict]:
    """The outcome messages in the default channel: the ones that mention the requester."""
    return [m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]


def channel_posts(emu: DiscordEmulator) -> int:
    return len(emu.requests_to("POST", POSTS))


async def pending_task(emu: DiscordEmulator, grok_api: FakeGrokAPI, prompt: str) -> str:
    """A /video whose provider task finishes only when the test says so; its status message is posted."""
    grok_api.script_next(TaskScript(complete_after=None))
    before = len(grok_api.tasks)
    since = len(grok_api.requests)
    h = await emu.slash_command("video", {"prompt": prompt})
    await h.wait_text("queued", timeout=10)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", since=since, timeout=10)
    return list(grok_api.tasks)[before]


async def assert_quiet(emu: DiscordEmulator, seconds: float = 0.5) -> None:
    """Once every status message reads Done, nothing more is sent to Discord for `seconds` (a retry loop
    would show up as a count)."""

    def statuses_done() -> bool:
        statuses = [m for m in bot_messages(emu, emu.channel) if not m["content"].startswith("<@")]
        return all("Done" in message_text(m) for m in statuses)

    await emu.wait_for(statuses_done, timeout=10, what="every status message edited to Done")
    before = len(emu.requests)
    await asyncio.sleep(seconds)
    extra = [f"{r.method} {r.path} {r.status}" for r in emu.requests[before:]]
    assert extra == [], f"the bot kept talking to Discord once done: {extra}"


RATE_LIMITED = {"message": "You are being rate limited.", "retry_after": 0.3, "global": False, "code": 0}


@pytest.mark.parametrize("statuses", [(429, 429), (500, 502)], ids=["429-retry-after-twice", "500-then-502"])
async def test_outcome_post_survives_5xx_and_429_exactly_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, statuses: tuple[int, ...]
) -> None:
    await start_bot()
    task_id = await pending_task(emu, grok_api, "a heron in the rain")
    member = emu.default_user
    assert channel_posts(emu) == 1, "the status message"
    for status in statuses:
        emu.inject_rest_error("POST", POSTS, status, RATE_LIMITED if status == 429 else None)
    grok_api.complete(task_id)
    times = len(statuses)

    result = await wait_result(emu, emu.channel, timeout=20)
    assert result["content"].startswith(f"<@{member.id}>")
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4, "the upload arrived whole"
    assert int(result["id"]) in [int(p) for p in emu.pings(member)]
    await assert_quiet(emu)
    assert len(outcomes(emu)) == 1, "exactly one outcome message"
    posts = emu.requests_to("POST", POSTS)
    injected = [r for r in posts if r.injected]
    assert len(injected) == times and all(r.files for r in injected), "the faults hit the upload itself"
    assert len(posts) == 1 + times + 1, [(r.status, r.injected) for r in posts]  # status, faults, success
    if statuses[-1] == 429:
        after = posts[-1].time - injected[-1].time
        assert after >= 0.25, f"retried {after:.3f} s after a 429 that asked for 0.3 s"


# ---- the gateway drops -----------------------------------------------------------------------------------


async def test_gateway_drop_with_resume_keeps_delivering(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    emu.allow_resume = True  # the default refuses a RESUME with op 9 (the next test)
    await start_bot()
    first = await pending_task(emu, grok_api, "before the drop")
    await emu.disconnect_all(code=4000)
    await emu.wait_for(lambda: emu.resume_count >= 1, timeout=15, what="a RESUME")
    assert emu.identify_count == 1, "resumed, not re-identified"
    grok_api.complete(first)
    await emu.wait_for(lambda: len(outcomes(emu)) >= 1, timeout=10, what="the first video")

    h = await emu.slash_command("video", {"prompt": "after the drop"})
    await h.wait_text("queued", timeout=10)
    await emu.wait_for(lambda: len(outcomes(emu)) >= 2, timeout=10, what="the second video")
    await assert_quiet(emu, 0.3)
    posted = outcomes(emu)
    assert len(posted) == 2
    assert [emu.file_bytes(m["attachments"][0]) for m in posted] == [FAKE_MP4, FAKE_MP4]
    assert ["before the drop" in message_text(posted[0]), "after the drop" in message_text(posted[1])] == [
        True,
        True,
    ]


async def test_gateway_drop_with_resume_refused_reidentifies_and_delivers(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    assert not emu.allow_resume
    task_id = await pending_task(emu, grok_api, "submitted before the drop")
    await emu.disconnect_all(code=4000)  # discord.py tries to RESUME; op 9 (false) answers; it IDENTIFYs
    await emu.wait_identified(count=2, timeout=15)
    assert emu.resume_count == 0
    grok_api.complete(task_id)
    result = await wait_result(emu, emu.channel, timeout=10)
    assert "submitted before the drop" in message_text(result)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4

    h = await emu.slash_command("video", {"prompt": "after re-identify"})  # goes to the new session
    await h.wait_text("queued", timeout=10)
    await emu.wait_for(lambda: len(outcomes(emu)) >= 2, timeout=10, what="the second video")
    await assert_quiet(emu, 0.3)
    assert len(outcomes(emu)) == 2
    assert emu.identify_count == 2, "one re-identify, no reconnect loop"
