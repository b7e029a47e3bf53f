"""A loopback Discord: gateway (websocket) + REST + CDN on 127.0.0.1, for a REAL discord.py client.

discord.py is pointed at it only through two documented class attributes (nothing else is patched)::

    discord.http.Route.BASE = emu.api_base                                   # http://127.0.0.1:PORT/api/v10
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)  # ws://127.0.0.1:PORT/gateway

``emu.patch_discord_py()`` does both in-process and returns an undo callable; ``emu.env()`` gives the same two
URLs as environment variables (``DISCORD_API_BASE_URL``, ``DISCORD_GATEWAY_URL``, the names bot/core/config.py
reads) for a bot run as a subprocess.
The emulator lives in the test's event loop and keeps every piece of state (guilds, messages, registered
commands, uploaded files, interactions) across bot disconnects, restarts and re-IDENTIFYs. Every REST request
and answer is checked against Discord's own OpenAPI description.

In short::

    async with DiscordEmulator(token="t") as emu:
        undo = emu.patch_discord_py()              # then start the bot in this event loop
        await emu.wait_identified()
        handle = await emu.slash_command("ping")   # a member runs /ping
        await handle.wait_text("pong")
        undo()

Public API (ids may be given as int, str, or the world objects); each module documents its own part:

    emulator.py      DiscordEmulator: constructor options, start/stop, wiring, the clock, wait_for
    world.py         users, guilds, roles, channels, threads and forum posts, members; permission maths (Perm); upload limits
    gateway.py       the websocket: IDENTIFY/RESUME, intents (Intent), compression, sessions, shards, dispatch
    messages.py      stored messages, what MESSAGE_CONTENT hides, body checks, pings; message_text()
    files.py         uploads and the CDN that serves them back (signed, expiring urls)
    rest.py          REST routing (REST_ROUTES), recording, spec checks, injected errors; the plain routes
    commands.py      application commands: the registry and its REST routes
    interactions.py  InteractionHandle; delivery, callbacks, followups and @original; the 3-second rule
    actions.py       injected user actions: slash commands, context menus, buttons, selects, modals, posts
    spec.py          validation against Discord's OpenAPI description (openapi-excerpt.json, README.md)
    common.py        snowflake ids (new_snowflake(shard=(k, n)) for a guild on shard k), shard_of, id coercion,
                     DiscordError

Module helpers: ``message_text(message) -> str``, ``Perm`` / ``Intent`` bit flags, ``DISCORD_EPOCH``.
"""

from .common import API_VERSION, DISCORD_EPOCH, DiscordError, MiB, new_snowflake, shard_of
from .emulator import DiscordEmulator
from .files import StoredFile
from .gateway import (
    APP_FLAG_GATEWAY_GUILD_MEMBERS,
    APP_FLAG_GATEWAY_MESSAGE_CONTENT,
    APP_FLAG_GATEWAY_PRESENCE,
    PRIVILEGED_INTENTS,
    Intent,
)
from .interactions import CallbackRecord, InteractionHandle
from .messages import (
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    FLAG_SUPPRESS_EMBEDS,
    message_text,
)
from .rest import REST_ROUTES, RecordedRequest
from .world import (
    ALL_PERMISSIONS,
    DEFAULT_BOT_ROLE,
    DEFAULT_EVERYONE,
    DM_PERMISSIONS,
    GUILD_FORUM,
    GUILD_TEXT,
    PUBLIC_THREAD,
    Channel,
    Guild,
    Member,
    Overwrite,
    Perm,
    Role,
    User,
)

__all__ = [
    "ALL_PERMISSIONS",
    "API_VERSION",
    "APP_FLAG_GATEWAY_GUILD_MEMBERS",
    "APP_FLAG_GATEWAY_MESSAGE_CONTENT",
    "APP_FLAG_GATEWAY_PRESENCE",
    "DEFAULT_BOT_ROLE",
    "DEFAULT_EVERYONE",
    "DISCORD_EPOCH",
    "DM_PERMISSIONS",
    "FLAG_COMPONENTS_V2",
    "FLAG_EPHEMERAL",
    "FLAG_LOADING",
    "FLAG_SUPPRESS_EMBEDS",
    "GUILD_FORUM",
    "GUILD_TEXT",
    "PRIVILEGED_INTENTS",
    "PUBLIC_THREAD",
    "REST_ROUTES",
    "CallbackRecord",
    "Channel",
    "DiscordEmulator",
    "DiscordError",
    "Guild",
    "Intent",
    "InteractionHandle",
    "Member",
    "MiB",
    "Overwrite",
    "Perm",
    "RecordedRequest",
    "Role",
    "StoredFile",
    "User",
    "message_text",
    "new_snowflake",
    "shard_of",
]
