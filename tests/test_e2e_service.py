"""`python -m bot` as a service: it waits out a Discord it cannot reach (one line per attempt, no traceback),
exits at once on a rejected token, and stops within 5 s of SIGTERM, even in an outage or mid-upload."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOT_TOKEN
from tests.fakes.discord import DiscordEmulator, DiscordError
from tests.fakes.grok_api import FAKE_MP4, FakeGrokAPI, TaskScript
from tests.test_e2e_resilience import BotProcess, _child_env
from tests.test_e2e_video import bot_messages, wait_result

#: The requirement: a signal ends the process within this many seconds, status 0.
STOP_WITHIN = 5.0

Spawn = Callable[..., Awaitable[BotProcess]]


class Forwarder:
    """A loopback port that refuses connections until opened, then passes each one through to `target`
    (the emulator): Discord down at start, then back."""

    def __init__(self, target: int) -> None:
        self.target = target
        with socket.socket() as probe:  # a free port, closed again: connecting to it is refused
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._pipe, "127.0.0.1", self.port)

    async def close(self) -> None:
        """Refuse new connections and cut the open ones (kept-alive HTTP connections included)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._writers.update((writer, up_writer))

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


@pytest.fixture
async def spawn(bot_env: dict[str, str], tmp_path: Path) -> AsyncIterator[Spawn]:
    """`python -m bot` as an owner runs it; unlike test_e2e_resilience's, it does not wait for the login."""
    started: list[BotProcess] = []

    async def start(**extra_env: str) -> BotProcess:
        command = (sys.executable, "-m", "bot")
        pipes = {"stdout": asyncio.subprocess.DEVNULL, "stderr": asyncio.subprocess.PIPE}
        started.append(BotProcess(await asyncio.create_subprocess_exec(
            *command, cwd=tmp_path, env=_child_env(bot_env, **extra_env), **pipes  # type: ignore[arg-type]
        )))  # fmt: skip
        return started[-1]

    yield start
    running = [bot.kill() for bot in started if bot.proc.returncode is None]
    await asyncio.gather(*running, return_exceptions=True)


async def sigterm(bot: BotProcess, sig: signal.Signals = signal.SIGTERM) -> float:
    """Send SIGTERM (or `sig`); return the seconds until the process was gone (it must exit 0)."""
    started = time.monotonic()
    bot.proc.send_signal(sig)
    await asyncio.wait_for(bot.proc.wait(), 20)
    took = time.monotonic() - started
    await asyncio.wait_for(bot.stop(), 5)
    assert bot.proc.returncode == 0, "\n".join(bot.lines[-30:])
    return took


def attempt_lines(bot: BotProcess) -> list[str]:
    return [line for line in bot.lines if "cannot reach Discord" in line]


async def serves_video(emu: DiscordEmulator) -> None:
    await emu.slash_command("video", {"prompt": "after the outage"})
    await wait_result(emu, emu.channel, timeout=20)


def assert_no_traceback(bot: BotProcess) -> None:
    text = "\n".join(bot.lines)
    assert "Traceback" not in text, text


# ---- start like a service -----------------------------------------------------------------------------------


@pytest.mark.parametrize("down", ["rest and gateway", "gateway"])
async def test_an_unreachable_discord_at_start_is_retried_one_line_per_attempt(
    down: str, emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    """Nothing listens where Discord should be (connection refused): one line per attempt, a growing
    backoff, then the bot connects once Discord is back and serves /video."""
    forwarder = Forwarder(emu.port or 0)
    urls = {"DISCORD_GATEWAY_URL": f"ws://127.0.0.1:{forwarder.port}/gateway"}
    if down == "rest and gateway":
        urls["DISCORD_API_BASE_URL"] = f"http://127.0.0.1:{forwarder.port}/api/v10"
    bot = await spawn(**urls)
    try:
        await bot.wait_log("attempt 2,", timeout=15)
        await forwarder.open()
        await bot.wait_log("logged in as", timeout=20)
        await serves_video(emu)
    finally:
        await forwarder.close()
    attempts = attempt_lines(bot)
    assert len(attempts) >= 2
    delays = [float(m.group(1)) for line in attempts if (m := re.search(r"next in ([\d.]+) s", line))]
    assert 1.0 <= delays[0] <= 2.0 and 2.0 <= delays[1] <= 4.0, delays  # 2 s doubling, jittered down to half
    assert all("Connect call failed" in line or "Cannot connect" in line for line in attempts), attempts
    assert_no_traceback(bot)
    assert "reached Discord after" in "\n".join(bot.lines)
    await sigterm(bot)


async def test_a_signal_between_attempts_exits_promptly(emu: DiscordEmulator, spawn: Spawn) -> None:
    nowhere = Forwarder(emu.port or 0)  # never opened: every attempt is refused
    bot = await spawn(DISCORD_API_BASE_URL=f"http://127.0.0.1:{nowhere.port}/api/v10")
    await bot.wait_log("attempt 1,", timeout=15)
    took = await sigterm(bot)
    print(f"exit after SIGTERM between attempts: {took:.2f} s")
    print("\n".join(attempt_lines(bot)))
    assert took < STOP_WITHIN
    assert_no_traceback(bot)


async def test_discord_answering_503_at_start_is_retried(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    emu.inject_rest_error("GET", r"^/users/@me$", 503, times=2)
    bot = await spawn()
    await bot.wait_log("logged in as", timeout=20)
    attempts = attempt_lines(bot)
    assert len(attempts) == 2 and all("HTTP 503" in line for line in attempts), attempts
    await serves_video(emu)
    assert_no_traceback(bot)
    await sigterm(bot)


async def test_a_rejected_token_exits_at_once_with_the_clear_message(
    emu: DiscordEmulator, bot_env: dict[str, str], spawn: Spawn
) -> None:
    started = time.monotonic()
    bot = await spawn(DISCORD_TOKEN="not-" + BOT_TOKEN)
    await asyncio.wait_for(bot.proc.wait(), 15)
    took = time.monotonic() - started
    await bot.stop()
    text = "\n".join(bot.lines)
    assert bot.proc.returncode == 3, text
    assert "Discord refused DISCORD_TOKEN" in text and "Reset Token" in text
    assert "Traceback" not in text and "cannot reach Discord" not in text
    assert took < 10, f"took {took:.1f} s: no retries for a token Discord rejects"


# ---- stop like a service ------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_during_an_outage_exits_promptly(
    sig: signal.Signals, emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    bot = await spawn()
    await bot.wait_log("logged in as")
    await emu.stop()  # Discord goes away: discord.py waits to reconnect
    await bot.wait_log("lost the gateway", timeout=15)
    took = await sigterm(bot, sig)
    print(f"exit after {sig.name} in reconnect backoff: {took:.2f} s")
    assert took < STOP_WITHIN
    assert_no_traceback(bot)


class HoldingEmulator(DiscordEmulator):
    """The emulator, slow on one thing once `holding` is set: a message POST with a file waits until `release`
    (the upload never completes while the test holds it), then fails as if Discord never got it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.holding = False
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def _r_create_message(self, rec: Any, channel_id: str) -> Any:
        if self.holding and rec.files:
            self.held.set()
            await self.release.wait()
            raise DiscordError(503, 0, "upload interrupted")
        return await super()._r_create_message(rec, channel_id)


@pytest.fixture
async def holding_emu() -> AsyncIterator[HoldingEmulator]:
    emulator = HoldingEmulator(token=BOT_TOKEN)
    await emulator.start()
    yield emulator
    emulator.release.set()
    await emulator.stop()
    assert emulator.spec_violations == [], "\n".join(emulator.spec_violations)


@pytest.fixture
def emu(holding_emu: HoldingEmulator) -> DiscordEmulator:
    """This module's emulator: HoldingEmulator (holding nothing until a test posts a file)."""
    return holding_emu


async def test_sigterm_mid_upload_exits_promptly_and_the_next_start_delivers_once(
    holding_emu: HoldingEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    emu = holding_emu
    emu.holding = True
    first = await spawn()
    await first.wait_log("logged in as")
    h = await emu.slash_command("video", {"prompt": "held at the door"})
    await h.wait_text("queued", timeout=10)
    await asyncio.wait_for(emu.held.wait(), 20)  # the video's upload is in flight
    took = await sigterm(first)
    print(f"exit after SIGTERM mid-upload: {took:.2f} s")
    if took > 0.5:
        print("\n".join(first.lines[-8:]))
    assert took < STOP_WITHIN
    assert_no_traceback(first)
    emu.holding = False
    emu.release.set()  # the first life's upload fails: Discord never got it
    assert not [m for m in bot_messages(emu, emu.channel) if m["attachments"]]

    second = await spawn()
    await second.wait_log("logged in as")
    result = await wait_result(emu, emu.channel, timeout=15)
    assert result["attachments"], "the video itself"
    await asyncio.sleep(0.5)  # a second post would come within a few poll intervals
    videos = [m for m in bot_messages(emu, emu.channel) if m["attachments"]]
    assert len(videos) == 1, "delivered exactly once"
    assert len(grok_api.creates) == 1
    await sigterm(second)


# ---- Discord unreachable while running ---------------------------------------------------------------------


async def test_discord_unreachable_at_delivery_is_one_line_and_the_video_arrives_once_it_is_back(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, spawn: Spawn
) -> None:
    """Discord's REST API stops answering (connections refused) just as a video is ready: the bot logs one
    line per try, no traceback, keeps the task, and posts the video once Discord is back."""
    forwarder = Forwarder(emu.port or 0)
    await forwarder.open()
    grok_api.script_next(TaskScript(complete_after=None))
    bot = await spawn(DISCORD_API_BASE_URL=f"http://127.0.0.1:{forwarder.port}/api/v10",
                      POLL_INTERVAL_SECONDS="0.1")  # fmt: skip
    try:
        await bot.wait_log("logged in as", timeout=20)
        await emu.slash_command("video", {"prompt": "through the outage"})
        await grok_api.wait_for_requests(lambda r: r.endpoint == "create", timeout=10)
        [task_id] = grok_api.tasks
        await grok_api.wait_for_requests(
            lambda r: r.endpoint == "result" and r.task_id == task_id, timeout=10
        )
        await forwarder.close()
        grok_api.complete(task_id)
        await bot.wait_log("posting failed (Discord unreachable", timeout=15)
        await forwarder.open()
        posted = await wait_result(emu, emu.channel, timeout=30)
    finally:
        await forwarder.close()
    assert emu.file_bytes(posted["attachments"][0]) == FAKE_MP4
    assert len([m for m in bot_messages(emu, emu.channel) if m["attachments"]]) == 1
    assert_no_traceback(bot)
    await sigterm(bot)


async def test_a_database_from_a_newer_version_stops_the_bot_with_one_clear_line(
    emu: DiscordEmulator, spawn: Spawn, tmp_path: Path
) -> None:
    """A downgrade: the bot refuses a schema it does not know, touches nothing, and says so in one line."""
    newer = tmp_path / "newer.sqlite3"
    with contextlib.closing(sqlite3.connect(newer)) as db:
        db.execute("PRAGMA user_version = 999")
    bot = await spawn(DATABASE_PATH=str(newer))
    await asyncio.wait_for(bot.proc.wait(), 20)
    await asyncio.wait_for(bot.stop(), 5)
    assert bot.proc.returncode == 3, "\n".join(bot.lines[-20:])
    assert any("schema version 999, newer than" in line and "stopping" in line for line in bot.lines), (
        bot.lines
    )
    assert_no_traceback(bot)
    with contextlib.closing(sqlite3.connect(newer)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (999,), "untouched"
