"""Fault suite, the provider's side: answers with unknown or null fields, task ids full of path characters or
3,000 characters long, failure reasons of 10,000 characters full of mentions, and video links that announce a
file over MAX_VIDEO_MB or never end. Real bot, loopback Discord and provider, real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, InteractionHandle, message_text
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript, answer_next_create_with_id
from tests.test_e2e_video import bot_messages, wait_result

POLL = "0.05"
EMBED_TOTAL = 6000


def within_discord_limits(message: dict[str, Any]) -> None:
    assert len(message.get("content") or "") <= 2000
    for embed in message.get("embeds", []):
        fields = embed.get("fields", [])
        assert len(embed.get("title", "")) <= 256 and len(embed.get("description", "")) <= 4096
        assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in fields)
        total = sum(len(embed.get(k, "")) for k in ("title", "description")) + len(
            embed.get("footer", {}).get("text", "")
        )
        assert total + sum(len(f["name"]) + len(f["value"]) for f in fields) <= EMBED_TOTAL


async def first_poll(grok_api: FakeGrokAPI, since: int = 0) -> str:
    [poll] = await grok_api.wait_for_requests(lambda r: r.endpoint == "result", since=since, timeout=10)
    assert poll.task_id is not None
    return poll.task_id


async def pending_task(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, prompt: str, **settings: str
) -> str:
    """The bot started with `settings`, and a /video whose task the provider finishes only when told to."""
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot(POLL_INTERVAL_SECONDS=POLL, **settings)
    await emu.slash_command("video", {"prompt": prompt})
    return await first_poll(grok_api)


def answer(task_id: str, **fields: Any) -> dict[str, Any]:
    """A poll answer in the documented shape, with `fields` in place of the documented values."""
    return {"id": task_id, "object": "video", "created": 1_700_000_000, "model": "grok_video3",
            "status": "processing", "video_url": None, "error": None, **fields}  # fmt: skip


async def details_of(emu: DiscordEmulator, result: dict[str, Any]) -> InteractionHandle:
    """The member presses Details under the outcome; the private answer."""
    buttons = [c for row in result["components"] for c in row["components"]]
    [details] = [b["custom_id"] for b in buttons if b["custom_id"].startswith("grokvideo:details:")]
    h = await emu.click_button(result["id"], details)
    await h.wait_response()
    await h.wait_for(lambda h: h.original or h.followups or (h.response and h.response.data))
    return h


def answered_embeds(h: InteractionHandle) -> list[dict[str, Any]]:
    messages = [m for m in [h.original, *h.followups] if m]
    if h.response is not None and h.response.data:
        messages.append(h.response.data)
    return messages


# ---- status words and null fields --------------------------------------------------------------------------


async def test_an_unknown_status_forever_is_polled_until_the_task_timeout_then_reported(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    task_id = await pending_task(emu, grok_api, start_bot, "limbo", TASK_TIMEOUT_SECONDS="1")
    grok_api.report_status(task_id, "paused_by_operator")
    result = await wait_result(emu, emu.channel, timeout=10)
    assert "timed out" in message_text(result)
    polls = len(grok_api.result_calls(task_id))
    assert 5 <= polls <= 40, f"{polls} polls in a 1 s task timeout at a 0.05 s interval"
    await asyncio.sleep(0.3)
    assert len(grok_api.result_calls(task_id)) == polls, "polls stop once the member was told"


async def test_null_status_and_completed_without_a_link_keep_polling_then_deliver(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    task_id = await pending_task(emu, grok_api, start_bot, "null and void", TASK_TIMEOUT_SECONDS="30")
    grok_api.fail_next("result", status=200, body=answer(task_id, status=None), times=2)
    grok_api.fail_next(
        "result", status=200, body=answer(task_id, status="completed", video_url=None), times=2
    )
    grok_api.fail_next("result", status=200, body=answer(task_id, status="completed", video_url=""), times=1)
    since = len(grok_api.requests)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=5, since=since, timeout=10)
    assert not [m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")], "not given up"
    grok_api.complete(task_id)
    result = await wait_result(emu, emu.channel, timeout=10)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4


async def test_failed_with_a_null_error_is_reported_without_a_reason(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    task_id = await pending_task(emu, grok_api, start_bot, "no reason given")
    grok_api.fail_next("result", status=200, body=answer(task_id, status="failed", error=None), times=50)
    result = await wait_result(emu, emu.channel, timeout=10)
    text = message_text(result)
    assert "could not be made" in text and "did not give a reason" in text, text
    within_discord_limits(result)


# ---- hostile task ids --------------------------------------------------------------------------------------

HOSTILE_IDS = {
    "dot-dot": "../x",
    "query-fragment": "a/b?c#d",
    "spaces": "task with spaces",
    "unicode": "タスク/✓ ünï",
    "percent": "100%25done%2F",
    "3000-chars": "x" * 1500 + "/?#%" * 375,
}


@pytest.mark.parametrize("task_id", list(HOSTILE_IDS.values()), ids=list(HOSTILE_IDS))
async def test_a_hostile_task_id_is_polled_at_its_own_encoded_path_and_shown_within_limits(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, task_id: str
) -> None:
    await start_bot(POLL_INTERVAL_SECONDS=POLL)
    answer_next_create_with_id(grok_api, task_id)
    h = await emu.slash_command("video", {"prompt": "a strange id"})
    await h.wait_followup(timeout=10)
    within_discord_limits(h.followups[0])
    polled = await first_poll(grok_api)
    assert polled == task_id, "the poll reached the task's own path, every character encoded"
    assert not [r for r in grok_api.requests if r.endpoint == "other"], "no poll went to another path"
    grok_api.complete(task_id)
    result = await wait_result(emu, emu.channel, timeout=10)
    assert [emu.file_bytes(a) for a in result["attachments"]] == [FAKE_MP4], message_text(result)
    for message in bot_messages(emu, emu.channel):
        within_discord_limits(message)

    for answered in answered_embeds(await details_of(emu, result)):
        within_discord_limits(answered)
    mine = await emu.slash_command("videos", subcommand="mine")
    assert "a strange id" in await mine.wait_text("Your recent videos", timeout=10)
    for answered in answered_embeds(mine):
        within_discord_limits(answered)
    status = await emu.slash_command("videos", {"task": 1}, subcommand="status")
    await status.wait_text("Task #1", timeout=10)
    for answered in answered_embeds(status):
        within_discord_limits(answered)


# ---- hostile failure reasons -------------------------------------------------------------------------------


async def test_a_10000_character_reason_full_of_mentions_pings_only_the_requester(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    other = emu.owner
    role = emu.add_role(emu.guild, "everyone-else")
    await emu.set_member_roles(emu.guild, other, [role])
    chunk = f"@everyone <@{other.id}> <@!{other.id}> <@&{role.id}> @here "
    reason = (chunk * (10_000 // len(chunk) + 1))[:10_000]
    grok_api.script_next(TaskScript(complete_after=0.0, fail_reason=reason))
    await start_bot()
    member = emu.default_user
    await emu.slash_command("video", {"prompt": "a storm of pings"}, user=member)
    result = await wait_result(emu, emu.channel)
    within_discord_limits(result)
    assert "could not be made" in message_text(result)
    assert emu.pings(other) == [], "nobody but the requester is pinged (not @everyone, the role or the user)"
    assert [int(p) for p in emu.pings(member)] == [int(result["id"])]
    assert result.get("mention_everyone") is not True and result.get("mention_roles", []) == []

    details = await details_of(emu, result)
    for answered in answered_embeds(details):
        within_discord_limits(answered)
    assert emu.pings(other) == []


# ---- hostile video hosts -----------------------------------------------------------------------------------


async def test_a_video_announced_over_max_video_mb_is_given_as_its_link(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    grok_api.script_next(TaskScript(complete_after=0.0, video_size=3 * 1024 * 1024))
    await start_bot(POLL_INTERVAL_SECONDS=POLL, MAX_VIDEO_MB="1")
    await emu.slash_command("video", {"prompt": "an enormous file"})
    result = await wait_result(emu, emu.channel, timeout=15)
    text = message_text(result)
    assert result["attachments"] == []
    assert "/cdn/" in text, "the member gets the link"
    downloads = [r for r in grok_api.requests if r.endpoint == "download"]
    assert len(downloads) == 1, "refused from its Content-Length, not retried"
    on_disk = sum(f.stat().st_size for f in (tmp_path / "data" / "videos").rglob("*") if f.is_file())
    assert on_disk <= 1024 * 1024


async def test_an_endless_video_body_is_cut_at_the_cap_and_never_fills_the_disk(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    task_id = await pending_task(emu, grok_api, start_bot, "a river with no end", MAX_VIDEO_MB="2")
    grok_api.video_host_mode(task_id, "endless")
    grok_api.complete(task_id)
    result = await wait_result(emu, emu.channel, timeout=15)
    text = message_text(result)
    assert result["attachments"] == []
    assert "/cdn/" in text or "couldn't download" in text, text
    served = grok_api.served[task_id]
    assert served < 64 * 1024 * 1024, f"the host sent {served} bytes: the bot kept reading"
    on_disk = sum(f.stat().st_size for f in (tmp_path / "data" / "videos").rglob("*") if f.is_file())
    assert on_disk <= 2 * 1024 * 1024, "nothing over the cap stays on disk"
    await asyncio.sleep(0.3)
    downloads = [r for r in grok_api.requests if r.endpoint == "download"]
    assert len(downloads) == 1, "not fetched again"
