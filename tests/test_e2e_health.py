"""End to end: /healthz and /metrics of the real bot, over real HTTP, while it talks to the loopback Discord
and Grok API stand-ins: a gateway outage and its recovery, a locked database, a delivered video's metrics, and
a port already taken."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import BOT_TOKEN, GROK_KEY, StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI


class GatewayOutageEmulator(DiscordEmulator):
    """The emulator, with its gateway refusing new connections (HTTP 503) while `gateway_down` is set."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.gateway_down = False

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_down:
            return web.Response(status=503, text="gateway unavailable")
        return await super()._gateway_handler(request)


@pytest.fixture
async def emu() -> AsyncIterator[GatewayOutageEmulator]:
    """conftest's emulator, as a GatewayOutageEmulator (the other fixtures aim the bot at it)."""
    async with GatewayOutageEmulator(token=BOT_TOKEN) as emulator:
        undo = emulator.patch_discord_py()
        try:
            yield emulator
        finally:
            undo()
    assert emulator.spec_violations == [], "\n".join(emulator.spec_violations)


async def get(bot: Any, path: str) -> tuple[int, str, str]:
    assert bot.health is not None and bot.health.port, "the health server is listening"
    url = f"http://127.0.0.1:{bot.health.port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def healthz(bot: Any) -> tuple[int, dict[str, Any]]:
    status, content_type, text = await get(bot, "/healthz")
    assert content_type.startswith("application/json")
    return status, json.loads(text)


async def wait_health(bot: Any, status: int, timeout: float = 20.0) -> dict[str, Any]:
    """Poll /healthz until it answers `status` (as a monitor would)."""
    seen: list[tuple[int, dict[str, Any]]] = []
    async with asyncio.timeout(timeout):
        while True:
            got, body = await healthz(bot)
            seen.append((got, body))
            if got == status:
                return body
            await asyncio.sleep(0.05)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text exposition, parsed by prometheus-client's own parser."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(parsed: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_healthz_follows_a_gateway_outage_and_recovers(
    emu: GatewayOutageEmulator, start_bot: StartBot
) -> None:
    bot = await start_bot(HEALTH_PORT="0")
    body = await wait_health(bot, 200)
    assert body["status"] == "ok"
    assert body["parts"] == {"gateway": "ok", "database": "ok", "poller": "ok", "provider": "ok"}

    emu.gateway_down = True
    await emu.disconnect_all(code=4000)  # dropped, and reconnecting fails until the gateway is back
    body = await wait_health(bot, 503, timeout=10)
    assert body["status"] == "failing" and body["failing"] == ["gateway"]
    assert "gateway" in body["parts"]["gateway"] and body["parts"]["database"] == "ok"

    emu.gateway_down = False
    body = await wait_health(bot, 200, timeout=30)  # discord.py's backoff, then a new IDENTIFY (no RESUME)
    assert body["parts"]["gateway"] == "ok"
    assert emu.identify_count == 2


async def test_healthz_names_the_database_while_another_process_holds_its_lock(
    start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    bot = await start_bot(HEALTH_PORT="0")
    await wait_health(bot, 200)
    # What a backup tool or an owner's sqlite3 shell can do: take the write lock and keep it.
    other = sqlite3.connect(bot_env["DATABASE_PATH"], isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        body = await wait_health(bot, 503, timeout=15)
        assert "database" in body["failing"]
        assert "did not take a write" in body["parts"]["database"]
        assert body["parts"]["gateway"] == "ok"
    finally:
        other.execute("ROLLBACK")
        other.close()
    body = await wait_health(bot, 200, timeout=15)
    assert body["parts"]["database"] == "ok"


async def test_a_refused_key_is_reported_but_not_fatal(
    emu: GatewayOutageEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot(HEALTH_PORT="0")
    await wait_health(bot, 200)
    grok_api.api_key = "a-key-the-owner-has-since-rotated"  # the provider now refuses ours: 401
    handle = await emu.slash_command("video", {"prompt": "a cat"})
    await handle.wait_followup()
    status, body = await healthz(bot)
    # A restart would not fix a key: 200, "degraded", the provider named.
    assert status == 200 and body["status"] == "degraded" and "failing" not in body
    assert body["parts"]["provider"] == "the provider refused the API key (HTTP 401) on the last request"
    assert GROK_KEY not in json.dumps(body)


async def test_metrics_after_a_delivered_video(
    emu: GatewayOutageEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    bot = await start_bot(HEALTH_PORT="0", PRICES="grok_video3=0.05", CURRENCY="USD")
    status, content_type, text = await get(bot, "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    before = samples(text)

    handle = await emu.slash_command("video", {"prompt": "a red fox running through snow"})
    await handle.wait_text("queued")
    await emu.wait_for_message(emu.channel, lambda m: m.get("content", "").startswith("<@"), timeout=10)
    await emu.wait_for(lambda: grok_api.creates != [])
    task = None
    async with asyncio.timeout(10):
        while task is None or task.state != "delivered":
            task = await bot.store.get(1)
            await asyncio.sleep(0.05)

    status, _, text = await get(bot, "/metrics")
    print(text)  # the sample quoted in the report
    after = samples(text)
    grown = {key: after[key] - before.get(key, 0.0) for key in after}
    assert value(after, "grokbot_tasks", state="delivered") == 1
    assert value(after, "grokbot_tasks", state="queued") == 0
    assert value(after, "grokbot_videos_created_total", model="grok_video3") == 1
    assert value(after, "grokbot_videos_delivered_total", model="grok_video3", outcome="video") == 1
    # 10 s of grok_video3 at 0.05 USD a second
    assert value(after, "grokbot_estimated_spend", model="grok_video3", currency="USD") == pytest.approx(0.5)
    # Process-wide events: compared with the scrape before the video (other tests ran bots in this process).
    assert grown[("grokbot_provider_requests_total", (("endpoint", "create"), ("status", "200")))] == 1
    assert grown[("grokbot_provider_requests_total", (("endpoint", "result"), ("status", "200")))] >= 1
    assert grown[("grokbot_provider_request_seconds_count", (("endpoint", "create"),))] == 1
    assert grown[("grokbot_interaction_ack_seconds_count", ())] >= 1
    # The first poll: the loop slept until it was due (hand-ons between stages are claimed on their wake-up).
    assert grown[("grokbot_poller_lag_seconds_count", ())] >= 1
    assert value(after, "grokbot_request_budget_paused_seconds") == 0
    assert ("grokbot_discord_post_failures_total", ()) in after
    assert ("grokbot_request_budget_waiters", ()) in after
    # No secret anywhere, labels included.
    assert GROK_KEY not in text and BOT_TOKEN not in text


def _taken_port() -> socket.socket:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


async def test_a_port_in_use_is_one_clear_line_and_the_bot_runs_on(
    emu: GatewayOutageEmulator, start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    holder = _taken_port()
    port = holder.getsockname()[1]
    try:
        with caplog.at_level(logging.INFO):
            bot = await start_bot(HEALTH_PORT=str(port))
        assert bot.health is not None and bot.health.port is None
        lines = [r for r in caplog.records if "/healthz" in r.getMessage()]
        assert len(lines) == 1, [r.getMessage() for r in lines]
        [line] = lines
        assert line.levelno == logging.ERROR and f"127.0.0.1:{port}" in line.getMessage()
        assert "in use" in line.getMessage() and "running on without them" in line.getMessage()
        assert line.exc_info is None and line.exc_text is None and "Traceback" not in caplog.text
        # …and the bot still makes videos.
        handle = await emu.slash_command("video", {"prompt": "a cat"})
        await handle.wait_text("queued")
    finally:
        holder.close()


def test_health_settings_default_off_on_loopback(tmp_path: Path) -> None:
    from bot.core.config import load_config

    settings = load_config(None, {"DISCORD_TOKEN": BOT_TOKEN, "GROK_API_KEY": GROK_KEY}).settings
    assert settings.health_port is None and settings.health_host == "127.0.0.1"
    assert settings.log_format == "text"
