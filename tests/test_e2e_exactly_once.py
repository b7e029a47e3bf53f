"""Exactly once, proven against the faults found with the real bot: answers lost after Discord did the work
(accepted, then 5xx), a crash between the upload and the stored id, and a busy channel after downtime."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests import test_e2e_resilience as resilience
from tests.conftest import BOT_TOKEN, StartBot
from tests.fakes.discord import DiscordEmulator, RecordedRequest
from tests.test_e2e_video import bot_messages

BotProcess = resilience.BotProcess
spawn = resilience.spawn  # the fixture: `python -m bot` as a real process, killed with SIGKILL
Spawn = Callable[..., Awaitable[BotProcess]]

POST_MESSAGE = r"^/channels/\d+/messages$"


def has_file(rec: RecordedRequest) -> bool:
    return bool(rec.files)


def no_file(rec: RecordedRequest) -> bool:
    return not rec.files


def task_row(bot_env: dict[str, str], task_id: int = 1) -> dict[str, Any]:
    db = sqlite3.connect(bot_env["DATABASE_PATH"])
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
    finally:
        db.close()
    return dict(row) if row is not None else {}


def videos(emu: DiscordEmulator) -> list[dict[str, Any]]:
    return [m for m in bot_messages(emu, emu.channel) if m["attachments"]]


def uploads(emu: DiscordEmulator) -> list[RecordedRequest]:
    return [r for r in emu.requests_to("POST", POST_MESSAGE) if r.files]


async def delivered(emu: DiscordEmulator, bot_env: dict[str, str], timeout: float = 20) -> dict[str, Any]:
    return await emu.wait_for(
        lambda: (row := task_row(bot_env)).get("state") == "delivered" and row,
        timeout=timeout,
        what="delivered",
    )


@pytest.mark.parametrize("status_failures", [1, 10], ids=["status-retried", "status-id-never-learned"])
async def test_status_accepted_then_503_and_a_failed_upload_still_post_the_video_once(
    emu: DiscordEmulator, start_bot: StartBot, bot_env: dict[str, str], status_failures: int
) -> None:
    # The status message is made, but its answer is a 503 (once, or every time the bot asks); then the
    # first upload fails with a plain 503 (nothing made).
    emu.inject_rest_error("POST", POST_MESSAGE, 503, accepted=True, when=no_file, times=status_failures)
    emu.inject_rest_error("POST", POST_MESSAGE, 503, when=has_file)
    await start_bot()
    await emu.slash_command("video", {"prompt": "a lighthouse"})
    row = await delivered(emu, bot_env)
    assert len(videos(emu)) == 1, "marked delivered: the video must have been posted, once"
    [video] = videos(emu)
    assert video["content"].startswith(f"<@{emu.default_user.id}>")
    assert int(video["id"]) in emu.pings(emu.default_user)
    assert row["outcome"] == "video" and row["delivered_message_id"] == int(video["id"])
    statuses = [m for m in bot_messages(emu, emu.channel) if not m["content"]]
    assert len(statuses) == 1, "one status message, however often its answer was lost"
    assert len(bot_messages(emu, emu.channel)) == 2
    if status_failures == 1:
        # The retried status send came back as the message Discord had made, and the bot kept its id.
        assert row["status_message_id"] == int(statuses[0]["id"])
        assert [h.message_id for h in emu.nonce_hits] == [int(statuses[0]["id"])]


async def kill_between_upload_and_answer(emu: DiscordEmulator, spawn: Spawn, bot_env: dict[str, str]) -> str:
    """First life: Discord makes the video post and holds its answer; the bot is killed meanwhile. Returns the
    post's id. The row is left as the crash leaves it, made due at once (as when its lease runs out)."""
    first = await spawn()
    emu.inject_rest_error("POST", POST_MESSAGE, 503, accepted=True, when=has_file, hold=60)
    await emu.slash_command("video", {"prompt": "a harbour at dawn"})
    post = await emu.wait_for(lambda: videos(emu), timeout=20, what="the video post")
    await first.kill()
    emu.release_held()
    row = task_row(bot_env)
    assert row["state"] == "downloaded" and row["delivered_message_id"] is None
    assert row["delivery_started_at"] is not None, "the bot recorded where it was about to post"
    db = sqlite3.connect(bot_env["DATABASE_PATH"])
    with db:
        db.execute("UPDATE tasks SET next_poll_at = 0 WHERE id = 1")  # the 300 s delivery lease, run out
    db.close()
    return str(post[0]["id"])


async def test_killed_before_the_upload_answer_then_a_busy_channel_no_second_post(
    emu: DiscordEmulator, spawn: Spawn, bot_env: dict[str, str]
) -> None:
    posted = await kill_between_upload_and_answer(emu, spawn, bot_env)
    emu.advance_clock(
        emu.nonce_window + 1
    )  # down longer than Discord remembers nonces: only the search helps
    for n in range(60):
        await emu.post_message(content=f"chatter {n}")
    second = await spawn()
    row = await delivered(emu, bot_env)
    assert [m["id"] for m in videos(emu)] == [posted], "the video was not posted a second time"
    assert row["delivered_message_id"] == int(posted) and row["outcome"] == "video"
    assert len(uploads(emu)) == 1, "the second life found the post instead of uploading again"
    await second.wait_log("found the post from before a restart")
    assert await second.stop() == 0


async def test_killed_before_the_upload_answer_a_retry_in_the_nonce_window_gets_the_same_message(
    emu: DiscordEmulator, spawn: Spawn, bot_env: dict[str, str]
) -> None:
    posted = await kill_between_upload_and_answer(emu, spawn, bot_env)
    # The next life cannot read the channel once, so it posts again: within the window, with the same nonce.
    emu.inject_rest_error("GET", POST_MESSAGE, 503)
    second = await spawn()
    row = await delivered(emu, bot_env)
    first_upload, second_upload = uploads(emu)
    assert first_upload.json["nonce"] == second_upload.json["nonce"]
    assert second_upload.json["enforce_nonce"] is True
    assert [(h.nonce, str(h.message_id)) for h in emu.nonce_hits] == [(first_upload.json["nonce"], posted)]
    assert [m["id"] for m in videos(emu)] == [posted], "Discord gave back the message it had made"
    assert row["delivered_message_id"] == int(posted) and row["outcome"] == "video"
    assert await second.stop() == 0


async def test_the_emulator_enforces_nonces_as_discord_does(emu: DiscordEmulator) -> None:
    url = f"{emu.api_base}/channels/{emu.channel.id}/messages"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {BOT_TOKEN}"}) as http:

        async def post(**body: Any) -> dict[str, Any]:
            async with http.post(url, json={"content": "hello", **body}) as answer:
                assert answer.status == 200
                return dict(await answer.json())

        first = await post(nonce="n1", enforce_nonce=True)
        again = await post(nonce="n1", enforce_nonce=True)
        assert again["id"] == first["id"] and again["nonce"] == "n1"
        assert [(h.nonce, h.message_id) for h in emu.nonce_hits] == [("n1", int(first["id"]))]
        unenforced = await post(nonce="n1")
        assert unenforced["id"] != first["id"], "without enforce_nonce a nonce never stops a message"
        emu.advance_clock(emu.nonce_window + 1)
        late = await post(nonce="n1", enforce_nonce=True)
        assert late["id"] not in (first["id"], unenforced["id"]), "past the window the nonce is forgotten"
        async with http.get(f"{url}/{first['id']}") as answer:
            assert "nonce" not in await answer.json(), "fetched messages do not carry their nonce"
    assert len(emu.messages(emu.channel)) == 3 and len(emu.nonce_hits) == 1
