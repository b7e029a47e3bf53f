"""The engine's stages do not block each other: slow video hosts fill the download stage, and polls and posts
of other members carry on. Real bot, loopback Discord and provider, real SQLite file."""

from __future__ import annotations

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FakeGrokAPI, RecordedRequest, TaskScript
from tests.test_e2e_video import wait_result

HANG = 30.0  # far longer than the test: the hanging downloads are still going when it ends


async def test_hanging_downloads_hold_up_no_other_members_poll_or_post(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """Two finished videos whose host hangs fill DOWNLOAD_CONCURRENCY=2. With one pool of two workers (as
    before), a third member's task was not even polled until a download ended; with stages it is polled,
    and its outcome posted, while both downloads still hang."""
    await start_bot(
        POLL_INTERVAL_SECONDS="0.05",
        POLL_CONCURRENCY="2",
        DOWNLOAD_CONCURRENCY="2",
        MAX_ACTIVE_PER_MEMBER="0",
        COOLDOWN_SECONDS="0",
    )
    grok_api.slow_next("download", HANG, times=2)
    grok_api.script_next(TaskScript(complete_after=0.0), TaskScript(complete_after=0.0))
    for prompt in ("first", "second"):
        await emu.slash_command("video", {"prompt": prompt})
    await grok_api.wait_for_requests(is_download, count=2, timeout=10)

    grok_api.script_next(TaskScript(complete_after=0.3, fail_reason="The prompt was refused."))
    await emu.slash_command("video", {"prompt": "third"})
    third = await wait_result(emu, emu.channel, timeout=10)
    assert "The prompt was refused." in message_text(third)
    # Both downloads are still in hand: no video was posted, and neither was asked for again.
    assert [m for m in emu.messages(emu.channel) if m.get("attachments")] == []
    assert len([r for r in grok_api.requests if is_download(r)]) == 2


def is_download(request: RecordedRequest) -> bool:
    return request.endpoint == "download"
