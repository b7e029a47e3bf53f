"""The bot's memory while it downloads and delivers a 400 MB video: the real bot process, one task.

    .venv/bin/python -m bench.bench_big_delivery [--mb 400]

The bot runs as its own process (`python -m bot`, MAX_VIDEO_MB above the video's size) against the loopback
Discord emulator and Grok stand-in, served by this process. One task waits at the provider; once the bot
has polled it and settled, the stand-in completes it with a generated --mb MB video (streamed in 1 MiB
chunks, never held whole). The bot streams the download to disk; the file is over the emulator's upload
limit and is not a real video, so shrinking it fails at once and the bot posts the link (the path a
too-large video takes). Printed: the bot's resident memory (VmRSS, /proc/<pid>/status, sampled every
10 ms) before the delivery (the baseline) and at its peak during it, the growth, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.live_bot import BotProcess, bot_process, polled, seed_pending, stage, wait_until
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import TaskScript

MiB = 1024 * 1024


def posted(emu: DiscordEmulator) -> str | None:
    """The bot's answer in the channel once the video was delivered: "link" or "video"."""
    for message in emu.messages(emu.channel):
        if "download link" in message.get("content", "") or "download link" in str(message.get("embeds", "")):
            return "link"
        if message.get("attachments"):
            return "video"
    return None


async def sample_peak(bot: BotProcess, until: asyncio.Event) -> int:
    peak = 0
    while not until.is_set():
        peak = max(peak, bot.memory_kib("VmRSS"))
        await asyncio.sleep(0.01)
    return max(peak, bot.memory_kib("VmRSS"))


async def deliver(size: int) -> tuple[int, int, int, str, float, int]:
    """VmRSS before (KiB), peak VmRSS during the delivery, VmHWM after, the outcome, seconds it took, and the
    bytes the bot saved."""
    async with stage() as where:
        api, emu = where.api, where.emu
        since = await seed_pending(where, 1, TaskScript(complete_after=None, video_size=size))
        (task_id,) = api.tasks
        settings = {
            "POLL_INTERVAL_SECONDS": "0.5",
            "MAX_VIDEO_MB": f"{size / MiB * 2:g}",
            "PROVIDER_MAX_RPS": "1000",
        }
        async with bot_process(where, settings) as bot:
            await emu.wait_identified(timeout=60)
            await wait_until(lambda: polled(api, since) >= 1, 60, "the first poll")
            await asyncio.sleep(2.0)  # settled: imports done, caches warm, polling the pending task
            before = bot.memory_kib("VmRSS")
            done = asyncio.Event()
            sampler = asyncio.create_task(sample_peak(bot, done))
            started = time.monotonic()
            api.complete(task_id)
            await wait_until(lambda: posted(emu) is not None, 600, "the delivery")
            took = time.monotonic() - started
            done.set()
            peak = await sampler
            hwm = bot.memory_kib("VmHWM")
            outcome = posted(emu) or "?"
            saved = sum(p.stat().st_size for p in where.videos.rglob("*") if p.is_file())
    return before, peak, hwm, outcome, took, saved


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=400.0, help="the video's size in MiB")
    args = parser.parse_args()
    size = int(args.mb * MiB)
    before, peak, hwm, outcome, took, saved = await deliver(size)
    print(
        f"video: {size / MiB:g} MiB, generated and streamed by the stand-in; MAX_VIDEO_MB={size / MiB * 2:g}"
    )
    print(
        f"delivered as                  : {outcome} in {took:.1f} s ({saved / MiB:.1f} MiB on the bot's disk after)"
    )
    print(f"bot VmRSS before the delivery : {before / 1024:7.1f} MiB  (baseline)")
    print(f"bot VmRSS peak during it      : {peak / 1024:7.1f} MiB   growth {(peak - before) / 1024:+7.1f} MiB "
          f"({(peak - before) / 1024 / (size / MiB):.1%} of the video)")  # fmt: skip
    print(
        f"ratio peak / before           : {peak / before:7.2f}x   (VmHWM, the process's peak: {hwm / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    asyncio.run(main())
