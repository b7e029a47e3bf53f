"""DiscordEmulator: the parts of this package made into one object, with its lifecycle, clock and waiting.

Lifecycle and wiring::

    emu = DiscordEmulator(*, token=None, application_id=None, bot_user_id=None, bot_name="GrokVideo",
                          message_content_intent=True, members_intent=True, presences_intent=True,
                          ack_deadline=3.0, token_lifetime=900.0, cdn_url_lifetime=86400.0,
                          heartbeat_interval=41.25, allow_resume=False, validate_spec=True,
                          rest_content_rule="identify", default_world=True)
    await emu.start() / await emu.stop()        (or: async with DiscordEmulator() as emu)
    emu.api_base, emu.gateway_url, emu.base_url, emu.port
    emu.patch_discord_py() -> undo()     emu.env() -> {"DISCORD_API_BASE_URL": ..., "DISCORD_GATEWAY_URL": ...}
    emu.now(); emu.advance_clock(seconds)       (token / CDN expiry and the 3-second rule use this clock)
    await emu.wait_for(predicate, timeout=5.0)            predicate() is re-evaluated on every recorded change

The class is made of one mixin per part, each keeping its own state (set up by its ``_init_*``) and
documenting its own API: world.py, gateway.py, messages.py, files.py, rest.py, commands.py, interactions.py
and actions.py. A part reaches another part's methods through ``self``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .actions import ActionsMixin
from .commands import CommandsMixin
from .common import API_VERSION, MiB, new_snowflake
from .files import FilesMixin
from .gateway import GatewayMixin
from .interactions import InteractionsMixin
from .messages import MessagesMixin
from .rest import RestMixin
from .world import WorldMixin


class DiscordEmulator(
    WorldMixin,
    GatewayMixin,
    MessagesMixin,
    FilesMixin,
    RestMixin,
    CommandsMixin,
    InteractionsMixin,
    ActionsMixin,
):
    """One loopback Discord (gateway + REST + CDN) for one test; the package docstring gives the overview."""

    def __init__(
        self,
        *,
        token: str | None = None,
        application_id: int | None = None,
        bot_user_id: int | None = None,
        bot_name: str = "GrokVideo",
        message_content_intent: bool = True,
        members_intent: bool = True,
        presences_intent: bool = True,
        ack_deadline: float = 3.0,
        token_lifetime: float = 15 * 60.0,
        cdn_url_lifetime: float | None = 24 * 3600.0,
        heartbeat_interval: float = 41.25,
        allow_resume: bool = False,
        resume_window: float = 120.0,
        validate_spec: bool = True,
        rest_content_rule: str = "identify",
        default_world: bool = True,
    ) -> None:
        if rest_content_rule not in ("identify", "approval"):
            raise ValueError("rest_content_rule must be 'identify' or 'approval'")
        self.token = token
        self.application_id: int = application_id or new_snowflake()
        self.message_content_allowed = message_content_intent
        self.members_allowed = members_intent
        self.presences_allowed = presences_intent
        self.ack_deadline = ack_deadline
        self.token_lifetime = token_lifetime
        self.cdn_url_lifetime = cdn_url_lifetime
        self.heartbeat_interval = heartbeat_interval
        self.allow_resume = allow_resume
        self.resume_window = resume_window
        self.validate_spec = validate_spec
        self.rest_content_rule = rest_content_rule
        self._clock_offset = 0.0
        self._change = asyncio.Event()

        # each part's state: see the part
        self._init_world()
        self._init_messages()
        self._init_files()
        self._init_commands()
        self._init_rest()
        self._init_interactions()
        self._init_gateway()

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None

        self.bot_user = self.add_user(bot_name, user_id=bot_user_id or self.application_id, bot=True)
        if default_world:
            self._add_default_world()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application(client_max_size=512 * MiB)
        app.router.add_route("GET", "/gateway", self._gateway_handler)
        app.router.add_route("GET", "/gateway/", self._gateway_handler)
        app.router.add_route("*", "/api/v{version:\\d+}/{tail:.*}", self._rest_entry)
        app.router.add_route("GET", "/{kind:attachments|ephemeral-attachments}/{a}/{b}/{filename}", self._cdn)
        app.router.add_route(
            "GET", "/media/{kind:attachments|ephemeral-attachments}/{a}/{b}/{filename}", self._cdn
        )
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await self._site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for conn in list(self._connections):
            conn.close(1001, "emulator stopping")
            await conn.flush(1.0)
            await conn.shutdown()
        self._connections.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def env(self) -> dict[str, str]:
        return {"DISCORD_API_BASE_URL": self.api_base, "DISCORD_GATEWAY_URL": self.gateway_url}

    def patch_discord_py(self) -> Callable[[], None]:
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)

        def undo() -> None:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

        return undo

    # ------------------------------------------------------------------ clock and waiting

    def now(self) -> float:
        return time.monotonic() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock on (token lifetime, CDN expiry, the 3-second rule)."""
        self._clock_offset += seconds
        self._changed()

    def _changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def wait_for(
        self,
        predicate: Callable[[], Any],
        timeout: float = 5.0,
        *,
        what: str = "condition",
        poll: float = 0.05,
    ) -> Any:
        """Re-evaluate `predicate()` on every recorded change; return its first truthy value.

        Between changes the predicate is also re-checked every `poll` seconds, so it may read state the
        emulator does not own (e.g. the bot's cache after a dispatched event)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self._change
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(event.wait(), min(remaining, poll))
