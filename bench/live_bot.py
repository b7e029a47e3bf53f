"""The real bot as its own process (`python -m bot`) against the loopback stand-ins served by the benchmark,
so the bot's CPU time and memory can be read apart from the stand-ins' (from /proc/<pid>, Linux only).

Shared by bench_poller_cpu, bench_scale, bench_catchup and bench_processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, RecordedRequest, TaskScript
from tests.overdue import seed_overdue

TOKEN = "bench-bot-token-0123456789"
KEY = "bench-grok-key-0123456789"
ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class BotProcess:
    pid: int

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the bot's process so far (all its threads)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15 of stat)

    def memory_kib(self, key: str = "VmRSS") -> int:
        """A line of /proc/<pid>/status in KiB: VmRSS (resident now) or VmHWM (the peak so far)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)


@dataclass
class Stage:
    api: FakeGrokAPI
    emu: DiscordEmulator
    db: Path
    videos: Path


@contextlib.asynccontextmanager
async def stage() -> AsyncIterator[Stage]:
    """The stand-ins on 127.0.0.1 and a temporary directory for the bot's database and videos."""
    api = FakeGrokAPI(api_key=KEY)
    emu = DiscordEmulator(token=TOKEN)
    await api.start()
    await emu.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            yield Stage(api, emu, Path(tmp) / "bot.sqlite3", Path(tmp) / "videos")
    finally:
        await emu.stop()
        await api.stop()


@contextlib.asynccontextmanager
async def bot_process(
    where: Stage, settings: Mapping[str, str], log_name: str = "bot.log"
) -> AsyncIterator[BotProcess]:
    """`python -m bot` with the given settings on top of the ones that point it at the stand-ins; stopped
    with SIGTERM (killed if it does not stop within 10 s). Its log goes to a file (`log_name`, one per
    process when several run), shown if it fails."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DISCORD_TOKEN": TOKEN,
        "GROK_API_KEY": KEY,
        "GROK_API_BASE_URL": where.api.base_url,
        "DATABASE_PATH": str(where.db),
        "VIDEO_DIR": str(where.videos),
        "DISCORD_API_BASE_URL": where.emu.api_base,
        "DISCORD_GATEWAY_URL": where.emu.gateway_url,
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    log_path = where.db.with_name(log_name)
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=log,
        )  # fmt: skip
    try:
        yield BotProcess(proc.pid)
        if proc.returncode is not None:
            raise RuntimeError(f"the bot exited early ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def wait_until(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Look every 50 ms until `predicate()` is true (the stand-ins record; they do not signal)."""
    try:
        async with asyncio.timeout(limit):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"waited {limit:g} s for {what}") from None


async def seed_pending(where: Stage, count: int, script: TaskScript | None = None) -> int:
    """`count` tasks pending at the stand-in (every poll answers "queued" until completed by hand) and
    overdue in the store; returns the index in `where.api.requests` from which the bot's requests start."""
    where.api.default_script = script or TaskScript(complete_after=None)
    emu = where.emu
    await seed_overdue(
        where.db, where.api, count, guild_id=emu.guild.id, channel_id=emu.channel.id,
        requester_id=emu.default_user.id,
    )  # fmt: skip
    return len(where.api.requests)


def task_polls(api: FakeGrokAPI, since: int = 0) -> list[RecordedRequest]:
    """The bot's polls of real tasks since request `since`: not the key check at start, which polls an id
    that cannot exist (bot/discord/runner.py)."""
    return [r for r in api.requests[since:] if r.endpoint == "result" and r.task_id in api.tasks]


def polled(api: FakeGrokAPI, since: int) -> int:
    """How many distinct tasks the bot has polled since request `since`."""
    return len({r.task_id for r in task_polls(api, since)})


def poller_settings(interval: float, rps: float) -> dict[str, str]:
    """POLL_INTERVAL_SECONDS and PROVIDER_MAX_RPS as given, POLL_CONCURRENCY 256 (room for 400 polls a second at a 600 ms round trip)."""
    return {
        "POLL_INTERVAL_SECONDS": f"{interval:g}",
        "PROVIDER_MAX_RPS": f"{rps:g}",
        "POLL_CONCURRENCY": "256",
    }
