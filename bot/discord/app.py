"""The bot: a `commands.AutoShardedBot` subclass that owns the shared resources and builds them in setup_hook.

It runs the gateway shards SHARD_IDS of SHARD_COUNT (unset: every shard, as many as Discord recommends), so
several processes on one store can share the guilds; any process may post any task, in any guild."""

from __future__ import annotations

import hashlib
import json
import logging

import aiohttp
import discord
import yarl
from discord.ext import commands

from bot import i18n
from bot.core.budget import Budget
from bot.core.catalogue import PREFERRED_DEFAULT_MODEL, Catalogue
from bot.core.config import Settings
from bot.core.grok import GrokClient
from bot.core.metrics import BotCollector
from bot.core.pipeline import Pipeline, PipelineRules
from bot.core.poll_timing import PollTimer
from bot.core.poller import Poller, PollerConfig
from bot.core.scheduler import PollPlan, submit_grace
from bot.core.store import TaskStore, open_store
from bot.discord.delivery import DiscordDelivery
from bot.discord.health import HealthServer, ack_trace
from bot.discord.translator import CatalogueTranslator
from bot.discord.tree import BotTree
from bot.discord.views import CancelButton, ResultButton

log = logging.getLogger(__name__)

EXTENSIONS = ("cogs.video", "cogs.member", "cogs.admin")


class GrokVideoBot(commands.AutoShardedBot):
    store: TaskStore
    budget: Budget
    grok: GrokClient
    delivery: DiscordDelivery
    poller: Poller
    pipeline: Pipeline

    def __init__(self, settings: Settings, catalogue: Catalogue, **options: object) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        if settings.reply_mode:
            # Reply mode reads the text after the mention: that needs guild messages + message content.
            intents.guild_messages = True
            intents.message_content = True
        if settings.shard_ids is not None:  # else every shard of the count
            options["shard_ids"] = list(settings.shard_ids)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            # Nothing the bot says pings anyone unless a send names the requester explicitly.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=BotTree,  # its on_error answers every failed app command privately
            http_trace=ack_trace(),  # times interaction acknowledgements for /metrics
            # None: discord.py asks Discord how many shards (GET /gateway/bot) and runs them all.
            shard_count=settings.shard_count,
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.catalogue = catalogue
        self.http_session: aiohttp.ClientSession | None = None
        self.health: HealthServer | None = None  # /healthz and /metrics, when HEALTH_PORT is set

    async def setup_hook(self) -> None:
        s = self.settings
        self.http_session = aiohttp.ClientSession()
        self.store = await open_store(s.database_url, s.database_path)
        self.budget = self.store.request_budget(s.provider_max_rps)
        self.grok = GrokClient(
            base_url=s.grok_api_base_url,
            api_key=s.grok_api_key.get(),
            session=self.http_session,
            total_timeout=s.grok_timeout_seconds,
            # One budget for every create and poll: PROVIDER_MAX_RPS, and a 429 pauses them all (on
            # PostgreSQL, one for every process on the database).
            budget=self.budget,
        )
        self.delivery = DiscordDelivery(
            self,
            self.store,
            poll_interval=s.poll_interval_seconds,
            status_edit_seconds=s.status_edit_seconds,
            shrink_concurrency=s.shrink_concurrency,
            wake=self._wake_poller,  # a finished shrink makes its task due: the poller (built below) posts it
            max_in_flight=s.max_in_flight,
        )
        s.video_dir.mkdir(parents=True, exist_ok=True)
        plan = PollPlan(
            base_interval=s.poll_interval_seconds,
            task_timeout=s.task_timeout_seconds,
            submit_grace=submit_grace(s.grok_timeout_seconds),
        )
        if self.catalogue.default_model != PREFERRED_DEFAULT_MODEL:
            log.warning(
                "%s is disabled in MODELS_FILE; members who don't choose a model get %s",
                PREFERRED_DEFAULT_MODEL,
                self.catalogue.default_model,
            )
        rules = PipelineRules(s.default_limits, s.max_image_bytes, s.bypass_role_id, s.max_in_flight)
        timer = PollTimer(self.store, plan)  # one learned schedule for the first poll and every later one
        self.pipeline = Pipeline(
            self.store,
            self.grok,
            self.catalogue,
            plan,
            rules,
            self.delivery,
            on_queued=self._wake_poller,
            timer=timer,
            on_line_moved=self._line_moved,
        )
        self.poller = Poller(
            self.store,
            self.grok,
            self.delivery,
            PollerConfig(
                plan=plan,
                video_dir=s.video_dir,
                max_video_bytes=s.max_video_bytes,
                poll_concurrency=s.poll_concurrency,
                download_concurrency=s.download_concurrency,
                post_concurrency=s.post_concurrency,
                download_timeout=s.download_timeout_seconds,
                stall_seconds=s.download_stall_seconds,
                max_in_flight=s.max_in_flight,
                task_lease=s.task_lease_seconds,
            ),
            timer=timer,
            send=self.pipeline.send_from_line,  # the line's stage sends what it takes from the line
        )
        # Tasks another process hands back at its clean stop are taken up here at once (PostgreSQL).
        await self.store.on_handed_back(self._wake_poller)
        # The result buttons are DynamicItems: registered once, they answer clicks on any post, even old ones.
        self.add_dynamic_items(ResultButton, CancelButton)
        # Every command's names and descriptions in Discord's languages, from the catalogues (bot/i18n)
        i18n.set_default_locale(s.default_locale)
        await self.tree.set_translator(CatalogueTranslator())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # Once-only: with several processes on one database, the first syncs and the others find the hash.
        async with self.store.exclusive("command-sync"):
            await self.sync_commands_if_changed()
        self.poller.start()
        await self._start_health()

    async def _start_health(self) -> None:
        """/healthz and /metrics on HEALTH_HOST:HEALTH_PORT; a port that can't be bound is logged only."""
        s = self.settings
        if s.health_port is None:
            return
        prices, models = s.price_table, self.catalogue.models
        collector = BotCollector(self.store, models, prices, s.currency, self.grok.paused_for)
        parts = (self.poller.heartbeat, self.grok.answers, self.grok.paused_for)
        self.health = HealthServer(self, self.store, *parts, collector)
        await self.health.start(s.health_host, s.health_port)

    def _wake_poller(self) -> None:
        self.poller.wake()

    def _line_moved(self) -> None:
        self.poller.line_moved()

    async def on_message(self, message: discord.Message) -> None:
        # No text commands: the reply-mode listener in cogs/video.py handles mentions itself.
        return

    async def sync_commands_if_changed(self) -> bool:
        """Sync the command tree only when it differs from the last sync (Discord caps creates per day)."""
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        # What Discord would receive, localisations included: a catalogue change alone is a change too.
        commands = self.tree.get_commands(guild=guild)
        translator = self.tree.translator
        if translator is None:
            payload = [command.to_dict(self.tree) for command in commands]
        else:
            payload = [await command.get_translated_payload(self.tree, translator) for command in commands]
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        key = f"commands_hash:{self.application_id}:{guild.id if guild else 'global'}"
        if await self.store.get_meta(key) == digest:
            log.info("application commands unchanged; not syncing")
            return False
        synced = await self.tree.sync(guild=guild)
        await self.store.set_meta(key, digest)
        log.info(
            "synced %d application commands to %s",
            len(synced),
            f"guild {guild.id}" if guild else "all servers",
        )
        return True

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "logged in as %s (%s) in %d servers; %s",
            self.user,
            self.user.id,
            len(self.guilds),
            describe_shards(self.shard_ids, self.shard_count),
        )

    async def on_shard_ready(self, shard_id: int) -> None:
        servers = sum(1 for guild in self.guilds if guild.shard_id == shard_id)
        log.info("shard %d of %s ready: %d servers", shard_id, self.shard_count, servers)

    async def close(self) -> None:
        """Stop the poller, delivery's background work and the connection, then close what setup_hook
        opened (as far as it got). The sessions and the store are closed even if the first part is cut short
        (a bounded shutdown)."""
        try:
            if self.health is not None:
                await self.health.stop()
            if hasattr(self, "poller"):
                await self.poller.stop()
            if hasattr(self, "delivery"):
                await self.delivery.close()
            await super().close()
        finally:
            if hasattr(self, "grok"):
                await self.grok.close()
            if self.http_session is not None:
                await self.http_session.close()
            if hasattr(self, "budget"):
                await self.budget.close()  # the shared budget's last pause writes, before the store goes
            if hasattr(self, "store"):
                await self.store.close()


def describe_shards(shard_ids: list[int] | None, shard_count: int | None) -> str:
    """Which shards this process runs, for the log: "shards 0, 1 of 2" or "shard 1 of 4"."""
    ids = shard_ids if shard_ids is not None else range(shard_count or 1)
    listed = ", ".join(map(str, ids))
    return f"{'shard' if len(ids) == 1 else 'shards'} {listed} of {shard_count}"


def point_discord_at(api_base_url: str | None, gateway_url: str | None) -> None:
    """Aim discord.py at another Discord (the tests' loopback emulator, or an API proxy)."""
    if api_base_url:
        discord.http.Route.BASE = api_base_url
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
