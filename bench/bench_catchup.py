"""Catching up after a restart: the real bot, 1,000 overdue tasks, one request budget toward the provider.

    .venv/bin/python -m bench.bench_catchup [--tasks 1000] [--rps 25]

The tasks wait in the store, all overdue (the bot was down), and still pending at the provider. The real
GrokVideoBot starts against the loopback Discord emulator and Grok stand-in, and the stand-in records when
each request arrives. Printed: the peak requests in any one-second window against PROVIDER_MAX_RPS (the
goal: never above it), and the time to poll every task once against the ideal
N / rate. The same run repeats at PROVIDER_MAX_RPS=1000, the setting's maximum, as the baseline: about the
burst the provider would see without a budget (that run is still capped at 1,000 a second).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
from pathlib import Path

from bot.core.budget import DEFAULT_BURST
from bot.core.config import load_config
from bot.discord.app import GrokVideoBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.overdue import peak_in_window, seed_overdue

TOKEN = "bench-bot-token-0123456789"
KEY = "bench-grok-key-0123456789"
UNLIMITED = 1000.0


async def catch_up(tasks: int, rps: float, limit: float) -> tuple[int, float]:
    """Peak requests in any 1 s window, and seconds from the first poll until every task was polled."""
    api = FakeGrokAPI(api_key=KEY)
    api.default_script = TaskScript(complete_after=None)  # pending: each poll is one request, no download
    emu = DiscordEmulator(token=TOKEN)
    await api.start()
    await emu.start()
    undo = emu.patch_discord_py()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bot.sqlite3"
            ids = await seed_overdue(
                db,
                api,
                tasks,
                guild_id=emu.guild.id,
                channel_id=emu.channel.id,
                requester_id=emu.default_user.id,
            )
            since = len(api.requests)
            env = {
                "DISCORD_TOKEN": TOKEN,
                "GROK_API_KEY": KEY,
                "GROK_API_BASE_URL": api.base_url,
                "DATABASE_PATH": str(db),
                "VIDEO_DIR": str(Path(tmp) / "videos"),
                "POLL_INTERVAL_SECONDS": "30",  # the provider's advice: each task is polled once here
                "PROVIDER_MAX_RPS": str(rps),
                "DISCORD_API_BASE_URL": emu.api_base,
                "DISCORD_GATEWAY_URL": emu.gateway_url,
            }
            config = load_config(None, env)
            bot = GrokVideoBot(config.settings, config.catalogue, guild_ready_timeout=0.1)
            runner = asyncio.create_task(bot.start(TOKEN))
            try:
                async with asyncio.timeout(limit):
                    # The stand-in has no "every task polled" event; look every 50 ms.
                    while len({r.task_id for r in api.requests[since:] if r.endpoint == "result"}) < len(ids):  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(runner, 5)
    finally:
        undo()
        await emu.stop()
        await api.stop()
    polls = [r for r in api.requests[since:] if r.endpoint in ("create", "result")]
    firsts: dict[str | None, float] = {}
    for r in polls:
        firsts.setdefault(r.task_id, r.time)
    times = [r.time for r in polls]
    return peak_in_window(times), max(firsts.values()) - min(times)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument(
        "--rps", type=float, default=25.0, help="PROVIDER_MAX_RPS for the run (bot default 5)"
    )
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    peak, took = await catch_up(args.tasks, args.rps, args.timeout)
    base_peak, base_took = await catch_up(args.tasks, UNLIMITED, args.timeout)
    ideal = args.tasks / args.rps
    print(
        f"overdue tasks after a restart: {args.tasks:,}; PROVIDER_MAX_RPS={args.rps:g} (burst {DEFAULT_BURST})"
    )
    print(
        f"peak requests in any 1 s window : {peak:6d}   ratio to PROVIDER_MAX_RPS: {peak / args.rps:5.2f}x"
        "   (goal: at most 1.00x)"
    )
    print(
        f"time to poll every task once    : {took:6.1f} s   ideal N/rate {ideal:.1f} s, ratio {took / ideal:5.2f}x"
    )
    print(f"baseline, PROVIDER_MAX_RPS={UNLIMITED:g} (the maximum): peak {base_peak} in 1 s "
          f"({base_peak / args.rps:.1f}x PROVIDER_MAX_RPS), all polled in {base_took:.1f} s")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
