"""Run the bot like a service: wait out a Discord that cannot be reached, and stop promptly when told to.

- **Key check.** Once, before Discord: one free request asks the video service whether it accepts
  GROK_API_KEY (`check_grok_key`); a refused key ends the process like a rejected token.
- **Start.** Each attempt builds a fresh `GrokVideoBot`, logs in (REST, then setup_hook) and checks that the
  gateway answers. An unreachable Discord (no network, connection refused, a timeout, a 5xx) is one log line
  per attempt, no traceback, and another attempt after a capped, jittered exponential backoff, forever. A
  token Discord rejects, a refused privileged intent, or shard settings Discord refuses (close code 4010, an
  invalid shard; 4011, more shards required) end the process at once (`run` explains which).
- **Run.** Once connected, discord.py keeps every shard's gateway connection up; its "Attempting a reconnect"
  and "Failed to connect" logs become one line each.
- **Stop.** SIGINT or SIGTERM stops the connection (or the wait between attempts), then closes the bot within
  `SHUTDOWN_SECONDS`: the poller stops, HTTP sessions and the store close. Tasks live in SQLite with leases,
  so whatever was in hand is taken up again by the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.core.catalogue import Catalogue
from bot.core.config import Settings
from bot.core.grok import AuthenticationError, GrokClient, GrokError
from bot.core.store import STORE_ERRORS, StoreUnreachable, StoreUnusable
from bot.discord.app import GrokVideoBot, point_discord_at

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 2.0
RETRY_MAX_SECONDS = 60.0
GATEWAY_CHECK_SECONDS = 10.0
#: Cancelling the connection, then closing the bot: each bounded, so a signal ends the process within 5 s.
CANCEL_SECONDS = 1.0
SHUTDOWN_SECONDS = 3.0
#: The last resort if something still holds the process (a thread, an executor): exit anyway.
FORCED_EXIT_SECONDS = 4.5
#: The longest the start-up key check may take (GROK_TIMEOUT_SECONDS if shorter): a slow provider only delays
#: the start by this much, then the bot starts anyway.
KEY_CHECK_SECONDS = 15.0

#: What an unreachable or failing Discord raises: worth another attempt, never a reason to exit.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    aiohttp.ClientError,
    TimeoutError,
    discord.DiscordServerError,
    discord.GatewayNotFound,
    discord.ConnectionClosed,
)

INTENT_HELP = (
    "Discord refused the Message Content intent that reply mode needs.\n"
    "Either turn it on: Developer Portal → your application → Bot → Privileged Gateway Intents → "
    "MESSAGE CONTENT INTENT,\nor set REPLY_MODE=false (slash commands and the context menu work without it)."
)
SHARD_HELP = {
    4010: "Discord refused the shard settings (close code 4010, invalid shard): SHARD_IDS must be below "
    "SHARD_COUNT, and SHARD_COUNT must be the same in every process of this bot.",
    4011: "Discord requires more shards for this bot (close code 4011, sharding required): set SHARD_COUNT "
    "to at least the number Discord recommends, or leave SHARD_COUNT and SHARD_IDS unset to use it.",
}
TOKEN_HELP = (
    "Discord refused DISCORD_TOKEN. Copy a fresh one from the Developer Portal → your application → Bot → "
    "Reset Token, and put it in .env."
)


class ShardingRefused(Exception):
    """Discord closed a shard's connection for its shard settings (4010 or 4011): no retry can help."""

    def __init__(self, code: int) -> None:
        super().__init__(SHARD_HELP[code])
        self.code = code


class GrokKeyRejected(Exception):
    """The video service refused GROK_API_KEY at start; the ERROR line saying so is already logged."""


async def check_grok_key(settings: Settings) -> None:
    """Ask the video service once, before Discord, whether it accepts GROK_API_KEY (GrokClient.check_key: a
    poll for a task that cannot exist, free). Refused: one ERROR line, then GrokKeyRejected (exit status 3,
    like a rejected DISCORD_TOKEN). Cannot tell (network, 5xx, timeout): one WARNING, and the bot starts.
    Outside the request budget, so it never delays a member's request; once per process, never in a loop."""
    timeout = min(settings.grok_timeout_seconds, KEY_CHECK_SECONDS)
    async with GrokClient(
        base_url=settings.grok_api_base_url, api_key=settings.grok_api_key.get(), total_timeout=timeout
    ) as grok:
        try:
            await grok.check_key()
        except AuthenticationError as exc:
            said = f": {exc.provider_message}" if exc.provider_message else ""
            log.error(
                "the video service refused GROK_API_KEY (HTTP %s%s): check that you pasted this provider's "
                "key (README: 'The video provider and your key'), not an xAI console key; stopping",
                exc.status,
                said,
            )
            raise GrokKeyRejected from None
        except GrokError as exc:
            log.warning("could not check GROK_API_KEY at start (%s); starting anyway", exc)
            return
    log.info("the video service accepted GROK_API_KEY")


def retry_delay(attempt: int, rng: random.Random) -> float:
    """The wait after failed attempt `attempt` (1, 2, …): 2 s doubling up to 60 s, each between half and all
    of that (jitter, so many bots restarting together do not knock at once)."""
    ceiling = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** min(attempt - 1, 16))
    return ceiling * rng.uniform(0.5, 1.0)


def describe(exc: BaseException) -> str:
    """One line saying why Discord could not be reached."""
    if isinstance(exc, discord.HTTPException):
        return f"Discord answered HTTP {exc.status}"
    if isinstance(exc, discord.ConnectionClosed):
        return f"the gateway closed the connection (code {exc.code})"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class OneLineReconnects(logging.Filter):
    """discord.py logs each gateway reconnect (and each failed first connection of a shard) with a full
    traceback; an outage is one line per attempt."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith(("Attempting a reconnect", "Failed to connect")):
            error = record.exc_info[1]
            record.msg = (
                f"lost the gateway ({describe(error) if error else 'unknown'}); {record.getMessage()}"
            )
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


async def check_gateway(bot: GrokVideoBot) -> None:
    """Open and close one websocket to the gateway: discord.py cannot retry a first connection that fails."""
    url = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY.with_query(v=10, encoding="json")
    async with asyncio.timeout(GATEWAY_CHECK_SECONDS):
        socket = await bot.http.ws_connect(str(url))
        await socket.close()


class Service:
    """One bot process: attempts until Discord answers, then the connection, until a signal or fatal error."""

    def __init__(
        self,
        make_bot: Callable[[], GrokVideoBot],
        token: str,
        rng: random.Random | None = None,
        preflight: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._make_bot = make_bot
        self._token = token
        self._rng = rng or random.Random()
        self._preflight = preflight  # once, before the first attempt (the key check); a signal cuts it short
        self._bot: GrokVideoBot | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):  # Windows
                loop.add_signal_handler(sig, stop.set)
        serving = asyncio.create_task(self._serve(), name="discord")
        stopper = asyncio.create_task(stop.wait(), name="signals")
        try:
            await asyncio.wait({serving, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                log.info("signal received; shutting down")
                _exit_if_stuck()
            else:
                serving.result()  # re-raise what ended the connection (a rejected token, a refused intent)
        finally:
            stopper.cancel()
            await self._shut_down(serving)

    async def _serve(self) -> None:
        if self._preflight is not None:
            await self._preflight()
        attempt = 0
        while True:
            attempt += 1
            bot = self._bot = self._make_bot()
            try:
                await bot.login(self._token)
                await check_gateway(bot)
                if attempt > 1:
                    log.info("reached Discord after %d attempts", attempt)
                await bot.connect(reconnect=True)
                return
            except discord.ConnectionClosed as exc:
                if exc.code in SHARD_HELP:
                    raise ShardingRefused(exc.code) from None
                await self._retry_later(bot, attempt, exc)
            except STORE_ERRORS as exc:  # PostgreSQL down or failing at start (setup_hook opens the store)
                await self._retry_later(bot, attempt, exc, what="the database")
            except UNREACHABLE as exc:
                await self._retry_later(bot, attempt, exc)

    async def _retry_later(
        self, bot: GrokVideoBot, attempt: int, exc: BaseException, what: str = "Discord"
    ) -> None:
        delay = retry_delay(attempt, self._rng)
        why = str(exc) if isinstance(exc, StoreUnreachable) else describe(exc)
        log.warning("cannot reach %s (%s); attempt %d, next in %.1f s", what, why, attempt, delay)
        await bot.close()
        await asyncio.sleep(delay)

    async def _shut_down(self, serving: asyncio.Task[None]) -> None:
        """Stop the connection or the wait between attempts, then close the bot: each step bounded in time."""
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
            async with asyncio.timeout(CANCEL_SECONDS):
                await serving
        if self._bot is None:
            return
        try:
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await self._bot.close()
        except TimeoutError:
            log.warning(
                "closing took over %.0f s; the next start takes up whatever was in hand", SHUTDOWN_SECONDS
            )


def _exit_if_stuck() -> None:
    """Should anything keep the process alive past FORCED_EXIT_SECONDS after a signal, exit anyway."""

    def force() -> None:
        log.warning("still running %.1f s after the signal; exiting now", FORCED_EXIT_SECONDS)
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(FORCED_EXIT_SECONDS, force)
    timer.daemon = True
    timer.start()


def run(settings: Settings, catalogue: Catalogue) -> int:
    """Run the bot until SIGINT/SIGTERM; settings and catalogue were checked together (load_config)."""
    point_discord_at(settings.discord_api_base_url, settings.discord_gateway_url)
    for name in ("discord.client", "discord.shard"):  # one shard, or several
        logging.getLogger(name).addFilter(OneLineReconnects())
    service = Service(
        lambda: GrokVideoBot(settings, catalogue),
        settings.discord_token.get(),
        preflight=lambda: check_grok_key(settings),
    )
    try:
        asyncio.run(service.run())
    except discord.PrivilegedIntentsRequired:
        print(INTENT_HELP, file=sys.stderr)
        return 3
    except discord.LoginFailure:
        print(TOKEN_HELP, file=sys.stderr)
        return 3
    except ShardingRefused as exc:
        print(exc, file=sys.stderr)
        return 3
    except GrokKeyRejected:
        return 3
    except StoreUnusable as exc:
        log.error("%s; stopping", exc)
        return 3
    except KeyboardInterrupt:
        pass
    log.info("stopped")
    return 0
