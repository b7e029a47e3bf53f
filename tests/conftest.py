"""Shared fixtures: the two loopback stand-ins and the real bot connected to both."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript

ROOT = Path(__file__).resolve().parents[1]
BOT_TOKEN = "test-bot-token"
GROK_KEY = "test-grok-key-do-not-leak"


# ---- a connection left open must not hang the run -------------------------------------------------------------
# Each aiosqlite connection runs a non-daemon thread until it is closed. One left open by a failing test (seen
# once: a test whose database folder vanished) keeps the interpreter from ever exiting, so CI would hang for
# its whole budget instead of reporting. The session then ends with its own exit status regardless.


def _sqlite_workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()}


_exit_status: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit_status.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _sqlite_workers():
        print(
            f"\n{len(_sqlite_workers())} database connection(s) still open: exiting without waiting for them"
        )
        os._exit(_exit_status[-1] if _exit_status else 1)


@pytest.fixture
async def grok_api() -> AsyncIterator[FakeGrokAPI]:
    api = FakeGrokAPI(api_key=GROK_KEY)
    # Finishes at once unless a test scripts otherwise: the poller's next tick downloads it.
    api.default_script = TaskScript(processing_after=0.0, complete_after=0.0)
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    emulator = DiscordEmulator(token=BOT_TOKEN)
    await emulator.start()
    undo = emulator.patch_discord_py()
    yield emulator
    undo()
    await emulator.stop()
    assert emulator.spec_violations == [], "\n".join(emulator.spec_violations)


@pytest.fixture
def bot_env(tmp_path: Path, grok_api: FakeGrokAPI, emu: DiscordEmulator) -> dict[str, str]:
    """The settings a real owner would put in .env, aimed at the loopback stand-ins."""
    return {
        "DISCORD_TOKEN": BOT_TOKEN,
        "GROK_API_KEY": GROK_KEY,
        "GROK_API_BASE_URL": grok_api.base_url,
        "DATABASE_PATH": str(tmp_path / "data" / "bot.sqlite3"),
        "VIDEO_DIR": str(tmp_path / "data" / "videos"),
        "POLL_INTERVAL_SECONDS": "0.05",
        "STATUS_EDIT_SECONDS": "0",
        "GROK_TIMEOUT_SECONDS": "10",
        # Fair-use limits are off unless a test is about them (tests/test_e2e_community.py).
        "COOLDOWN_SECONDS": "0",
        "MAX_ACTIVE_PER_MEMBER": "0",
        "DISCORD_API_BASE_URL": emu.api_base,
        "DISCORD_GATEWAY_URL": emu.gateway_url,
    }


StartBot = Callable[..., Awaitable[Any]]


@pytest.fixture
async def start_bot(bot_env: dict[str, str]) -> AsyncIterator[StartBot]:
    """Start the real GrokVideoBot in this event loop (its setup_hook, cogs, poller and all)."""
    from bot.core.config import load_config
    from bot.discord.app import GrokVideoBot

    running: list[tuple[Any, asyncio.Task[None]]] = []

    async def start(**overrides: str) -> GrokVideoBot:
        config = load_config(None, {**bot_env, **overrides})  # what `python -m bot` does
        settings = config.settings
        bot = GrokVideoBot(settings, config.catalogue, guild_ready_timeout=0.1)
        runner = asyncio.create_task(bot.start(settings.discord_token.get()))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait({runner, ready}, timeout=15, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            ready.cancel()
            runner.result()
        running.append((bot, runner))  # closed at teardown even if it never became ready: no task left behind
        if ready not in done:
            ready.cancel()
            raise AssertionError("the bot did not become ready within 15 s")
        return bot

    yield start
    for bot, runner in running:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(runner, 5)


@pytest.fixture
def pg_url() -> str:
    """A fresh, empty database on the session's real PostgreSQL server (tests/postgres.py); the test is
    skipped, saying why, when no server can be started."""
    from tests.postgres import PostgresServer

    return PostgresServer.shared().new_database()
