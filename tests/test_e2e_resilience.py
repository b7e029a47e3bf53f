"""Nothing lost, nothing twice: oversized videos, provider trouble, timeouts, crashes and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.conftest import GROK_KEY, ROOT, StartBot
from tests.fakes.discord import DiscordEmulator, message_text
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript
from tests.test_e2e_video import bot_messages, wait_result

MiB = 1024 * 1024


def noise_video(path: Path, seconds: int = 3) -> bytes:
    """A real H.264 file of incompressible noise, well over 10 MiB (made with the bundled ffmpeg)."""
    import imageio_ffmpeg

    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
         "-i", "nullsrc=s=640x360:r=24,geq=random(1)*255:128:128", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


async def test_oversized_video_is_shrunk_to_the_upload_limit(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, tmp_path: Path
) -> None:
    big = noise_video(tmp_path / "big.mp4")
    assert len(big) > 10 * MiB
    grok_api.script_next(TaskScript(complete_after=0.0, video=big))
    await start_bot()
    await emu.slash_command("video", {"prompt": "static"})
    result = await wait_result(emu, emu.channel, timeout=60)
    [attachment] = result["attachments"]
    data = emu.file_bytes(attachment)
    assert len(data) <= emu.upload_limit(emu.guild)
    assert data[4:8] == b"ftyp", "a real MP4"


async def test_video_that_cannot_fit_is_posted_as_a_link(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    not_a_video = FAKE_MP4 + b"\x00" * (11 * MiB)  # a video by its first bytes; ffmpeg cannot shrink it
    grok_api.script_next(TaskScript(complete_after=0.0, video=not_a_video))
    await start_bot()
    await emu.slash_command("video", {"prompt": "too big"})
    result = await wait_result(emu, emu.channel, timeout=30)
    assert result["attachments"] == []
    text = message_text(result)
    assert "/cdn/" in text and "temporary" in text


async def test_a_link_signed_with_the_api_key_is_posted_without_it_and_never_stored(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    unshrinkable = FAKE_MP4 + b"\x00" * (11 * MiB)
    grok_api.script_next(TaskScript(complete_after=0.0, video=unshrinkable, link_carries_key=True))
    bot = await start_bot()
    await emu.slash_command("video", {"prompt": "too big, signed"})
    result = await wait_result(emu, emu.channel, timeout=30)
    text = message_text(result)
    assert "/cdn/" in text and "sig=fake" in text, "the link is still given, without the key"
    assert GROK_KEY not in text and "api_key" not in text
    assert [r.query for r in grok_api.requests if r.endpoint == "download"] == [
        f"api_key={GROK_KEY}&sig=fake"
    ]
    db = Path(bot.settings.database_path)
    for file in db.parent.glob(f"{db.name}*"):  # the database, its WAL and shared memory
        assert GROK_KEY.encode() not in file.read_bytes(), file.name


async def test_provider_outage_and_rate_limit_lose_nothing(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot(POLL_INTERVAL_SECONDS="0.05")
    grok_api.fail_next("result", status=503, times=2)
    grok_api.fail_next("result", status=429, headers={"Retry-After": "1"}, times=1)
    await emu.slash_command("video", {"prompt": "patience"})
    result = await wait_result(emu, emu.channel, timeout=30)
    assert emu.file_bytes(result["attachments"][0]) == FAKE_MP4
    polls = grok_api.result_calls()
    assert len(polls) >= 4  # 503, 503, 429 (scripted in that order), then success
    # After the 429, the next poll waited for Retry-After (1 s), not the 0.05 s interval.
    assert polls[3].time - polls[2].time >= 0.95


async def test_a_task_that_never_finishes_expires_with_a_message(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot(TASK_TIMEOUT_SECONDS="1")
    await emu.slash_command("video", {"prompt": "forever"})
    result = await wait_result(emu, emu.channel, timeout=10)
    text = message_text(result)
    assert "timed out" in text
    assert "did not finish your video within 1 second," in text, "the timeout in true words, not '0 minutes'"


async def test_an_expired_video_link_is_reported(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.script_next(TaskScript(complete_after=0.0, link_ttl=0.0))
    await start_bot()
    await emu.slash_command("video", {"prompt": "gone"})
    result = await wait_result(emu, emu.channel)
    assert "link expired" in message_text(result)


def downloads(grok_api: FakeGrokAPI) -> int:
    return len([r for r in grok_api.requests if r.endpoint == "download"])


async def link_answering(
    status: int, task_timeout: str, emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> tuple[str, int]:
    """A finished video whose link always answers `status`: what the member reads, and how many times the
    bot asked for the link (counted again after ten more poll intervals: it must have stopped)."""
    grok_api.script_next(TaskScript(complete_after=0.0, link_status=status))
    await start_bot(POLL_INTERVAL_SECONDS="0.05", TASK_TIMEOUT_SECONDS=task_timeout)
    await emu.slash_command("video", {"prompt": "so close"})
    result = await wait_result(emu, emu.channel, timeout=10)
    tries = downloads(grok_api)
    await asyncio.sleep(0.5)
    assert downloads(grok_api) == tries, "no more requests for the link once the member was told"
    return message_text(result), tries


async def test_a_video_the_file_host_keeps_failing_is_given_up_at_the_deadline(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    text, tries = await link_answering(500, "1", emu, grok_api, start_bot)
    assert "could not be made" in text
    why = "the file host kept failing (the video host answered HTTP 500)."
    assert f"The video was made, but I couldn't download it: {why}" in text
    assert tries >= 2, "a passing 500 is tried again before the deadline"


async def test_a_video_link_the_file_host_refuses_fails_at_once(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    """A 400 will not turn into a video by asking again: the member hears now, not at the deadline."""
    text, tries = await link_answering(400, "60", emu, grok_api, start_bot)
    assert "The video was made, but I couldn't download it: the video host answered HTTP 400." in text
    assert tries == 1


async def test_message_content_intent_refused_exits_with_the_portal_switch(
    emu: DiscordEmulator, bot_env: dict[str, str], tmp_path: Path
) -> None:
    emu.message_content_allowed = False
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, env=_child_env(bot_env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    text = stderr.decode()
    assert proc.returncode == 3
    assert "MESSAGE CONTENT INTENT" in text and "REPLY_MODE=false" in text
    assert "Traceback" not in text


# ---- crash and restart ------------------------------------------------------------------------------


def _child_env(bot_env: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "GROK_"))}
    env.update(bot_env, PYTHONPATH=str(ROOT), LOG_LEVEL="INFO", **extra)
    return env


class BotProcess:
    """`python -m bot` as an owner runs it, with its log lines collected."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    async def wait_log(self, text: str, timeout: float = 20) -> None:
        async def seen() -> None:
            while not any(text in line for line in self.lines):
                if self.proc.returncode is not None:
                    raise AssertionError("bot exited:\n" + "\n".join(self.lines[-30:]))
                await asyncio.sleep(0.05)

        await asyncio.wait_for(seen(), timeout)

    async def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        await self._reader

    async def stop(self) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(self.proc.wait(), 20)
        await self._reader
        return self.proc.returncode or 0


@pytest.fixture
async def spawn(
    bot_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[BotProcess]]]:
    started: list[BotProcess] = []

    async def start(**extra_env: str) -> BotProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=_child_env(bot_env, **extra_env),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        bot = BotProcess(proc)
        started.append(bot)
        await bot.wait_log("logged in as")
        return bot

    yield start
    for bot in started:
        if bot.proc.returncode is None:
            with contextlib.suppress(Exception):
                await bot.kill()


async def test_sigkill_with_pending_tasks_then_restart_delivers_each_exactly_once(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Callable[[], Awaitable[BotProcess]],
    bot_env: dict[str, str],
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)  # nothing finishes until we say so
    # A task killed mid-poll waits out its lease (GROK_TIMEOUT_SECONDS + 2 s) before the next life takes it.
    first = await spawn(GROK_TIMEOUT_SECONDS="3")
    for n in range(3):
        h = await emu.slash_command("video", {"prompt": f"video {n}"})
        await h.wait_text("queued", timeout=10)
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=3)
    await first.kill()

    ids = list(grok_api.tasks)
    grok_api.complete(ids[0])
    grok_api.complete(ids[1])
    grok_api.fail(ids[2], "Reference image could not be accessed.")

    second = await spawn(GROK_TIMEOUT_SECONDS="3")
    await emu.wait_for(
        lambda: len([m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]) >= 3,
        timeout=20,
    )
    results = [m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]
    assert sorted(len(m["attachments"]) for m in results) == [0, 1, 1]
    assert sum("Reference image could not be accessed." in message_text(m) for m in results) == 1
    # The second life re-used the stored command hash: no second sync burnt the daily limit.
    assert emu.command_put_count == 1

    # Simulate the worst moment: a crash right after posting, before the row was marked delivered.
    assert await second.stop() == 0
    db = sqlite3.connect(bot_env["DATABASE_PATH"])
    with db:
        db.execute(
            "UPDATE tasks SET state = 'downloaded', delivered_message_id = NULL, next_poll_at = 0 WHERE id = 1"
        )
    db.close()
    third = await spawn()
    await third.wait_log("found the post from before a restart")
    await asyncio.sleep(0.3)
    results = [m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]
    assert len(results) == 3, "the earlier post was adopted, not repeated"
    assert await third.stop() == 0
    for line in first.lines + second.lines + third.lines:
        assert GROK_KEY not in line and bot_env["DISCORD_TOKEN"] not in line


async def test_killed_during_the_create_call_the_member_is_told_after_restart(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Callable[..., Awaitable[BotProcess]]
) -> None:
    """The row is written before the paid call; the process dies before the answer. Nobody knows whether
    the provider started the video, so after the create could no longer be pending the member is told."""
    grok_api.slow_next("create", 30.0)
    first = await spawn(GROK_TIMEOUT_SECONDS="1")
    h = await emu.slash_command("video", {"prompt": "in flight"})
    await h.wait_response()
    await grok_api.wait_for_requests(lambda r: r.endpoint == "create")
    await first.kill()

    second = await spawn(GROK_TIMEOUT_SECONDS="1")
    lost = await emu.wait_for_message(
        emu.channel, lambda m: "restarted while sending" in message_text(m), timeout=15
    )
    assert lost["content"].startswith(f"<@{emu.default_user.id}>")
    assert "lost" in message_text(lost).lower()
    assert len(grok_api.creates) == 1, "never re-sent: it may have been paid for"
    assert await second.stop() == 0
