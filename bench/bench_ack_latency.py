"""How fast /video is acknowledged while the poller is busy: the real bot process, idle vs a polling load.

    .venv/bin/python -m bench.bench_ack_latency [--commands 50] [--tasks 500] [--interval 5] [--latency 0.3]

The bot runs as its own process (`python -m bot`) against the loopback Discord emulator and Grok stand-in,
served by this process. A member runs /video --commands times, one after another; the acknowledgement
latency is the emulator's time from sending INTERACTION_CREATE to receiving the bot's first interaction
callback (the defer). Measured twice: the bot idle (the baseline), and with --tasks pending tasks polled
every POLL_INTERVAL_SECONDS, each poll taking --latency seconds (PROVIDER_MAX_RPS=1000, POLL_CONCURRENCY=256).
Fair-use limits are off so every command is accepted; a first command warms the bot up, uncounted. The stand-ins share this process's event loop, so
their own work under load is part of the figure too (the same for both runs' emulator).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from bench.live_bot import bot_process, polled, poller_settings, seed_pending, stage, task_polls, wait_until
from tests.fakes.discord import DiscordEmulator


def registered(emu: DiscordEmulator) -> bool:
    """Whether the bot has registered /video (it syncs its commands at start)."""
    commands = [*emu.global_commands, *(c for scope in emu.guild_commands.values() for c in scope)]
    return any(c["name"] == "video" and c["type"] == 1 for c in commands)


async def latencies(commands: int, tasks: int, interval: float, latency: float) -> tuple[list[float], int]:
    """Acknowledgement latencies in seconds, and the polls made while the commands ran."""
    async with stage() as where:
        api, emu = where.api, where.emu
        since = await seed_pending(where, tasks)
        api.latency["result"] = latency
        settings = {**poller_settings(interval, 1000), "MAX_ACTIVE_PER_MEMBER": "0", "COOLDOWN_SECONDS": "0"}
        async with bot_process(where, settings):
            await wait_until(lambda: registered(emu), 60, "the bot's commands")
            await emu.wait_identified(timeout=60)
            await asyncio.sleep(0.5)  # the bot reads READY and its guild
            warm = await emu.slash_command("video", {"prompt": "a first take, not counted"})
            await warm.wait_response(timeout=10)
            await wait_until(lambda: polled(api, since) >= tasks, 120, "every task's first poll")
            before = len(api.requests)
            taken: list[float] = []
            for n in range(commands):
                handle = await emu.slash_command("video", {"prompt": f"a lighthouse at dusk, take {n}"})
                first = await handle.wait_response(timeout=10)
                taken.append(first.at - handle.dispatched_at)
                await asyncio.sleep(0.1)
            polls = len(task_polls(api, before))
    return taken, polls


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=500, help="pending tasks in the loaded run")
    parser.add_argument("--interval", type=float, default=5.0, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds each poll takes")
    args = parser.parse_args()
    idle, _ = await latencies(args.commands, 0, args.interval, args.latency)
    busy, polls = await latencies(args.commands, args.tasks, args.interval, args.latency)
    ms = args.latency * 1000
    print(f"/video acknowledgements: {args.commands} per run; POLL_INTERVAL_SECONDS={args.interval:g}, "
          f"each poll takes {ms:.0f} ms, PROVIDER_MAX_RPS=1000, POLL_CONCURRENCY=256")  # fmt: skip
    print(
        f"idle bot (baseline)      : p50 {statistics.median(idle) * 1e3:7.1f} ms   p99 {p99(idle) * 1e3:7.1f} ms"
    )
    print(f"{args.tasks:5d} tasks being polled : p50 {statistics.median(busy) * 1e3:7.1f} ms   "
          f"p99 {p99(busy) * 1e3:7.1f} ms   ({polls} polls while the commands ran)")  # fmt: skip
    print(f"ratio p99 loaded / idle  : {p99(busy) / p99(idle):7.2f}x   "
          f"(p50 {statistics.median(busy) / statistics.median(idle):.2f}x)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
