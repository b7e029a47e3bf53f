"""/healthz and /metrics, served by the bot's own aiohttp on HEALTH_HOST:HEALTH_PORT (bot/core/metrics.py
holds what is counted).

`GET /healthz` judges four parts, each "ok" or a sentence:

- **gateway**: discord.py is ready and the websocket of every shard this process runs is up (a shard's drop
  counts until its RESUMED or a new READY); the sentence names the shards that are down;
- **database**: a one-row write (a `bot_meta` upsert) answers within DB_CHECK_SECONDS: catches a read-only
  file or folder, a full disk, a lock another process holds;
- **poller**: its loop beat within twice its own planned sleep (metrics.Heartbeat);
- **provider**: the last answer refused the API key (HTTP 401/403), or the request budget is paused after a
  429. Reported, but the answer stays 200 ("degraded"): a restart fixes neither a key nor a provider's rate
  limit, and the bot keeps answering members (it explains the refusals), so the health check must not kill it.

200 with `"status": "ok"` (or `"degraded"`) when the first three are fine, else 503 with `"status":
"failing"` and the failing parts listed in `"failing"`.

A port that cannot be bound is one ERROR line and the bot runs on without the endpoint: members keep their
videos, and a health check pointed at the port fails loudly by itself.

The acknowledgement latency comes from discord.py's own HTTP session (its public `http_trace` option): each
interaction callback Discord accepted is timed from the interaction's snowflake time. The URL holds the
interaction token, so nothing of it but the id is read, and nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from types import SimpleNamespace

import aiohttp
import discord
from aiohttp import web
from discord.ext import commands
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bot.core import metrics
from bot.core.store import STORE_ERRORS, TaskStore

log = logging.getLogger(__name__)

DB_CHECK_SECONDS = 2.0
METRICS_READ_SECONDS = 3.0
OK = "ok"
_CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


def ack_trace() -> aiohttp.TraceConfig:
    """discord.py's `http_trace`: times each accepted interaction callback (the acknowledgement)."""

    async def on_request_end(
        _session: aiohttp.ClientSession, _context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
    ) -> None:
        found = _CALLBACK.search(params.url.path)
        if found and params.response.status < 300:
            created = discord.utils.snowflake_time(int(found.group(1))).timestamp()
            metrics.ACK_LATENCY.observe(max(0.0, time.time() - created))

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    return trace


class HealthServer:
    def __init__(
        self,
        bot: commands.AutoShardedBot,
        store: TaskStore,
        heartbeat: metrics.Heartbeat,
        provider: metrics.ProviderHealth,
        paused_for: Callable[[], float],
        collector: metrics.BotCollector,
    ) -> None:
        self._bot = bot
        self._store = store
        self._heartbeat = heartbeat
        self._provider = provider
        self._paused_for = paused_for
        self._collector = collector
        self._registry: CollectorRegistry = metrics.bot_registry(collector)
        self._runner: web.AppRunner | None = None
        self._live: set[int] = set()  # the shards between READY/RESUMED and their next disconnect
        bot.add_listener(self._up, "on_shard_connect")
        bot.add_listener(self._up, "on_shard_resumed")
        bot.add_listener(self._down, "on_shard_disconnect")
        self.port: int | None = None

    async def _up(self, shard_id: int) -> None:
        self._live.add(shard_id)

    async def _down(self, shard_id: int) -> None:
        self._live.discard(shard_id)

    async def start(self, host: str, port: int) -> bool:
        """Listen on host:port (0: any free port; `self.port` says which). False, logged once, if it can't."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            log.error(
                "cannot serve /healthz and /metrics on %s:%d (%s); running on without them "
                "(set HEALTH_PORT to a free port, or empty to turn them off)",
                host,
                port,
                exc.strerror or exc,
            )
            return False
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("serving /healthz and /metrics on %s:%d", host, self.port)
        return True

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- the parts -------------------------------------------------------------------------------------

    def gateway(self) -> str:
        bot = self._bot
        if bot.is_closed():
            return "the bot is shutting down"
        if not bot.is_ready():
            return "not connected to Discord yet"
        shards = bot.shards
        down = [i for i, shard in sorted(shards.items()) if i not in self._live or shard.is_closed()]
        if not shards or (down and len(shards) == 1):
            return "the Discord gateway connection is down; reconnecting"
        if down:
            return (
                f"the Discord gateway connection of shard {', '.join(map(str, down))} is down; reconnecting"
            )
        return OK

    async def database(self) -> str:
        try:
            async with asyncio.timeout(DB_CHECK_SECONDS):
                await self._store.set_meta("health_check", str(time.time()))
        except TimeoutError:
            return f"the database did not take a write within {DB_CHECK_SECONDS:g} s (locked?)"
        except (*STORE_ERRORS, ValueError) as exc:  # ValueError: aiosqlite's connection is closed
            return f"the database refuses writes ({exc})"
        return OK

    def provider(self) -> str:
        status = self._provider.last_status
        if status in metrics.AUTH_STATUSES:
            return f"the provider refused the API key (HTTP {status}) on the last request"
        if paused := self._paused_for():
            return f"provider requests paused for {paused:.0f} s after a rate limit (429)"
        return OK

    async def parts(self) -> dict[str, str]:
        return {
            "gateway": self.gateway(),
            "database": await self.database(),
            "poller": self._heartbeat.stalled() or OK,
            "provider": self.provider(),
        }

    # ---- the handlers -------------------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        parts = await self.parts()
        failing = [name for name in ("gateway", "database", "poller") if parts[name] != OK]
        body: dict[str, object] = {"status": "failing" if failing else "ok", "parts": parts}
        if failing:
            body["failing"] = failing
        elif parts["provider"] != OK:
            body["status"] = "degraded"
        return web.Response(
            status=503 if failing else 200, text=json.dumps(body), content_type="application/json"
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(METRICS_READ_SECONDS):
                await self._collector.refresh()
        except (*STORE_ERRORS, TimeoutError, ValueError) as exc:
            log.warning("/metrics: could not read the task counts (%s); serving the last ones", exc)
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
