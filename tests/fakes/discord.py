"""A loopback Discord: gateway (websocket) + REST + CDN on 127.0.0.1, for a REAL discord.py client.

discord.py is pointed at it only through two documented class attributes (nothing else is patched)::

    discord.http.Route.BASE = emu.api_base                                   # http://127.0.0.1:PORT/api/v10
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)  # ws://127.0.0.1:PORT/gateway

``emu.patch_discord_py()`` does both in-process and returns an undo callable; ``emu.env()`` gives the same two
URLs as environment variables (``DISCORD_API_BASE_URL``, ``DISCORD_GATEWAY_URL``, the names bot/core/config.py
reads) for a bot run as a subprocess.
The emulator lives in the test's event loop and keeps every piece of state (guilds, messages, registered
commands, uploaded files, interactions) across bot disconnects, restarts and re-IDENTIFYs.

Public API (ids may be given as int, str, or the world objects below)
----------------------------------------------------------------------
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

World (sync setters only build state; ``async`` ones also dispatch the gateway event and flush it)::

    emu.bot_user, emu.application_id, emu.owner, emu.default_user, emu.guild, emu.channel  (default world)
    emu.add_user(username, *, user_id=None, bot=False, refuses_dms=False, global_name=None) -> User
    emu.add_guild(name, *, owner=None, premium_tier=0, everyone_permissions=DEFAULT_EVERYONE,
                  bot_permissions=DEFAULT_BOT_ROLE, guild_id=None) -> Guild
    emu.add_role(guild, name, permissions=0, *, role_id=None) -> Role
    emu.add_member(guild, user, *, roles=(), nick=None) -> Member
    emu.add_text_channel(guild, name, *, overwrites=(), channel_id=None, topic=None) -> Channel
    emu.dm_channel(user) -> Channel
    await emu.set_bot_channel_permissions(channel, *, allow=0, deny=0)          CHANNEL_UPDATE
    await emu.set_channel_overwrite(channel, target, *, allow=0, deny=0)        CHANNEL_UPDATE (role or user)
    await emu.set_role_permissions(role_or_id, permissions, *, guild=None)     GUILD_ROLE_UPDATE
    await emu.set_premium_tier(guild, tier)                                    GUILD_UPDATE
    await emu.set_member_roles(guild, user, roles)                             GUILD_MEMBER_UPDATE
    await emu.delete_channel(channel)                                          CHANNEL_DELETE; REST -> 404 10003
    emu.permissions_for(user, channel) -> int      (Discord's algorithm; `Perm` holds the bit names)
    emu.upload_limit(channel_or_guild) -> int      (10 MiB for tier 0/1, 50 MiB tier 2, 100 MiB tier 3)
    emu.message_content_allowed / members_allowed / presences_allowed  (the portal switches; settable)
    emu.users, emu.guilds (dicts by id); Guild.roles / .channels / .members; Perm, Intent (IntFlag bits)

Gateway: HELLO, IDENTIFY -> READY + GUILD_CREATE per guild (or close 4004 bad token / 4013 no intents /
4014 privileged intent not allowed), heartbeat -> ACK, RESUME -> op 9 (false) unless allow_resume=True (then
missed events are replayed + RESUMED), REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK. Transport compression as
the client asks (zlib-stream: one compressor per connection, Z_SYNC_FLUSH per message; zstd-stream if the
`zstandard` module is importable, otherwise plain text frames). Events are filtered by the session's intents;
without MESSAGE_CONTENT, guild messages that are not the bot's and do not mention it lose content, embeds,
attachments and components (also inside referenced_message). REST fetches follow `rest_content_rule`:
"identify" (default) strips when the last IDENTIFY lacked the intent, "approval" only when the portal switch
is off (Discord's literal rule). INTERACTION_CREATE goes to the newest live session only.

Injected user actions (each returns an ``InteractionHandle`` unless noted)::

    await emu.slash_command(name, options=None, *, user=None, channel=None, subcommand=None,
                            attachments=(), locale="en-US", validate=True)
        (subcommand: "sub" or "group sub"; raises ValueError when Discord's client would refuse the input:
         unknown option, wrong type, missing required, outside min/max or choices)
    emu.find_command(name, *, ctype=1, guild=None) -> dict     (registered command, guild scope first)
    await emu.autocomplete(name, options=None, *, focused, user=None, channel=None, subcommand=None,
                           timeout=5.0) -> list[dict]   (the choices of the type-8 answer)
    await emu.message_context_menu(name, target_message, *, user=None, channel=None)
    await emu.user_context_menu(name, target_user, *, user=None, channel=None)
    await emu.submit_modal(handle, values, *, user=None)   values by custom_id: str for text inputs,
                            list[str] (or str) for string selects, [(filename, bytes, ctype)] for file uploads
    await emu.click_button(message, custom_id, *, user=None)
    await emu.select_option(message, custom_id, values, *, user=None)
    await emu.post_message(channel, author=None, content="", *, attachments=(), reference=None,
                           mentions=(), embeds=(), mention_author=True) -> dict   (MESSAGE_CREATE)
    await emu.edit_user_message(message, content) -> dict  /  await emu.delete_user_message(message)

InteractionHandle::

    h.id, h.token, h.type, h.payload, h.delivered, h.dispatched_at
    h.callbacks (every attempt: CallbackRecord(type, data, flags, ephemeral, files, status, error_code, at))
    h.response (first accepted CallbackRecord or None), h.acknowledged, h.ephemeral
    h.original (current @original message or None), h.followups (current followup messages),
    h.edits (bodies of PATCH @original), h.followup_bodies (bodies of followup POSTs, with their flags),
    h.timeline (every version of every message the user saw)
    h.modal (the type-9 modal data), h.choices (the type-8 choices)
    h.texts() -> list[str], h.text() -> str       (content + embed texts + text displays, in order)
    await h.wait_response(timeout=5.0) -> CallbackRecord       (first callback attempt, accepted or not)
    await h.wait_followup(count=1, timeout=5.0) -> dict
    await h.wait_text(substring, timeout=5.0) -> str
    await h.wait_for(predicate, timeout=5.0)

REST-side behaviour and injection::

    emu.ack_deadline, emu.token_lifetime                    (10062 / 40060 / 50027 rules)
    (the first followup after a type-5 defer fills the "thinking" message and keeps the defer's ephemerality,
     as Discord documents; 413/40005 above the upload limit; 403 50001/50013/50007, 404 10003/10008 ...)
    emu.inject_rest_error(method, path_regex, status, body=None, *, times=1, headers=None)
    emu.global_commands, emu.guild_commands[guild_id]       (registered commands, persist across restarts)
    emu.command_put_count, emu.command_write_count, emu.command_writes (list of RecordedRequest)

Recording and waiting::

    emu.requests (RecordedRequest: method, path, query, json, files[(filename, bytes, ctype)], time,
                  status, response, multipart, injected; the Authorization value is never recorded)
    emu.requests_to(method, path_regex) -> list[RecordedRequest]
    emu.messages(channel) -> list[dict] (oldest first, current state), emu.get_message(message_id) -> dict
    emu.file_bytes(attachment_or_url_or_id) -> bytes;  emu.cdn_requests (paths of attachment downloads)
    emu.interactions (every InteractionHandle), emu.events (every dispatched (event, data) pair)
    emu.pings(user) -> list of message ids that notified that user (creation only; edits never ping)
    await emu.wait_for(predicate, timeout=5.0)            predicate() is re-evaluated on every recorded change
    await emu.wait_for_message(channel, predicate=None, timeout=5.0) -> dict (newest match)
    await emu.wait_for_request(method, path_regex, timeout=5.0) -> RecordedRequest
    await emu.wait_identified(count=1, timeout=5.0)
    emu.identify_count (IDENTIFY payloads received), emu.last_identify (minus the token), emu.open_connections,
    emu.resume_count, emu.gateway_queries (v/encoding/compress of each connection), emu.gateway_close_codes
    await emu.disconnect_all(code=4000)  /  await emu.send_reconnect()   (gateway hiccups)
    emu.spec_violations (list[str]), emu.unhandled_requests (list[str])

Module helpers: ``message_text(message) -> str``, ``Perm`` / ``Intent`` bit flags, ``DISCORD_EPOCH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime as dt
import enum
import itertools
import json
import logging
import mimetypes
import re
import secrets
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from aiohttp import WSMsgType, web

from .discord_spec import get_validator

log = logging.getLogger("tests.fakes.discord")

DISCORD_EPOCH = 1420070400000
API_VERSION = 10
MiB = 1024 * 1024


class Perm(enum.IntFlag):
    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    VIEW_GUILD_INSIGHTS = 1 << 19
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    CREATE_PUBLIC_THREADS = 1 << 35
    SEND_MESSAGES_IN_THREADS = 1 << 38
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50
    PIN_MESSAGES = 1 << 51
    BYPASS_SLOWMODE = 1 << 52


# Every permission bit Discord defines today (bits 0-52 but the unused 47; up to PIN_MESSAGES, BYPASS_SLOWMODE).
ALL_PERMISSIONS = 0x1F7FFFFFFFFFFF
DEFAULT_EVERYONE = int(
    Perm.CREATE_INSTANT_INVITE | Perm.ADD_REACTIONS | Perm.STREAM | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
    | Perm.SEND_TTS_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS | Perm.CONNECT | Perm.SPEAK | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS | Perm.CREATE_PUBLIC_THREADS | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.SEND_POLLS | Perm.USE_EXTERNAL_APPS
)
DEFAULT_BOT_ROLE = int(
    Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS | Perm.USE_APPLICATION_COMMANDS | Perm.USE_EXTERNAL_EMOJIS
)
# What an app may do in a DM with a user (Discord reports these as app_permissions there).
DM_PERMISSIONS = int(
    Perm.ADD_REACTIONS | Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY | Perm.USE_EXTERNAL_EMOJIS | Perm.USE_APPLICATION_COMMANDS
)


class Intent(enum.IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = int(Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT)

# Message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

# Application flags reported for the privileged intents switched on in the portal.
APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18

_PREMIUM_UPLOAD_LIMITS = {0: 10 * MiB, 1: 10 * MiB, 2: 50 * MiB, 3: 100 * MiB}
_JOINED_AT = "2024-01-01T00:00:00.000000+00:00"

# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------

_id_lock = threading.Lock()
_last_id = 0


def new_snowflake() -> int:
    """A real-looking, strictly increasing snowflake (so discord.py's created_at is meaningful)."""
    global _last_id
    with _id_lock:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH) << 22
        _last_id = max(candidate, _last_id + 1)
        return _last_id


def _iso(ts: float | None = None) -> str:
    when = dt.datetime.now(dt.UTC) if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)
    return when.isoformat()


def _id_of(obj: Any) -> int:
    """An id from an int, a numeric str, a world object, a payload dict or a discord.py object."""
    if isinstance(obj, bool):
        raise TypeError(f"not an id: {obj!r}")
    if isinstance(obj, int):
        return obj
    if isinstance(obj, str):
        return int(obj)
    if isinstance(obj, dict):
        return int(obj["id"])
    if hasattr(obj, "id"):
        return int(obj.id)
    raise TypeError(f"not an id: {obj!r}")


def _perm_value(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return int(value)
    if hasattr(value, "value"):  # discord.Permissions
        return int(value.value)
    if isinstance(value, str):
        return int(Perm[value.upper()])
    total = 0
    for item in value:
        total |= _perm_value(item)
    return total


def message_text(message: dict[str, Any]) -> str:
    """Everything a user reads in a message: content, embed texts, and text displays, in order."""
    parts: list[str] = []
    if message.get("content"):
        parts.append(message["content"])
    for embed in message.get("embeds") or []:
        for key in ("title",):
            if embed.get(key):
                parts.append(embed[key])
        if (embed.get("author") or {}).get("name"):
            parts.append(embed["author"]["name"])
        if embed.get("description"):
            parts.append(embed["description"])
        for field in embed.get("fields") or []:
            parts.extend(v for v in (field.get("name"), field.get("value")) if v)
        if (embed.get("footer") or {}).get("text"):
            parts.append(embed["footer"]["text"])

    def walk(components: Iterable[dict[str, Any]]) -> None:
        for comp in components:
            if comp.get("type") == 10 and comp.get("content"):
                parts.append(comp["content"])
            walk(comp.get("components") or [])
            if isinstance(comp.get("component"), dict):
                walk([comp["component"]])

    walk(message.get("components") or [])
    return "\n".join(parts)


def _walk_components(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for comp in components:
        yield comp
        yield from _walk_components(comp.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from _walk_components([comp[key]])


class DiscordError(Exception):
    """An error answer in Discord's shape: {"code": int, "message": str[, "errors": {...}]}."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def _form_error(field_path: str, code: str, message: str) -> DiscordError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        errors = {part: errors}
    return DiscordError(400, 50035, "Invalid Form Body", errors)


# ---------------------------------------------------------------------------------------------------------
# World model
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    refuses_dms: bool = False


@dataclasses.dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    bot_id: int | None = None


@dataclasses.dataclass(eq=False)
class Overwrite:
    id: int
    type: int  # 0 role, 1 member
    allow: int = 0
    deny: int = 0


@dataclasses.dataclass(eq=False)
class Channel:
    id: int
    type: int  # 0 guild text, 1 DM
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    overwrites: list[Overwrite] = dataclasses.field(default_factory=list)
    recipient_id: int | None = None
    last_message_id: int | None = None
    deleted: bool = False


@dataclasses.dataclass(eq=False)
class Member:
    user_id: int
    guild_id: int
    roles: list[int] = dataclasses.field(default_factory=list)
    nick: str | None = None


@dataclasses.dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    premium_tier: int = 0
    roles: dict[int, Role] = dataclasses.field(default_factory=dict)
    channels: dict[int, Channel] = dataclasses.field(default_factory=dict)
    members: dict[int, Member] = dataclasses.field(default_factory=dict)

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]


@dataclasses.dataclass(eq=False)
class StoredFile:
    id: int
    filename: str
    content_type: str
    data: bytes
    path: str  # CDN path (without query)
    created_at: float
    ephemeral: bool = False


@dataclasses.dataclass(eq=False)
class _StoredMessage:
    data: dict[str, Any]  # the canonical, full message object (REST shape)
    guild_id: int | None
    ephemeral: bool = False
    interaction_id: int | None = None
    deleted: bool = False


# ---------------------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class RecordedRequest:
    method: str
    path: str  # relative to /api/v10, no query
    query: dict[str, str]
    json: Any  # JSON body, or the parsed payload_json of a multipart body
    files: list[tuple[str, bytes, str]]
    time: float
    multipart: bool = False
    authorized: bool = False  # an Authorization header was present (its value is never recorded)
    status: int | None = None
    response: Any = None
    injected: bool = False


@dataclasses.dataclass
class CallbackRecord:
    type: int | None
    data: dict[str, Any]
    flags: int
    ephemeral: bool
    files: list[tuple[str, bytes, str]]
    at: float
    status: int
    error_code: int | None = None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class InteractionHandle:
    """What one injected interaction led to; see the module docstring."""

    def __init__(self, emu: DiscordEmulator, payload: dict[str, Any], *, user_id: int, channel_id: int,
                 guild_id: int | None, message_id: int | None) -> None:
        self._emu = emu
        self.payload = payload
        self.id: int = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.user_id = user_id
        self.channel_id = channel_id
        self.guild_id = guild_id
        self.message_id = message_id  # the component's message (component / modal-from-component)
        self.delivered = False
        self.dispatched_at: float = emu.now()
        self.callbacks: list[CallbackRecord] = []
        self.original_id: int | None = None
        self.followup_ids: list[int] = []
        self.edits: list[dict[str, Any]] = []  # bodies of PATCH @original
        self.followup_bodies: list[dict[str, Any]] = []  # bodies of followup POSTs (flags 64 = ephemeral)
        self.timeline: list[dict[str, Any]] = []
        self.modal: dict[str, Any] | None = None
        self.choices: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} callbacks={[c.type for c in self.callbacks]}>"

    @property
    def response(self) -> CallbackRecord | None:
        return next((c for c in self.callbacks if c.accepted), None)

    @property
    def acknowledged(self) -> bool:
        return self.response is not None

    @property
    def ephemeral(self) -> bool | None:
        r = self.response
        return None if r is None else r.ephemeral

    @property
    def original(self) -> dict[str, Any] | None:
        if self.original_id is None:
            return None
        return self._emu.get_message(self.original_id)

    @property
    def followups(self) -> list[dict[str, Any]]:
        out = []
        for mid in self.followup_ids:
            with contextlib.suppress(KeyError):
                out.append(self._emu.get_message(mid))
        return out

    def texts(self) -> list[str]:
        """The text of every message version the user saw, in order (loading placeholders skipped)."""
        return [t for t in (message_text(m) for m in self.timeline) if t]

    def text(self) -> str:
        return "\n".join(self.texts())

    async def wait_for(self, predicate: Callable[[InteractionHandle], Any], timeout: float = 5.0) -> Any:
        return await self._emu.wait_for(lambda: predicate(self), timeout=timeout,
                                        what=f"interaction {self.id} condition")

    async def wait_response(self, timeout: float = 5.0) -> CallbackRecord:
        """The first callback attempt (accepted or rejected)."""
        return await self._emu.wait_for(lambda: self.callbacks[0] if self.callbacks else None, timeout=timeout,
                                        what=f"a callback to interaction {self.id}")

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            f = self.followups
            return f[count - 1] if len(f) >= count else None

        return await self._emu.wait_for(check, timeout=timeout, what=f"followup #{count} of {self.id}")

    async def wait_text(self, substring: str, timeout: float = 5.0) -> str:
        return await self._emu.wait_for(lambda: substring in self.text() and self.text(), timeout=timeout,
                                        what=f"text {substring!r} in interaction {self.id}")


# ---------------------------------------------------------------------------------------------------------
# Gateway plumbing
# ---------------------------------------------------------------------------------------------------------


class _Connection:
    """One websocket: an ordered outgoing queue drained by a writer task (so dispatch never blocks)."""

    def __init__(self, ws: web.WebSocketResponse, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._zstd = None
        if compress == "zstd-stream":
            try:
                import zstandard  # type: ignore[import-not-found]

                self._zstd = zstandard.ZstdCompressor().compressobj()
                self._zstd_flush = zstandard.COMPRESSOBJ_FLUSH_BLOCK
            except ImportError:  # fall back to plain text frames, which discord.py also reads
                self.compress = None
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.session: _Session | None = None
        self.closed = False
        self.close_code: int | None = None
        self.writer = asyncio.create_task(self._write_loop(), name="discord-emulator-ws-writer")

    def send(self, payload: dict[str, Any]) -> None:
        if not self.closed:
            self.queue.put_nowait(("send", payload))

    def close(self, code: int, reason: str = "") -> None:
        if not self.closed:
            self.queue.put_nowait(("close", (code, reason)))

    async def flush(self, timeout: float = 5.0) -> None:
        if self.closed:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.queue.join(), timeout)

    def _encode(self, payload: dict[str, Any]) -> bytes | str:
        text = json.dumps(payload, separators=(",", ":"))
        if self._zlib is not None:
            return self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
        if self._zstd is not None:
            return self._zstd.compress(text.encode()) + self._zstd.flush(self._zstd_flush)
        return text

    async def _write_loop(self) -> None:
        while True:
            kind, item = await self.queue.get()
            try:
                if self.closed:
                    continue
                if kind == "send":
                    frame = self._encode(item)
                    try:
                        if isinstance(frame, bytes):
                            await self.ws.send_bytes(frame)
                        else:
                            await self.ws.send_str(frame)
                    except Exception:  # the peer went away mid-write
                        self.closed = True
                else:
                    code, reason = item
                    self.close_code = code
                    self.closed = True
                    with contextlib.suppress(Exception):
                        await self.ws.close(code=code, message=reason.encode())
            finally:
                self.queue.task_done()

    async def shutdown(self) -> None:
        self.closed = True
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
        # release flush() waiters
        while not self.queue.empty():
            self.queue.get_nowait()
            self.queue.task_done()


@dataclasses.dataclass(eq=False)
class _Session:
    id: str
    intents: int
    identified_at: float
    seq: int = 0
    buffer: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    conn: _Connection | None = None
    disconnected_at: float | None = None


# Every REST route the emulator answers: (method, path regex relative to /api/v10, handler method, needs
# bot auth). The OpenAPI excerpt holds exactly the operations these routes serve (see discord_spec.py).
REST_ROUTES: tuple[tuple[str, str, str, bool], ...] = (
    ("GET", r"/gateway", "_r_gateway", False),
    ("GET", r"/gateway/bot", "_r_gateway_bot", True),
    ("GET", r"/users/@me", "_r_me", True),
    ("POST", r"/users/@me/channels", "_r_create_dm", True),
    ("GET", r"/users/(?P<user_id>\d+)", "_r_user", True),
    ("GET", r"/oauth2/applications/@me", "_r_application", True),
    ("GET", r"/applications/@me", "_r_application", True),
    ("GET", r"/channels/(?P<channel_id>\d+)", "_r_channel", True),
    ("GET", r"/channels/(?P<channel_id>\d+)/messages", "_r_list_messages", True),
    ("POST", r"/channels/(?P<channel_id>\d+)/messages", "_r_create_message", True),
    ("GET", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_r_get_message", True),
    ("PATCH", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_r_edit_message", True),
    ("DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)", "_r_delete_message", True),
    ("PUT", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
     "_r_reaction", True),
    ("DELETE", r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
     "_r_reaction", True),
    ("POST", r"/channels/(?P<channel_id>\d+)/typing", "_r_typing", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)", "_r_guild", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/channels", "_r_guild_channels", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/roles", "_r_guild_roles", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "_r_member", True),
    ("GET", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands",
     "_r_list_commands", True),
    ("PUT", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands", "_r_put_commands", True),
    ("POST", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands",
     "_r_post_command", True),
    ("GET", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands/(?P<command_id>\d+)",
     "_r_get_command", True),
    ("PATCH", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands/(?P<command_id>\d+)",
     "_r_patch_command", True),
    ("DELETE", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands/(?P<command_id>\d+)",
     "_r_delete_command", True),
    ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", "_r_callback", False),
    ("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)", "_r_followup", False),
    ("GET", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
     "_r_webhook_get", False),
    ("PATCH", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
     "_r_webhook_edit", False),
    ("DELETE", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
     "_r_webhook_delete", False),
)


# ---------------------------------------------------------------------------------------------------------
# The emulator
# ---------------------------------------------------------------------------------------------------------


class DiscordEmulator:
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

        # world
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self._channels: dict[int, Channel] = {}
        self._deleted_channels: set[int] = set()
        self._dm_channels: dict[int, int] = {}
        self._messages: dict[int, dict[int, _StoredMessage]] = {}  # channel -> id -> message
        self._message_index: dict[int, _StoredMessage] = {}
        self._files: dict[int, StoredFile] = {}
        self._pings: list[tuple[int, int]] = []
        self.bot_user = self.add_user(bot_name, user_id=bot_user_id or self.application_id, bot=True)

        # application commands (persist for the emulator's lifetime)
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_writes: list[RecordedRequest] = []

        # recording
        self.requests: list[RecordedRequest] = []
        self.spec_violations: list[str] = []
        self.unhandled_requests: list[str] = []
        self.cdn_requests: list[str] = []  # paths of every attachment download
        self.interactions: list[InteractionHandle] = []
        self._interactions_by_id: dict[int, InteractionHandle] = {}
        self._interactions_by_token: dict[str, InteractionHandle] = {}
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._injected: list[dict[str, Any]] = []
        self._change = asyncio.Event()

        # gateway
        self._sessions: dict[str, _Session] = {}
        self._connections: set[_Connection] = set()
        self.identify_count = 0
        self.resume_count = 0
        self.last_identify: dict[str, Any] | None = None
        self.last_presence: dict[str, Any] | None = None
        self.gateway_close_codes: list[int] = []  # close codes of finished gateway connections
        self.gateway_queries: list[dict[str, str]] = []  # query of each gateway connection (v, encoding, compress)

        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port: int | None = None
        self._routes = self._build_routes()

        if default_world:
            self.owner = self.add_user("owner")
            self.default_user = self.add_user("alice")
            self.guild = self.add_guild("Test Guild", owner=self.owner)
            self.add_member(self.guild, self.default_user)
            self.channel = self.add_text_channel(self.guild, "general")

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
        app.router.add_route("GET", "/media/{kind:attachments|ephemeral-attachments}/{a}/{b}/{filename}", self._cdn)
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

    def now(self) -> float:
        return time.monotonic() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock on (token lifetime, CDN expiry, the 3-second rule)."""
        self._clock_offset += seconds
        self._changed()

    # ------------------------------------------------------------------ world building

    def add_user(self, username: str, *, user_id: int | None = None, bot: bool = False,
                 refuses_dms: bool = False, global_name: str | None = None) -> User:
        user = User(user_id or new_snowflake(), username, global_name, bot, refuses_dms)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, *, owner: Any = None, premium_tier: int = 0,
                  everyone_permissions: Any = DEFAULT_EVERYONE, bot_permissions: Any = DEFAULT_BOT_ROLE,
                  guild_id: int | None = None) -> Guild:
        owner_user = self._user(owner) if owner is not None else self.add_user(f"{name}-owner")
        gid = guild_id or new_snowflake()
        guild = Guild(gid, name, owner_user.id, premium_tier)
        guild.roles[gid] = Role(gid, gid, "@everyone", _perm_value(everyone_permissions), 0)
        bot_role = Role(new_snowflake(), gid, self.bot_user.username, _perm_value(bot_permissions), 1,
                        managed=True, bot_id=self.bot_user.id)
        guild.roles[bot_role.id] = bot_role
        guild.members[owner_user.id] = Member(owner_user.id, gid)
        guild.members[self.bot_user.id] = Member(self.bot_user.id, gid, [bot_role.id])
        self.guilds[gid] = guild
        for session in self._live_sessions():
            self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(guild, session))
        return guild

    def add_role(self, guild: Any, name: str, permissions: Any = 0, *, role_id: int | None = None) -> Role:
        g = self._guild(guild)
        role = Role(role_id or new_snowflake(), g.id, name, _perm_value(permissions), len(g.roles))
        g.roles[role.id] = role
        self._dispatch("GUILD_ROLE_CREATE", {"guild_id": str(g.id), "role": self._role_payload(role)},
                       intent=Intent.GUILDS)
        return role

    def add_member(self, guild: Any, user: Any, *, roles: Iterable[Any] = (), nick: str | None = None) -> Member:
        g = self._guild(guild)
        u = self._user(user)
        member = Member(u.id, g.id, [_id_of(r) for r in roles], nick)
        g.members[u.id] = member
        payload = self._member_payload(member)
        payload["guild_id"] = str(g.id)
        self._dispatch("GUILD_MEMBER_ADD", payload, intent=Intent.GUILD_MEMBERS)
        return member

    def add_text_channel(self, guild: Any, name: str, *, overwrites: Iterable[Overwrite] = (),
                         channel_id: int | None = None, topic: str | None = None) -> Channel:
        g = self._guild(guild)
        channel = Channel(channel_id or new_snowflake(), 0, name, g.id, len(g.channels), topic, list(overwrites))
        g.channels[channel.id] = channel
        self._channels[channel.id] = channel
        self._messages[channel.id] = {}
        self._dispatch("CHANNEL_CREATE", self._channel_payload(channel), intent=Intent.GUILDS)
        return channel

    def dm_channel(self, user: Any) -> Channel:
        u = self._user(user)
        cid = self._dm_channels.get(u.id)
        if cid is None:
            channel = Channel(new_snowflake(), 1, recipient_id=u.id)
            self._channels[channel.id] = channel
            self._messages[channel.id] = {}
            self._dm_channels[u.id] = channel.id
            return channel
        return self._channels[cid]

    async def set_bot_channel_permissions(self, channel: Any, *, allow: Any = 0, deny: Any = 0) -> None:
        """A member overwrite for the bot on `channel` (allow/deny: int, Perm, names, discord.Permissions)."""
        await self.set_channel_overwrite(channel, self.bot_user, allow=allow, deny=deny)

    async def set_channel_overwrite(self, channel: Any, target: Any, *, allow: Any = 0, deny: Any = 0) -> None:
        ch = self._channel(channel)
        if ch.guild_id is None:
            raise ValueError("DM channels have no overwrites")
        g = self.guilds[ch.guild_id]
        tid = _id_of(target)
        otype = 0 if tid in g.roles else 1
        ch.overwrites = [o for o in ch.overwrites if o.id != tid]
        a, d = _perm_value(allow), _perm_value(deny)
        if a or d:
            ch.overwrites.append(Overwrite(tid, otype, a, d))
        self._dispatch("CHANNEL_UPDATE", self._channel_payload(ch), intent=Intent.GUILDS)
        await self._flush()

    async def set_role_permissions(self, role: Any, permissions: Any, *, guild: Any = None) -> None:
        rid = _id_of(role)
        g = self._guild(guild) if guild is not None else next(g for g in self.guilds.values() if rid in g.roles)
        r = g.roles[rid]
        r.permissions = _perm_value(permissions)
        self._dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(g.id), "role": self._role_payload(r)},
                       intent=Intent.GUILDS)
        await self._flush()

    async def set_member_roles(self, guild: Any, user: Any, roles: Iterable[Any]) -> None:
        g = self._guild(guild)
        m = g.members[_id_of(user)]
        m.roles = [_id_of(r) for r in roles]
        payload = self._member_payload(m)
        payload["guild_id"] = str(g.id)
        self._dispatch("GUILD_MEMBER_UPDATE", payload, intent=Intent.GUILD_MEMBERS,
                       always_for_bot=m.user_id == self.bot_user.id)
        await self._flush()

    async def set_premium_tier(self, guild: Any, tier: int) -> None:
        g = self._guild(guild)
        g.premium_tier = tier
        self._dispatch("GUILD_UPDATE", self._guild_payload(g), intent=Intent.GUILDS)
        await self._flush()

    async def delete_channel(self, channel: Any) -> None:
        ch = self._channel(channel)
        ch.deleted = True
        self._deleted_channels.add(ch.id)
        if ch.guild_id is not None:
            self.guilds[ch.guild_id].channels.pop(ch.id, None)
        self._dispatch("CHANNEL_DELETE", self._channel_payload(ch), intent=Intent.GUILDS)
        self._changed()
        await self._flush()

    def upload_limit(self, where: Any = None) -> int:
        if where is None:
            return _PREMIUM_UPLOAD_LIMITS[0]
        if isinstance(where, Guild):
            return _PREMIUM_UPLOAD_LIMITS[where.premium_tier]
        ch = self._channels.get(_id_of(where))
        if ch is not None:
            if ch.guild_id is None:
                return _PREMIUM_UPLOAD_LIMITS[0]
            return _PREMIUM_UPLOAD_LIMITS[self.guilds[ch.guild_id].premium_tier]
        return _PREMIUM_UPLOAD_LIMITS[self._guild(where).premium_tier]

    def permissions_for(self, user: Any, channel: Any) -> int:
        """Discord's computation: base (@everyone + roles), administrator, overwrites in order, implicit denies."""
        ch = self._channel(channel)
        uid = _id_of(user)
        if ch.guild_id is None:
            return DM_PERMISSIONS
        g = self.guilds[ch.guild_id]
        member = g.members.get(uid)
        if member is None:
            return 0
        if uid == g.owner_id:
            return ALL_PERMISSIONS
        perms = g.everyone.permissions
        for rid in member.roles:
            if rid in g.roles:
                perms |= g.roles[rid].permissions
        if perms & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        by_id = {o.id: o for o in ch.overwrites}
        everyone = by_id.get(g.id)
        if everyone is not None:
            perms = (perms & ~everyone.deny) | everyone.allow
        allow = deny = 0
        for rid in member.roles:
            o = by_id.get(rid)
            if o is not None and o.type == 0:
                allow |= o.allow
                deny |= o.deny
        perms = (perms & ~deny) | allow
        mine = by_id.get(uid)
        if mine is not None and mine.type == 1:
            perms = (perms & ~mine.deny) | mine.allow
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        if not perms & Perm.SEND_MESSAGES:
            perms &= ~int(Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES)
        return perms

    # ------------------------------------------------------------------ lookups

    def _user(self, obj: Any) -> User:
        if isinstance(obj, User):
            return obj
        if isinstance(obj, Member):
            return self.users[obj.user_id]
        uid = _id_of(obj)
        if uid not in self.users:
            raise KeyError(f"unknown user {uid}")
        return self.users[uid]

    def _guild(self, obj: Any) -> Guild:
        if isinstance(obj, Guild):
            return obj
        gid = _id_of(obj)
        if gid not in self.guilds:
            raise KeyError(f"unknown guild {gid}")
        return self.guilds[gid]

    def _channel(self, obj: Any) -> Channel:
        if isinstance(obj, Channel):
            return obj
        if isinstance(obj, User):
            return self.dm_channel(obj)
        cid = _id_of(obj)
        if cid not in self._channels:
            raise KeyError(f"unknown channel {cid}")
        return self._channels[cid]

    def _dispatch_targets(self) -> list[_Session]:
        """Live sessions, plus (when resuming is allowed) disconnected ones that may still RESUME."""
        if not self.allow_resume:
            return self._live_sessions()
        self._expire_sessions()
        return list(self._sessions.values())

    def _live_sessions(self) -> list[_Session]:
        return [s for s in self._sessions.values() if s.conn is not None and not s.conn.closed]

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._connections if not c.closed)

    # ------------------------------------------------------------------ payload builders

    def _user_payload(self, user: User) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(user.id), "username": user.username, "discriminator": "0" if not user.bot else "0001",
            "global_name": user.global_name, "avatar": None, "public_flags": 0, "flags": 0, "banner": None,
            "accent_color": None, "avatar_decoration_data": None, "collectibles": None, "primary_guild": None,
        }
        if user.bot:
            payload["bot"] = True
        return payload

    def _me_payload(self) -> dict[str, Any]:
        payload = self._user_payload(self.bot_user)
        payload.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})
        return payload

    def _role_payload(self, role: Role) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(role.id), "name": role.name, "permissions": str(role.permissions), "position": role.position,
            "color": 0, "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False, "managed": role.managed, "mentionable": False, "icon": None, "unicode_emoji": None,
            "flags": 0,
        }
        if role.bot_id is not None:
            payload["tags"] = {"bot_id": str(role.bot_id)}
        return payload

    def _member_payload(self, member: Member, *, with_user: bool = True, channel: Channel | None = None
                        ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in member.roles], "nick": member.nick, "avatar": None, "banner": None,
            "joined_at": _JOINED_AT, "premium_since": None, "deaf": False, "mute": False, "pending": False,
            "flags": 0, "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self._user_payload(self.users[member.user_id])
        if channel is not None:
            payload["permissions"] = str(self.permissions_for(member.user_id, channel))
        return payload

    def _channel_payload(self, ch: Channel) -> dict[str, Any]:
        last = str(ch.last_message_id) if ch.last_message_id else None
        if ch.guild_id is None:
            return {"id": str(ch.id), "type": 1, "last_message_id": last, "flags": 0, "last_pin_timestamp": None,
                    "recipients": [self._user_payload(self.users[ch.recipient_id or 0])]}
        return {
            "id": str(ch.id), "type": ch.type, "guild_id": str(ch.guild_id), "name": ch.name,
            "position": ch.position, "flags": 0, "parent_id": None, "topic": ch.topic, "nsfw": False,
            "last_message_id": last, "rate_limit_per_user": 0, "last_pin_timestamp": None,
            "permission_overwrites": [
                {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)} for o in ch.overwrites
            ],
        }

    def _guild_payload(self, g: Guild) -> dict[str, Any]:
        return {
            "id": str(g.id), "name": g.name, "icon": None, "description": None, "home_header": None,
            "splash": None, "discovery_splash": None, "features": [], "banner": None, "owner_id": str(g.owner_id),
            "application_id": None, "region": "deprecated", "afk_channel_id": None, "afk_timeout": 300,
            "system_channel_id": None, "system_channel_flags": 0, "widget_enabled": False,
            "widget_channel_id": None, "verification_level": 0,
            "roles": [self._role_payload(r) for r in g.roles.values()],
            "default_message_notifications": 0, "mfa_level": 0, "explicit_content_filter": 0,
            "max_presences": None, "max_members": 500000, "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25, "vanity_url_code": None, "premium_tier": g.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}[g.premium_tier], "preferred_locale": "en-US",
            "rules_channel_id": None, "safety_alerts_channel_id": None, "public_updates_channel_id": None,
            "premium_progress_bar_enabled": False, "nsfw": False, "nsfw_level": 0, "emojis": [], "stickers": [],
            "incidents_data": None,
        }

    def _guild_create_payload(self, g: Guild, session: _Session) -> dict[str, Any]:
        payload = self._guild_payload(g)
        everyone_visible = bool(session.intents & Intent.GUILD_PRESENCES) and len(g.members) < 250
        members = [m for m in g.members.values() if everyone_visible or m.user_id == self.bot_user.id]
        payload.update({
            "joined_at": _JOINED_AT, "large": len(g.members) >= 250, "unavailable": False,
            "member_count": len(g.members), "lazy": True,
            "channels": [self._channel_payload(c) for c in g.channels.values()],
            "members": [self._member_payload(m) for m in members],
            "threads": [], "presences": [], "voice_states": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [], "embedded_activities": [],
        })
        return payload

    def _attachment_payload(self, f: StoredFile, *, description: str | None = None) -> dict[str, Any]:
        query = ""
        if self.cdn_url_lifetime is not None:
            # signed urls are re-issued on every fetch, like Discord's; the clock offset counts as time passed
            expires = int(time.time() + self._clock_offset + self.cdn_url_lifetime)
            query = f"?ex={expires:x}&is={int(time.time()):x}&hm={secrets.token_hex(16)}&"
        payload: dict[str, Any] = {
            "id": str(f.id), "filename": f.filename, "size": len(f.data),
            "url": f"{self.base_url}{f.path}{query}", "proxy_url": f"{self.base_url}/media{f.path}{query}",
            "content_type": f.content_type, "flags": 0,
        }
        if f.ephemeral:
            payload["ephemeral"] = True
        if description:
            payload["description"] = description
        return payload

    def _store_file(self, filename: str, data: bytes, content_type: str | None, *, where: str,
                    ephemeral: bool = False) -> StoredFile:
        fid = new_snowflake()
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", filename.replace(" ", "_")) or "unknown"
        ctype = content_type
        if not ctype or ctype == "application/octet-stream":
            ctype = mimetypes.guess_type(safe)[0] or "application/octet-stream"
        f = StoredFile(fid, safe, ctype, bytes(data), f"/{where}/{fid}/{quote(safe)}", self.now(), ephemeral)
        self._files[fid] = f
        return f

    # ------------------------------------------------------------------ messages: storage and visibility

    def messages(self, channel: Any) -> list[dict[str, Any]]:
        """Current (non-ephemeral) messages of a channel, oldest first, full content, as copies."""
        cid = _id_of(channel) if not isinstance(channel, User) else self.dm_channel(channel).id
        return [copy.deepcopy(m.data) for m in self._messages.get(cid, {}).values() if not m.deleted]

    def get_message(self, message_id: Any) -> dict[str, Any]:
        m = self._message_index[_id_of(message_id)]
        if m.deleted:
            raise KeyError(f"message {message_id} was deleted")
        return copy.deepcopy(m.data)

    def file_bytes(self, attachment: Any) -> bytes:
        """Bytes of an uploaded file: from an attachment dict, its url, or its id."""
        if isinstance(attachment, str) and "/" in attachment:
            m = re.search(r"/(?:ephemeral-)?attachments/\d+/(\d+)/", attachment)
            if not m:
                raise KeyError(f"not an emulator attachment url: {attachment}")
            return self._files[int(m.group(1))].data
        return self._files[_id_of(attachment)].data

    def pings(self, user: Any) -> list[int]:
        uid = _id_of(user)
        return [mid for (u, mid) in self._pings if u == uid]

    def _strip_content(self, data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        data["content"] = ""
        data["embeds"] = []
        data["attachments"] = []
        data["components"] = []
        data.pop("poll", None)
        return data

    def _needs_strip(self, data: dict[str, Any], guild_id: int | None, has_intent: bool) -> bool:
        if has_intent or guild_id is None:
            return False
        if int(data["author"]["id"]) == self.bot_user.id:
            return False
        return not any(int(u["id"]) == self.bot_user.id for u in data.get("mentions", []))

    def _visible(self, stored: _StoredMessage, has_intent: bool) -> dict[str, Any]:
        data = stored.data
        if self._needs_strip(data, stored.guild_id, has_intent):
            data = self._strip_content(data)
        ref = data.get("referenced_message")
        if ref:
            ref_stored = self._message_index.get(int(ref["id"]))
            if ref_stored is not None and self._needs_strip(ref, ref_stored.guild_id, has_intent):
                data = dict(data)
                data["referenced_message"] = self._strip_content(ref)
        return data

    def _rest_has_content_intent(self) -> bool:
        if not self.message_content_allowed:
            return False
        if self.rest_content_rule == "identify" and self.last_identify is not None:
            return bool(self.last_identify.get("intents", 0) & Intent.MESSAGE_CONTENT)
        return True

    def _rest_message(self, stored: _StoredMessage) -> dict[str, Any]:
        return copy.deepcopy(self._visible(stored, self._rest_has_content_intent()))

    def _gateway_message(self, stored: _StoredMessage, session: _Session) -> dict[str, Any]:
        data = copy.deepcopy(self._visible(stored, bool(session.intents & Intent.MESSAGE_CONTENT)))
        if stored.guild_id is not None:
            data["guild_id"] = str(stored.guild_id)
            g = self.guilds.get(stored.guild_id)
            if g is not None:
                author = g.members.get(int(data["author"]["id"]))
                if author is not None and not data.get("webhook_id"):
                    data["member"] = self._member_payload(author, with_user=False)
                for mention in data.get("mentions", []):
                    m = g.members.get(int(mention["id"]))
                    if m is not None:
                        mention["member"] = self._member_payload(m, with_user=False)
        return data

    def _save_message(self, stored: _StoredMessage) -> None:
        cid = int(stored.data["channel_id"])
        mid = int(stored.data["id"])
        self._message_index[mid] = stored
        if not stored.ephemeral:
            self._messages.setdefault(cid, {})[mid] = stored
            ch = self._channels.get(cid)
            if ch is not None:
                ch.last_message_id = mid

    def _dispatch_message(self, event: str, stored: _StoredMessage) -> None:
        if stored.ephemeral:
            return
        intent = Intent.GUILD_MESSAGES if stored.guild_id is not None else Intent.DIRECT_MESSAGES
        self._dispatch(event, None, intent=intent, build=lambda s: self._gateway_message(stored, s))

    def _parse_mentions(self, content: str, guild_id: int | None, allowed: dict[str, Any] | None,
                        extra_users: Iterable[int] = (), *, can_mention_everyone: bool = True
                        ) -> tuple[list[int], list[int], bool]:
        """(user ids mentioned, role ids mentioned, mention_everyone), filtered by allowed_mentions."""
        users = [int(x) for x in re.findall(r"<@!?(\d+)>", content or "")]
        roles = [int(x) for x in re.findall(r"<@&(\d+)>", content or "")]
        everyone = "@everyone" in (content or "") or "@here" in (content or "")
        if allowed is not None:
            parse = allowed.get("parse") or []
            allowed_users = {int(u) for u in allowed.get("users") or []}
            allowed_roles = {int(r) for r in allowed.get("roles") or []}
            users = [u for u in users if "users" in parse or u in allowed_users]
            roles = [r for r in roles if "roles" in parse or r in allowed_roles]
            everyone = everyone and "everyone" in parse
        everyone = everyone and can_mention_everyone
        seen: list[int] = []
        for u in [*users, *extra_users]:
            if u in self.users and u not in seen:
                seen.append(u)
        if guild_id is not None:
            roles = [r for r in roles if r in self.guilds[guild_id].roles]
        return seen, list(dict.fromkeys(roles)), everyone

    # ------------------------------------------------------------------ message body checks

    def _check_message_body(self, body: dict[str, Any], *, file_count: int, creating: bool) -> None:
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            raise _form_error("content", "BASE_TYPE_STRING", "Must be a string.")
        if content is not None and len(content) > 2000:
            raise _form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            raise _form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, embed in enumerate(embeds):
            for key, limit in limits.items():
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    raise _form_error(f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH",
                                      f"Must be {limit} or fewer in length.")
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _form_error(f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for j, field in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    value = field.get(key)
                    if not value:
                        raise _form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED",
                                          "This field is required")
                    total += len(value)
                    if len(value) > limit:
                        raise _form_error(f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_MAX_LENGTH",
                                          f"Must be {limit} or fewer in length.")
            footer = (embed.get("footer") or {}).get("text") or ""
            author = (embed.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048 or len(author) > 256:
                raise _form_error(f"embeds.{i}", "BASE_TYPE_MAX_LENGTH", "Embed footer/author too long.")
        if total > 6000:
            raise _form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        components = body.get("components") or []
        v2 = bool((body.get("flags") or 0) & FLAG_COMPONENTS_V2)
        if not v2 and len(components) > 5:
            raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        custom_ids: set[str] = set()
        for comp in _walk_components(components):
            cid = comp.get("custom_id")
            if cid is not None:
                if len(cid) > 100:
                    raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "custom_id: Must be 100 or fewer.")
                if cid in custom_ids:
                    raise _form_error("components", "COMPONENT_CUSTOM_ID_DUPLICATED",
                                      "Component custom id cannot be duplicated")
                custom_ids.add(cid)
            if comp.get("type") == 2 and len(comp.get("label") or "") > 80:
                raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "label: Must be 80 or fewer.")
            if comp.get("type") == 1 and not v2 and len(comp.get("components") or []) > 5:
                raise _form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        if creating and not (content or embeds or components or file_count or body.get("sticker_ids")
                             or body.get("poll")):
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _normalize_components(self, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        components = copy.deepcopy(components or [])
        used = {c["id"] for c in _walk_components(components) if isinstance(c.get("id"), int)}
        counter = itertools.count(1)
        for comp in _walk_components(components):
            if not isinstance(comp.get("id"), int):
                n = next(counter)
                while n in used:
                    n = next(counter)
                comp["id"] = n
                used.add(n)
            emoji = comp.get("emoji")
            if isinstance(emoji, dict):
                # Discord answers a unicode emoji as {"name": "🔁"}: no null id, no animated flag.
                comp["emoji"] = {k: v for k, v in emoji.items() if v is not None}
        return components

    def _normalize_embeds(self, embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for embed in copy.deepcopy(embeds or []):
            embed.setdefault("type", "rich")
            embed["content_scan_version"] = 0
            for field in embed.get("fields") or []:
                field.setdefault("inline", False)
            out.append(embed)
        return out

    def _attachments_from(self, body: dict[str, Any], files: list[tuple[str, bytes, str]],
                          existing: list[dict[str, Any]] | None, *, where: str, ephemeral: bool
                          ) -> list[dict[str, Any]]:
        """Resolve body['attachments'] (kept existing ids + new files by index) into attachment objects."""
        new_files: dict[int, tuple[str, bytes, str]] = dict(enumerate(files))
        if "attachments" not in body or body.get("attachments") is None:
            kept = list(existing or [])
            return kept + [self._attachment_payload(self._store_file(fn, data, ct, where=where,
                                                                       ephemeral=ephemeral))
                           for fn, data, ct in files]
        out = []
        existing_by_id = {a["id"]: a for a in existing or []}
        used_indexes: set[int] = set()
        for spec in body["attachments"]:
            sid = str(spec.get("id"))
            if sid in existing_by_id:
                out.append(existing_by_id[sid])
            elif sid.isdigit() and int(sid) in new_files:
                idx = int(sid)
                used_indexes.add(idx)
                fn, data, ct = new_files[idx]
                stored = self._store_file(spec.get("filename") or fn, data, ct, where=where, ephemeral=ephemeral)
                out.append(self._attachment_payload(stored, description=spec.get("description")))
            else:
                raise _form_error("attachments", "ATTACHMENT_NOT_FOUND", f"Unknown attachment id {sid}")
        for idx, (fn, data, ct) in new_files.items():
            if idx not in used_indexes:
                out.append(self._attachment_payload(self._store_file(fn, data, ct, where=where,
                                                                       ephemeral=ephemeral)))
        return out

    def _check_upload_limit(self, files: list[tuple[str, bytes, str]], limit: int) -> None:
        if sum(len(data) for _, data, _ in files) > limit:
            raise DiscordError(413, 40005, "Request entity too large")

    def _new_message(self, channel: Channel, author: User, body: dict[str, Any], files: list[tuple[str, bytes, str]],
                     *, ephemeral: bool = False, webhook: bool = False, mtype: int = 0,
                     interaction: InteractionHandle | None = None, flags: int | None = None) -> _StoredMessage:
        mid = new_snowflake()
        where = (f"ephemeral-attachments/{self.application_id}" if ephemeral else f"attachments/{channel.id}")
        attachments = self._attachments_from(body, files, None, where=where, ephemeral=ephemeral)
        reference = body.get("message_reference")
        referenced: _StoredMessage | None = None
        extra_mentions: list[int] = []
        if reference:
            ref_id = int(reference["message_id"])
            referenced = self._message_index.get(ref_id)
            if referenced is None or referenced.deleted or int(referenced.data["channel_id"]) != channel.id:
                if reference.get("fail_if_not_exists", True):
                    raise _form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")
                referenced = None
            else:
                allowed = body.get("allowed_mentions")
                if allowed is None or allowed.get("replied_user", False):
                    extra_mentions.append(int(referenced.data["author"]["id"]))
                mtype = 19
        can_everyone = channel.guild_id is None or bool(
            self.permissions_for(author.id, channel) & Perm.MENTION_EVERYONE)
        users, roles, everyone = self._parse_mentions(body.get("content") or "", channel.guild_id,
                                                      body.get("allowed_mentions"), extra_mentions,
                                                      can_mention_everyone=can_everyone)
        msg_flags = int(body.get("flags") or 0) if flags is None else flags
        if ephemeral:
            msg_flags |= FLAG_EPHEMERAL
        data: dict[str, Any] = {
            "id": str(mid), "channel_id": str(channel.id), "type": mtype, "content": body.get("content") or "",
            "author": self._user_payload(author), "attachments": attachments,
            "embeds": self._normalize_embeds(body.get("embeds") or []),
            "components": self._normalize_components(body.get("components") or []),
            "mentions": [self._user_payload(self.users[u]) for u in users],
            "mention_roles": [str(r) for r in roles], "mention_everyone": everyone, "pinned": False,
            "tts": bool(body.get("tts")), "timestamp": _iso(), "edited_timestamp": None, "flags": msg_flags,
        }
        if body.get("nonce") is not None:
            data["nonce"] = body["nonce"]
        if webhook:
            data["webhook_id"] = str(self.application_id)
            data["application_id"] = str(self.application_id)
        if interaction is not None:
            data["interaction_metadata"] = self._interaction_metadata(interaction)
            data["application_id"] = str(self.application_id)
            if interaction.type == 2:
                inner = interaction.payload.get("data", {})
                data["interaction"] = {"id": str(interaction.id), "type": 2, "name": inner.get("name", ""),
                                       "user": self._user_payload(self.users[interaction.user_id])}
        if referenced is not None:
            data["message_reference"] = {"type": 0, "channel_id": str(channel.id),
                                         "message_id": referenced.data["id"]}
            if channel.guild_id is not None:
                data["message_reference"]["guild_id"] = str(channel.guild_id)
            ref_copy = copy.deepcopy(referenced.data)
            ref_copy.pop("referenced_message", None)
            data["referenced_message"] = ref_copy
        stored = _StoredMessage(data, channel.guild_id, ephemeral,
                                interaction.id if interaction is not None else None)
        if not ephemeral:
            for u in users:
                if u != author.id:
                    self._pings.append((u, mid))
        return stored

    def _interaction_metadata(self, h: InteractionHandle) -> dict[str, Any]:
        owners = h.payload.get("authorizing_integration_owners", {})
        meta: dict[str, Any] = {"id": str(h.id), "type": h.type,
                                "user": self._user_payload(self.users[h.user_id]),
                                "authorizing_integration_owners": owners}
        if h.type == 2:
            meta["name"] = h.payload["data"].get("name", "")
            meta["command_type"] = h.payload["data"].get("type", 1)
        elif h.type == 3:
            meta["interacted_message_id"] = str(h.message_id)
        elif h.type == 5:
            trigger = h.payload.get("_trigger")
            meta["triggering_interaction_metadata"] = trigger or {
                "id": str(h.id), "type": 2, "user": self._user_payload(self.users[h.user_id]),
                "authorizing_integration_owners": owners}
        return meta

    def _apply_edit(self, stored: _StoredMessage, body: dict[str, Any], files: list[tuple[str, bytes, str]]
                    ) -> None:
        data = copy.deepcopy(stored.data)
        channel = self._channels[int(data["channel_id"])]
        where = (f"ephemeral-attachments/{self.application_id}" if stored.ephemeral else f"attachments/{channel.id}")
        if "content" in body:
            data["content"] = body["content"] or ""
            users, roles, everyone = self._parse_mentions(data["content"], stored.guild_id,
                                                          body.get("allowed_mentions"))
            data["mentions"] = [self._user_payload(self.users[u]) for u in users]
            data["mention_roles"] = [str(r) for r in roles]
            data["mention_everyone"] = everyone
        if "embeds" in body:
            data["embeds"] = self._normalize_embeds(body["embeds"] or [])
        if "components" in body:
            data["components"] = self._normalize_components(body["components"] or [])
        if "attachments" in body or files:
            data["attachments"] = self._attachments_from(body, files, data["attachments"], where=where,
                                                         ephemeral=stored.ephemeral)
        if body.get("flags") is not None:
            keep = data["flags"] & (FLAG_EPHEMERAL)
            data["flags"] = keep | (int(body["flags"]) & (FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
        data["flags"] &= ~FLAG_LOADING
        data["edited_timestamp"] = _iso()
        if not (data["content"] or data["embeds"] or data["components"] or data["attachments"]):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        stored.data.clear()
        stored.data.update(data)

    # ------------------------------------------------------------------ gateway

    def _dispatch(self, event: str, data: dict[str, Any] | None, *, intent: int | None = None,
                  build: Callable[[_Session], dict[str, Any]] | None = None, always_for_bot: bool = False,
                  sessions: list[_Session] | None = None) -> int:
        """Queue a DISPATCH for every live session that asked for `intent`; returns how many got it."""
        count = 0
        self.events.append((event, data if data is not None else {}))
        for session in sessions if sessions is not None else self._dispatch_targets():
            if intent is not None and not (session.intents & intent) and not always_for_bot:
                continue
            payload = build(session) if build is not None else data
            self._send_dispatch(session, event, payload)
            count += session.conn is not None and not session.conn.closed
        self._changed()
        return count

    def _send_dispatch(self, session: _Session, event: str, data: Any) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.buffer.append(frame)
        del session.buffer[:-500]
        if session.conn is not None:
            session.conn.send(frame)

    async def _flush(self) -> None:
        for conn in list(self._connections):
            await conn.flush()

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        self.gateway_queries.append(dict(request.query))
        conn = _Connection(ws, compress)
        self._connections.add(conn)
        conn.send({"op": 10, "s": None, "t": None,
                   "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000), "_trace": ["[\"emulator\"]"]}})
        if request.query.get("encoding", "json") != "json":
            conn.close(4002, "Error while decoding payload.")
        self._changed()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        conn.close(4002, "Error while decoding payload.")
                        continue
                    await self._on_gateway_message(conn, payload)
                elif msg.type == WSMsgType.BINARY:
                    conn.close(4002, "Error while decoding payload.")
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            code = conn.close_code if conn.close_code is not None else ws.close_code
            if code is not None:
                self.gateway_close_codes.append(int(code))
            await conn.flush(0.5)
            await conn.shutdown()
            self._connections.discard(conn)
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
                conn.session.disconnected_at = self.now()
                if not self.allow_resume:
                    self._sessions.pop(conn.session.id, None)
            self._changed()
        return ws

    async def _on_gateway_message(self, conn: _Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        d = payload.get("d")
        if op == 1:
            conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            await self._identify(conn, d or {})
        elif op == 6:
            await self._resume(conn, d or {})
        elif op == 3:
            self.last_presence = d
        elif op == 8:
            self._request_members(conn, d or {})
        elif op in (4, 31, 36, 37):
            pass  # voice / soundboard / etc: not emulated
        else:
            conn.close(4001, "Unknown opcode.")

    async def _identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if conn.session is not None:
            conn.close(4005, "Already authenticated.")
            return
        token = d.get("token") or ""
        token = token[4:] if token.startswith("Bot ") else token
        if not token or (self.token is not None and token != self.token):
            conn.close(4004, "Authentication failed.")
            return
        if "intents" not in d:
            conn.close(4013, "Invalid intent(s).")
            return
        intents = int(d["intents"])
        allowed = (
            (Intent.GUILD_MEMBERS if self.members_allowed else 0)
            | (Intent.GUILD_PRESENCES if self.presences_allowed else 0)
            | (Intent.MESSAGE_CONTENT if self.message_content_allowed else 0)
        )
        self.identify_count += 1
        self.last_identify = {k: v for k, v in d.items() if k != "token"}
        if intents & PRIVILEGED_INTENTS & ~int(allowed):
            conn.close(4014, "Disallowed intent(s).")
            self._changed()
            return
        self._expire_sessions()
        session = _Session(secrets.token_hex(16), intents, self.now(), conn=conn)
        self._sessions[session.id] = session
        conn.session = session
        shard = d.get("shard")
        ready: dict[str, Any] = {
            "v": API_VERSION, "user": self._me_payload(), "user_settings": {}, "relationships": [],
            "private_channels": [], "presences": [], "guild_join_requests": [],
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds.values()
                       if self.bot_user.id in g.members],
            "session_id": session.id, "session_type": "normal", "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "geo_ordered_rtc_regions": [], "_trace": ["[\"emulator\"]"],
        }
        if shard is not None:
            ready["shard"] = shard
        self._send_dispatch(session, "READY", ready)
        if intents & Intent.GUILDS:
            for g in self.guilds.values():
                if self.bot_user.id in g.members:
                    self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(g, session))
        self._changed()

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        self._expire_sessions()
        session = self._sessions.get(d.get("session_id") or "")
        if not self.allow_resume or session is None or (session.conn is not None and not session.conn.closed):
            if session is not None and not self.allow_resume:
                self._sessions.pop(session.id, None)
            conn.send({"op": 9, "s": None, "t": None, "d": False})
            return
        seq = int(d.get("seq") or 0)
        session.conn = conn
        session.disconnected_at = None
        conn.session = session
        self.resume_count += 1
        for frame in session.buffer:
            if frame["s"] > seq:
                conn.send(frame)
        self._send_dispatch(session, "RESUMED", {"_trace": ["[\"emulator\"]"]})
        self._changed()

    def _expire_sessions(self) -> None:
        now = self.now()
        for sid, s in list(self._sessions.items()):
            if (s.conn is None or s.conn.closed) and s.disconnected_at is not None \
                    and now - s.disconnected_at > self.resume_window:
                del self._sessions[sid]

    def _request_members(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            conn.close(4003, "Not authenticated.")
            return
        g = self.guilds.get(int(d.get("guild_id") or 0))
        if g is None:
            return
        members = list(g.members.values())
        if d.get("user_ids"):
            wanted = {int(u) for u in (d["user_ids"] if isinstance(d["user_ids"], list) else [d["user_ids"]])}
            members = [m for m in members if m.user_id in wanted]
        elif d.get("query"):
            q = d["query"].lower()
            members = [m for m in members if self.users[m.user_id].username.lower().startswith(q)]
        if d.get("limit"):
            members = members[: int(d["limit"])]
        chunk: dict[str, Any] = {"guild_id": str(g.id), "members": [self._member_payload(m) for m in members],
                                 "chunk_index": 0, "chunk_count": 1}
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    def _application_flags(self) -> int:
        return ((APP_FLAG_GATEWAY_MESSAGE_CONTENT if self.message_content_allowed else 0)
                | (APP_FLAG_GATEWAY_GUILD_MEMBERS if self.members_allowed else 0)
                | (APP_FLAG_GATEWAY_PRESENCE if self.presences_allowed else 0))

    async def disconnect_all(self, code: int = 4000, reason: str = "emulator disconnect") -> None:
        """Close every gateway connection with `code` (4000 → discord.py tries to RESUME)."""
        for conn in list(self._connections):
            conn.close(code, reason)
            await conn.flush()

    async def send_reconnect(self) -> None:
        """Op 7 RECONNECT to every connection."""
        for conn in list(self._connections):
            conn.send({"op": 7, "s": None, "t": None, "d": None})
            await conn.flush()

    async def wait_identified(self, count: int = 1, timeout: float = 5.0) -> None:
        """Until `count` IDENTIFYs were accepted and a session is live."""
        await self.wait_for(lambda: self.identify_count >= count and bool(self._live_sessions()),
                            timeout=timeout, what=f"IDENTIFY #{count}")

    # ------------------------------------------------------------------ waiting

    def _changed(self) -> None:
        event, self._change = self._change, asyncio.Event()
        event.set()

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0, *, what: str = "condition",
                       poll: float = 0.05) -> Any:
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

    async def wait_for_message(self, channel: Any, predicate: Callable[[dict[str, Any]], Any] | None = None,
                               timeout: float = 5.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for m in reversed(self.messages(channel)):
                if predicate is None or predicate(m):
                    return m
            return None

        return await self.wait_for(check, timeout=timeout, what=f"a message in channel {_id_of(channel)}")

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        rx = re.compile(path_regex)
        return [r for r in self.requests if (method == "*" or r.method == method.upper()) and rx.search(r.path)]

    async def wait_for_request(self, method: str, path_regex: str, timeout: float = 5.0) -> RecordedRequest:
        def last() -> RecordedRequest | None:
            found = self.requests_to(method, path_regex)
            return found[-1] if found else None

        return await self.wait_for(last, timeout=timeout, what=f"{method} {path_regex}")

    def inject_rest_error(self, method: str, path_regex: str, status: int, body: Any = None, *, times: int = 1,
                          headers: dict[str, str] | None = None) -> None:
        """The next `times` requests matching answer `status` (e.g. 500/503 hiccups, or 429)."""
        if body is None:
            if status == 429:
                body = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False, "code": 0}
            else:
                body = {"message": f"{status}: injected error", "code": 0}
        hdrs = dict(headers or {})
        if status == 429:
            hdrs.setdefault("Via", "1.1 google")
            hdrs.setdefault("Retry-After", str(body.get("retry_after", 1) if isinstance(body, dict) else 1))
        self._injected.append({"method": method.upper(), "rx": re.compile(path_regex), "status": status,
                               "body": body, "times": times, "headers": hdrs})

    @property
    def command_put_count(self) -> int:
        return sum(1 for r in self.command_writes if r.method == "PUT")

    @property
    def command_write_count(self) -> int:
        return len(self.command_writes)

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any], bool]]:
        return [(m, re.compile(p + "/?$"), getattr(self, h), auth) for m, p, h, auth in REST_ROUTES]

    async def _parse_body(self, request: web.Request) -> tuple[Any, list[tuple[str, bytes, str]], bool]:
        ctype = request.content_type
        if ctype == "multipart/form-data":
            payload: Any = None
            files: list[tuple[int, tuple[str, bytes, str]]] = []
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                name = getattr(part, "name", None) or ""
                if name == "payload_json":
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                    continue
                m = re.fullmatch(r"files\[(\d+)\]|file(\d*)", name)
                if m is None:
                    continue
                index = int(m.group(1) or m.group(2) or len(files))
                data = bytes(await part.read(decode=False))  # type: ignore[union-attr]
                part_type = part.headers.get("Content-Type", "application/octet-stream")
                files.append((index, (getattr(part, "filename", None) or f"file{index}", data, part_type)))
            files.sort(key=lambda x: x[0])
            return payload, [f for _, f in files], True
        raw = await request.read()
        if not raw:
            return None, [], False
        return json.loads(raw), [], False

    @staticmethod
    def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
        hdrs = dict(headers or {})
        if body is None or status == 204:
            return web.Response(status=status, headers=hdrs)
        # exactly 'application/json' (no charset): discord.py compares the header verbatim
        hdrs["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(body).encode(), headers=hdrs)

    async def _rest_entry(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        path = path.rstrip("/") or "/"
        method = request.method
        rec = RecordedRequest(method, path, dict(request.query), None, [], self.now(),
                              authorized="Authorization" in request.headers)
        try:
            try:
                rec.json, rec.files, rec.multipart = await self._parse_body(request)
            except ValueError:
                raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
            route = next(((h, m.groupdict(), auth) for meth, rx, h, auth in self._routes
                          if meth == method and (m := rx.match(path))), None)
            injected = next((i for i in self._injected if i["times"] > 0
                             and i["method"] in (method, "*") and i["rx"].search(path)), None)
            if injected is not None:
                injected["times"] -= 1
                rec.injected = True
                rec.status, rec.response = injected["status"], injected["body"]
                self._record(rec, validate_response=False, known=route is not None)
                if isinstance(rec.response, (dict, list)):
                    return self._json_response(rec.status, rec.response, injected["headers"])
                return web.Response(status=rec.status, text=str(rec.response or ""), headers=injected["headers"])
            if route is None:
                self.unhandled_requests.append(f"{method} {path}")
                raise DiscordError(404, 0, "404: Not Found")
            handler, params, needs_auth = route
            if needs_auth:
                self._check_auth(request)
            result = await handler(rec, **{k: v for k, v in params.items() if v is not None})
            status, body = result if isinstance(result, tuple) else (200, result)
        except DiscordError as e:
            status, body = e.status, e.body()
        rec.status, rec.response = status, body
        self._record(rec, validate_response=True, known=True)
        return self._json_response(status, body)

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or (self.token is not None and header[4:] != self.token):
            raise DiscordError(401, 0, "401: Unauthorized")

    def _record(self, rec: RecordedRequest, *, validate_response: bool, known: bool) -> None:
        self.requests.append(rec)
        if self.validate_spec and known:
            v = get_validator()
            problems = v.validate_request(rec.method, rec.path, rec.json, multipart=rec.multipart)
            if validate_response:
                problems += v.validate_response(rec.method, rec.path, rec.status or 0, rec.response)
            for p in problems:
                log.warning("spec violation: %s", p)
            self.spec_violations.extend(problems)
        self._changed()

    # ------------------------------------------------------------------ REST: gateway, users, application

    async def _r_gateway(self, rec: RecordedRequest) -> Any:
        return {"url": self.gateway_url}

    async def _r_gateway_bot(self, rec: RecordedRequest) -> Any:
        return {"url": self.gateway_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 1000 - self.identify_count,
                                        "reset_after": 86_400_000, "max_concurrency": 1}}

    async def _r_me(self, rec: RecordedRequest) -> Any:
        return self._me_payload()

    async def _r_user(self, rec: RecordedRequest, user_id: str) -> Any:
        user = self.users.get(int(user_id))
        if user is None:
            raise DiscordError(404, 10013, "Unknown User")
        return self._user_payload(user)

    async def _r_application(self, rec: RecordedRequest) -> Any:
        flags = self._application_flags()
        return {
            "id": str(self.application_id), "name": self.bot_user.username, "icon": None,
            "description": "", "type": None, "summary": "", "bot": self._user_payload(self.bot_user),
            "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64, "flags": flags,
            "flags_new": str(flags), "redirect_uris": [], "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": self._user_payload(self.owner if hasattr(self, "owner") else self.bot_user),
            "approximate_guild_count": len(self.guilds), "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0, "explicit_content_filter": 0, "team": None,
            "eligible_oauth2_scopes": [], "tags": [], "rpc_origins": [],
            "integration_types_config": {"0": {}},
        }

    async def _r_create_dm(self, rec: RecordedRequest) -> Any:
        recipient = (rec.json or {}).get("recipient_id")
        if recipient is None or int(recipient) not in self.users:
            raise _form_error("recipient_id", "USER_NOT_FOUND", "Unknown user")
        return self._channel_payload(self.dm_channel(int(recipient)))

    # ------------------------------------------------------------------ REST: channels, messages

    def _rest_channel(self, channel_id: str, *, need: int = Perm.VIEW_CHANNEL) -> Channel:
        cid = int(channel_id)
        ch = self._channels.get(cid)
        if ch is None or ch.deleted or cid in self._deleted_channels:
            raise DiscordError(404, 10003, "Unknown Channel")
        if ch.guild_id is not None:
            perms = self.permissions_for(self.bot_user, ch)
            if not perms & Perm.VIEW_CHANNEL:
                raise DiscordError(403, 50001, "Missing Access")
            if need & ~perms:
                raise DiscordError(403, 50013, "Missing Permissions")
        return ch

    def _rest_stored(self, ch: Channel, message_id: str) -> _StoredMessage:
        stored = self._messages.get(ch.id, {}).get(int(message_id))
        if stored is None or stored.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return stored

    async def _r_channel(self, rec: RecordedRequest, channel_id: str) -> Any:
        ch = self._rest_channel(channel_id)
        return self._channel_payload(ch)

    async def _r_list_messages(self, rec: RecordedRequest, channel_id: str) -> Any:
        ch = self._rest_channel(channel_id, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        limit = max(1, min(100, int(rec.query.get("limit", 50))))
        msgs = [m for m in self._messages.get(ch.id, {}).values() if not m.deleted]
        ids = [int(m.data["id"]) for m in msgs]
        if "before" in rec.query:
            msgs = [m for m, i in zip(msgs, ids, strict=True) if i < int(rec.query["before"])][-limit:]
        elif "after" in rec.query:
            msgs = [m for m, i in zip(msgs, ids, strict=True) if i > int(rec.query["after"])][:limit]
        elif "around" in rec.query:
            pivot = int(rec.query["around"])
            before = [m for m, i in zip(msgs, ids, strict=True) if i < pivot][-(limit // 2):]
            after = [m for m, i in zip(msgs, ids, strict=True) if i >= pivot][: limit - len(before)]
            msgs = before + after
        else:
            msgs = msgs[-limit:]
        return [self._rest_message(m) for m in reversed(msgs)]

    async def _r_get_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> Any:
        ch = self._rest_channel(channel_id, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        return self._rest_message(self._rest_stored(ch, message_id))

    async def _r_create_message(self, rec: RecordedRequest, channel_id: str) -> Any:
        ch = self._rest_channel(channel_id)
        body = rec.json or {}
        if ch.guild_id is not None:
            perms = self.permissions_for(self.bot_user, ch)
            if not perms & Perm.SEND_MESSAGES:
                raise DiscordError(403, 50013, "Missing Permissions")
            if body.get("embeds") and not perms & Perm.EMBED_LINKS:
                raise DiscordError(403, 50013, "Missing Permissions")
            if rec.files and not perms & Perm.ATTACH_FILES:
                raise DiscordError(403, 50013, "Missing Permissions")
            if body.get("message_reference") and not perms & Perm.READ_MESSAGE_HISTORY:
                raise DiscordError(403, 50013, "Missing Permissions")
        else:
            recipient = self.users[ch.recipient_id or 0]
            if recipient.refuses_dms or recipient.bot:
                raise DiscordError(403, 50007, "Cannot send messages to this user")
        self._check_message_body(body, file_count=len(rec.files), creating=True)
        self._check_upload_limit(rec.files, self.upload_limit(ch))
        stored = self._new_message(ch, self.bot_user, body, rec.files)
        self._save_message(stored)
        self._dispatch_message("MESSAGE_CREATE", stored)
        return self._rest_message(stored)

    async def _r_edit_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> Any:
        ch = self._rest_channel(channel_id)
        stored = self._rest_stored(ch, message_id)
        body = rec.json or {}
        if int(stored.data["author"]["id"]) != self.bot_user.id:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if ch.guild_id is not None:
            perms = self.permissions_for(self.bot_user, ch)
            if body.get("embeds") and not perms & Perm.EMBED_LINKS:
                raise DiscordError(403, 50013, "Missing Permissions")
            if rec.files and not perms & Perm.ATTACH_FILES:
                raise DiscordError(403, 50013, "Missing Permissions")
        self._check_message_body(body, file_count=len(rec.files), creating=False)
        self._check_upload_limit(rec.files, self.upload_limit(ch))
        self._apply_edit(stored, body, rec.files)
        self._dispatch_message("MESSAGE_UPDATE", stored)
        return self._rest_message(stored)

    async def _r_delete_message(self, rec: RecordedRequest, channel_id: str, message_id: str) -> Any:
        ch = self._rest_channel(channel_id)
        stored = self._rest_stored(ch, message_id)
        if (int(stored.data["author"]["id"]) != self.bot_user.id and ch.guild_id is not None
                and not self.permissions_for(self.bot_user, ch) & Perm.MANAGE_MESSAGES):
            raise DiscordError(403, 50013, "Missing Permissions")
        self._delete_stored(stored)
        return 204, None

    def _delete_stored(self, stored: _StoredMessage) -> None:
        stored.deleted = True
        if not stored.ephemeral:
            data = {"id": stored.data["id"], "channel_id": stored.data["channel_id"]}
            if stored.guild_id is not None:
                data["guild_id"] = str(stored.guild_id)
            intent = Intent.GUILD_MESSAGES if stored.guild_id is not None else Intent.DIRECT_MESSAGES
            self._dispatch("MESSAGE_DELETE", data, intent=intent)

    async def _r_reaction(self, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> Any:
        ch = self._rest_channel(channel_id, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        stored = self._rest_stored(ch, message_id)
        name = unquote(emoji)
        reactions = stored.data.setdefault("reactions", [])
        existing = next((r for r in reactions if r["emoji"]["name"] == name), None)
        if rec.method == "PUT":
            if ch.guild_id is not None and not self.permissions_for(self.bot_user, ch) & Perm.ADD_REACTIONS \
                    and existing is None:
                raise DiscordError(403, 50013, "Missing Permissions")
            if existing is None:
                reactions.append({"emoji": {"id": None, "name": name}, "count": 1, "me": True, "me_burst": False,
                                  "burst_colors": [], "burst_count": 0,
                                  "count_details": {"burst": 0, "normal": 1}})
            elif not existing["me"]:
                existing["me"] = True
                existing["count"] += 1
        elif existing is not None and existing["me"]:
            existing["me"] = False
            existing["count"] -= 1
            if existing["count"] <= 0:
                reactions.remove(existing)
        self._changed()
        return 204, None

    async def _r_typing(self, rec: RecordedRequest, channel_id: str) -> Any:
        self._rest_channel(channel_id, need=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
        return 204, None

    # ------------------------------------------------------------------ REST: guilds

    def _rest_guild(self, guild_id: str) -> Guild:
        g = self.guilds.get(int(guild_id))
        if g is None or self.bot_user.id not in g.members:
            raise DiscordError(404, 10004, "Unknown Guild")
        return g

    async def _r_guild(self, rec: RecordedRequest, guild_id: str) -> Any:
        g = self._rest_guild(guild_id)
        payload = self._guild_payload(g)
        if rec.query.get("with_counts", "").lower() in ("1", "true"):
            payload["approximate_member_count"] = len(g.members)
            payload["approximate_presence_count"] = 0
        return payload

    async def _r_guild_channels(self, rec: RecordedRequest, guild_id: str) -> Any:
        g = self._rest_guild(guild_id)
        return [self._channel_payload(c) for c in g.channels.values()]

    async def _r_guild_roles(self, rec: RecordedRequest, guild_id: str) -> Any:
        g = self._rest_guild(guild_id)
        return [self._role_payload(r) for r in g.roles.values()]

    async def _r_member(self, rec: RecordedRequest, guild_id: str, user_id: str) -> Any:
        g = self._rest_guild(guild_id)
        m = g.members.get(int(user_id))
        if m is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return self._member_payload(m)

    # ------------------------------------------------------------------ REST: application commands

    def _command_scope(self, app_id: str, guild_id: str | None) -> list[dict[str, Any]]:
        if int(app_id) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if guild_id is None:
            return self.global_commands
        g = self._rest_guild(guild_id)
        return self.guild_commands.setdefault(g.id, [])

    def _normalize_command(self, body: dict[str, Any], guild_id: str | None, previous: dict[str, Any] | None
                           ) -> dict[str, Any]:
        ctype = int(body.get("type") or 1)
        name = body.get("name") or ""
        if not name or len(name) > 32:
            raise _form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if ctype == 1 and (not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower()):
            raise _form_error("name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        description = body.get("description") or ""
        if ctype == 1 and not 1 <= len(description) <= 100:
            raise _form_error("description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        cmd: dict[str, Any] = {
            "type": ctype, "name": name, "description": description if ctype == 1 else "",
            # discord.py sends a number; Discord stores and answers it as a string.
            "default_member_permissions": None if (perms := body.get("default_member_permissions")) is None
            else str(perms),
            "dm_permission": body["dm_permission"] if body.get("dm_permission") is not None else True,
            "contexts": body.get("contexts"), "integration_types": body.get("integration_types") or [0],
            "nsfw": bool(body.get("nsfw", False)),
            "name_localizations": body.get("name_localizations"),
            "description_localizations": body.get("description_localizations"),
        }
        if body.get("options"):
            cmd["options"] = copy.deepcopy(body["options"])
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        definition = json.dumps(cmd, sort_keys=True)
        if previous is not None and previous.get("_definition") == definition:
            return previous
        cmd["id"] = previous["id"] if previous else str(new_snowflake())
        cmd["application_id"] = str(self.application_id)
        cmd["version"] = str(new_snowflake())
        cmd["_definition"] = definition
        return cmd

    @staticmethod
    def _public_command(cmd: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in cmd.items() if not k.startswith("_")}

    async def _r_list_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> Any:
        return [self._public_command(c) for c in self._command_scope(app_id, guild_id)]

    async def _r_put_commands(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> Any:
        scope = self._command_scope(app_id, guild_id)
        body = rec.json or []
        if len(body) > 100:
            raise DiscordError(400, 30032, "Maximum number of application commands reached (100)")
        by_key = {(c["name"], c["type"]): c for c in scope}
        new = []
        seen: set[tuple[str, int]] = set()
        for i, item in enumerate(body):
            key = (item.get("name"), int(item.get("type") or 1))
            if key in seen:
                raise _form_error(f"{i}.name", "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                  f"Application command names must be unique: {key[0]}")
            seen.add(key)
            new.append(self._normalize_command(item, guild_id, by_key.get(key)))
        scope[:] = new
        self.command_writes.append(rec)
        return [self._public_command(c) for c in scope]

    async def _r_post_command(self, rec: RecordedRequest, app_id: str, guild_id: str | None = None) -> Any:
        scope = self._command_scope(app_id, guild_id)
        body = rec.json or {}
        key = (body.get("name"), int(body.get("type") or 1))
        previous = next((c for c in scope if (c["name"], c["type"]) == key), None)
        cmd = self._normalize_command(body, guild_id, previous)
        if previous is not None:
            scope[scope.index(previous)] = cmd
        else:
            scope.append(cmd)
        self.command_writes.append(rec)
        return (200 if previous else 201), self._public_command(cmd)

    def _find_scoped_command(self, scope: list[dict[str, Any]], command_id: str) -> dict[str, Any]:
        cmd = next((c for c in scope if c["id"] == command_id), None)
        if cmd is None:
            raise DiscordError(404, 10063, "Unknown application command")
        return cmd

    async def _r_get_command(self, rec: RecordedRequest, app_id: str, command_id: str,
                             guild_id: str | None = None) -> Any:
        return self._public_command(self._find_scoped_command(self._command_scope(app_id, guild_id), command_id))

    async def _r_patch_command(self, rec: RecordedRequest, app_id: str, command_id: str,
                               guild_id: str | None = None) -> Any:
        scope = self._command_scope(app_id, guild_id)
        cmd = self._find_scoped_command(scope, command_id)
        merged = {**self._public_command(cmd), **(rec.json or {})}
        new = self._normalize_command(merged, guild_id, cmd)
        scope[scope.index(cmd)] = new
        self.command_writes.append(rec)
        return self._public_command(new)

    async def _r_delete_command(self, rec: RecordedRequest, app_id: str, command_id: str,
                                guild_id: str | None = None) -> Any:
        scope = self._command_scope(app_id, guild_id)
        scope.remove(self._find_scoped_command(scope, command_id))
        self.command_writes.append(rec)
        return 204, None

    # ------------------------------------------------------------------ REST: interactions and webhooks

    # interaction type -> callback types Discord accepts for it
    _CALLBACKS_ALLOWED: ClassVar[dict[int, frozenset[int]]] = {
        1: frozenset({1}), 2: frozenset({4, 5, 9, 12}), 3: frozenset({4, 5, 6, 7, 9, 12}), 4: frozenset({8}),
        5: frozenset({4, 5, 6, 7}),
    }

    async def _r_callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> Any:
        h = self._interactions_by_id.get(int(interaction_id))
        body = rec.json or {}
        cb_type = body.get("type")
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        attempt = CallbackRecord(cb_type, copy.deepcopy(data), flags, bool(flags & FLAG_EPHEMERAL), rec.files,
                                 self.now(), 0)
        try:
            if h is None or not secrets.compare_digest(h.token, token):
                raise DiscordError(404, 10062, "Unknown interaction")
            if h.acknowledged:
                raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
            if self.now() - h.dispatched_at > self.ack_deadline:
                raise DiscordError(404, 10062, "Unknown interaction")
            if cb_type not in self._CALLBACKS_ALLOWED.get(h.type, frozenset()) or (
                    cb_type in (6, 7) and h.message_id is None):
                raise _form_error("type", "INTERACTION_RESPONSE_TYPE_INVALID",
                                  "Interaction response type is not valid for this interaction")
            resource = self._apply_callback(h, cb_type, data, rec.files)
        except DiscordError as e:
            attempt.status, attempt.error_code = e.status, e.code
            if h is not None:
                h.callbacks.append(attempt)
            raise
        attempt.status = 200
        if cb_type in (6, 7) and h.message_id is not None:
            h.original_id = h.message_id
        h.callbacks.append(attempt)
        self._changed()
        if rec.query.get("with_response", "").lower() not in ("1", "true"):
            return 204, None
        interaction: dict[str, Any] = {"id": str(h.id), "type": h.type}
        if h.original_id is not None and cb_type in (4, 5, 7):
            original = self._message_index[h.original_id]
            interaction["response_message_id"] = str(h.original_id)
            interaction["response_message_loading"] = cb_type == 5
            interaction["response_message_ephemeral"] = original.ephemeral
        out: dict[str, Any] = {"interaction": interaction}
        if resource is not None:
            out["resource"] = resource
        return out

    def _apply_callback(self, h: InteractionHandle, cb_type: int, data: dict[str, Any],
                        files: list[tuple[str, bytes, str]]) -> dict[str, Any] | None:
        channel = self._channels[h.channel_id]
        if cb_type in (4, 5):
            flags = int(data.get("flags") or 0)
            ephemeral = bool(flags & FLAG_EPHEMERAL)
            if cb_type == 4:
                self._check_message_body(data, file_count=len(files), creating=True)
                self._check_upload_limit(files, h.payload["attachment_size_limit"])
                body = data
            else:
                body, files = {}, []
            mtype = self._response_message_type(h)
            stored = self._new_message(channel, self.bot_user, body, files, ephemeral=ephemeral, webhook=True,
                                       mtype=mtype, interaction=h,
                                       flags=(flags & ~FLAG_EPHEMERAL) | (FLAG_LOADING if cb_type == 5 else 0))
            self._save_message(stored)
            h.original_id = int(stored.data["id"])
            if cb_type == 4:
                h.timeline.append(copy.deepcopy(stored.data))
            self._dispatch_message("MESSAGE_CREATE", stored)
            return {"type": cb_type, "message": self._rest_message(stored)} if cb_type == 4 else None
        if cb_type == 7:
            target = self._message_index[h.message_id or 0]
            self._check_message_body(data, file_count=len(files), creating=False)
            self._check_upload_limit(files, h.payload["attachment_size_limit"])
            self._apply_edit(target, data, files)
            h.timeline.append(copy.deepcopy(target.data))
            self._dispatch_message("MESSAGE_UPDATE", target)
            return {"type": 7, "message": self._rest_message(target)}
        if cb_type == 8:
            choices = data.get("choices") or []
            if len(choices) > 25:
                raise _form_error("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for i, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name", ""))) <= 100:
                    raise _form_error(f"data.choices.{i}.name", "BASE_TYPE_BAD_LENGTH",
                                      "Must be between 1 and 100 in length.")
            h.choices = copy.deepcopy(choices)
            return None
        if cb_type == 9:
            if not 1 <= len(data.get("title") or "") <= 45:
                raise _form_error("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
            if not 1 <= len(data.get("components") or []) <= 5:
                raise _form_error("data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
            h.modal = copy.deepcopy(data)
            return None
        return None  # 1 pong, 6 deferred update, 12 launch activity

    @staticmethod
    def _response_message_type(h: InteractionHandle) -> int:
        if h.type == 2:
            return 23 if h.payload.get("data", {}).get("type", 1) in (2, 3) else 20
        return 0

    def _webhook_handle(self, app_id: str, token: str) -> InteractionHandle:
        h = self._interactions_by_token.get(token)
        if h is None or int(app_id) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if self.now() - h.dispatched_at > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not h.acknowledged:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return h

    def _webhook_message(self, h: InteractionHandle, message_id: str) -> _StoredMessage:
        mid = h.original_id if message_id == "@original" else int(message_id)
        if mid is None or (mid != h.original_id and mid not in h.followup_ids):
            raise DiscordError(404, 10008, "Unknown Message")
        stored = self._message_index.get(mid)
        if stored is None or stored.deleted:
            raise DiscordError(404, 10008, "Unknown Message")
        return stored

    async def _r_followup(self, rec: RecordedRequest, app_id: str, token: str) -> Any:
        h = self._webhook_handle(app_id, token)
        body = rec.json or {}
        h.followup_bodies.append(copy.deepcopy(body))
        self._check_message_body(body, file_count=len(rec.files), creating=True)
        self._check_upload_limit(rec.files, h.payload["attachment_size_limit"])
        original = self._message_index.get(h.original_id or 0)
        if original is not None and original.data["flags"] & FLAG_LOADING:
            # Discord: the first followup after a DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE edits the loading
            # message; its ephemerality stays what the defer chose.
            self._apply_edit(original, {k: v for k, v in body.items() if k != "flags"}, rec.files)
            stored = original
            h.followup_ids.append(int(stored.data["id"]))
            self._dispatch_message("MESSAGE_UPDATE", stored)
        else:
            flags = int(body.get("flags") or 0)
            channel = self._channels[h.channel_id]
            stored = self._new_message(channel, self.bot_user, body, rec.files,
                                       ephemeral=bool(flags & FLAG_EPHEMERAL), webhook=True,
                                       mtype=self._response_message_type(h), interaction=h,
                                       flags=flags & ~FLAG_EPHEMERAL)
            self._save_message(stored)
            h.followup_ids.append(int(stored.data["id"]))
            self._dispatch_message("MESSAGE_CREATE", stored)
        h.timeline.append(copy.deepcopy(stored.data))
        self._changed()
        if rec.query.get("wait", "").lower() in ("1", "true"):
            return self._rest_message(stored)
        return 204, None

    async def _r_webhook_get(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> Any:
        h = self._webhook_handle(app_id, token)
        return self._rest_message(self._webhook_message(h, message_id))

    async def _r_webhook_edit(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> Any:
        h = self._webhook_handle(app_id, token)
        stored = self._webhook_message(h, message_id)
        body = rec.json or {}
        self._check_message_body(body, file_count=len(rec.files), creating=False)
        self._check_upload_limit(rec.files, h.payload["attachment_size_limit"])
        self._apply_edit(stored, body, rec.files)
        if message_id == "@original":
            h.edits.append(copy.deepcopy(body))
        h.timeline.append(copy.deepcopy(stored.data))
        self._dispatch_message("MESSAGE_UPDATE", stored)
        return self._rest_message(stored)

    async def _r_webhook_delete(self, rec: RecordedRequest, app_id: str, token: str, message_id: str) -> Any:
        h = self._webhook_handle(app_id, token)
        self._delete_stored(self._webhook_message(h, message_id))
        self._changed()
        return 204, None

    # ------------------------------------------------------------------ CDN

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        self.cdn_requests.append(request.path)
        self._changed()
        try:
            f = self._files[int(request.match_info["b"])]
        except (KeyError, ValueError):
            return web.Response(status=404, text="Not Found")
        expires = request.query.get("ex")
        # the url carries a wall-clock expiry; the emulator clock offset moves it like time passing
        if (expires is not None and self.cdn_url_lifetime is not None
                and int(expires, 16) < time.time() + self._clock_offset):
            return web.Response(status=404, text="This content is no longer available.")
        return web.Response(body=f.data, headers={"Content-Type": f.content_type})

    # ------------------------------------------------------------------ injecting user actions

    def _context(self, user: Any, channel: Any) -> tuple[User, Channel, Guild | None]:
        u = self._user(user if user is not None else self.default_user)
        ch = self._channel(channel if channel is not None else self.channel)
        if ch.deleted:
            raise ValueError(f"channel {ch.id} was deleted")
        g = self.guilds[ch.guild_id] if ch.guild_id is not None else None
        if g is not None and u.id not in g.members:
            raise ValueError(f"user {u.username} is not a member of guild {g.name}")
        if g is None and ch.recipient_id != u.id:
            raise ValueError(f"channel {ch.id} is the DM of another user")
        return u, ch, g

    def _interaction_envelope(self, itype: int, data: dict[str, Any] | None, u: User, ch: Channel,
                              g: Guild | None, *, message: dict[str, Any] | None = None,
                              locale: str = "en-US") -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(new_snowflake()), "application_id": str(self.application_id), "type": itype,
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48), "version": 1, "locale": locale,
            "entitlements": [], "entitlement_sku_ids": [],
            "attachment_size_limit": self.upload_limit(g if g is not None else ch),
            "app_permissions": str(self.permissions_for(self.bot_user, ch)),
            "channel_id": str(ch.id), "channel": {**self._channel_payload(ch),
                                                  "permissions": str(self.permissions_for(u, ch))},
        }
        if data is not None:
            payload["data"] = data
        if g is not None:
            payload["guild_id"] = str(g.id)
            payload["guild"] = {"id": str(g.id), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["member"] = self._member_payload(g.members[u.id], channel=ch)
            payload["authorizing_integration_owners"] = {"0": str(g.id)}
            payload["context"] = 0
        else:
            payload["user"] = self._user_payload(u)
            payload["authorizing_integration_owners"] = {"0": "0"}
            payload["context"] = 1
        if message is not None:
            payload["message"] = message
        return payload

    async def _deliver(self, payload: dict[str, Any], u: User, ch: Channel, g: Guild | None,
                       message_id: int | None = None) -> InteractionHandle:
        h = InteractionHandle(self, payload, user_id=u.id, channel_id=ch.id, guild_id=g.id if g else None,
                              message_id=message_id)
        self.interactions.append(h)
        self._interactions_by_id[h.id] = h
        self._interactions_by_token[h.token] = h
        # Discord delivers an interaction to one session: the newest live one.
        sessions = sorted(self._live_sessions(), key=lambda s: s.identified_at)[-1:]
        public = {k: v for k, v in payload.items() if not k.startswith("_")}
        h.delivered = self._dispatch("INTERACTION_CREATE", public, sessions=sessions) > 0
        h.dispatched_at = self.now()
        await self._flush()
        return h

    def find_command(self, name: str, *, ctype: int = 1, guild: Any = None) -> dict[str, Any]:
        """The registered command `name` (guild commands of `guild` first, then global)."""
        scopes: list[list[dict[str, Any]]] = []
        if guild is not None:
            scopes.append(self.guild_commands.get(_id_of(guild), []))
        scopes.append(self.global_commands)
        for scope in scopes:
            for cmd in scope:
                if cmd["name"] == name and cmd["type"] == ctype:
                    return cmd
        registered = [c["name"] for s in scopes for c in s]
        raise LookupError(f"no registered command {name!r} of type {ctype} (registered: {registered})")

    def _resolve_option(self, d: dict[str, Any], value: Any, resolved: dict[str, dict[str, Any]],
                        g: Guild | None, ch: Channel, *, focused: bool, validate: bool) -> dict[str, Any]:
        t = d["type"]
        out: dict[str, Any] = {"name": d["name"], "type": t}
        if focused:
            out["value"] = value if isinstance(value, str) else str(value)
            out["focused"] = True
            return out
        if t == 3:
            value = str(value)
            if validate and not (d.get("min_length", 0) <= len(value) <= d.get("max_length", 6000)):
                raise ValueError(f"option {d['name']}: length {len(value)} outside the command's limits")
        elif t == 4:
            if isinstance(value, bool) or int(value) != value:
                raise ValueError(f"option {d['name']} is an INTEGER, got {value!r}")
            value = int(value)
        elif t == 5:
            value = bool(value)
        elif t == 10:
            value = float(value) if not isinstance(value, int) else value
        if t in (4, 10) and validate and (("min_value" in d and value < d["min_value"])
                                          or ("max_value" in d and value > d["max_value"])):
            raise ValueError(f"option {d['name']}: {value} outside [{d.get('min_value')}, {d.get('max_value')}]")
        if t in (3, 4, 10) and validate and d.get("choices") and value not in [c["value"] for c in d["choices"]]:
            raise ValueError(f"option {d['name']}: {value!r} is not one of the command's choices")
        if t in (6, 9) and not (t == 9 and g is not None and _id_of(value) in g.roles):
            u = self._user(value)
            resolved.setdefault("users", {})[str(u.id)] = self._user_payload(u)
            if g is not None and u.id in g.members:
                m = self._member_payload(g.members[u.id], with_user=False, channel=ch)
                resolved.setdefault("members", {})[str(u.id)] = m
            value = str(u.id)
        elif t in (8, 9):
            assert g is not None, "role options need a guild"
            r = g.roles[_id_of(value)]
            resolved.setdefault("roles", {})[str(r.id)] = self._role_payload(r)
            value = str(r.id)
        elif t == 7:
            c = self._channel(value)
            resolved.setdefault("channels", {})[str(c.id)] = {
                "id": str(c.id), "name": c.name, "type": c.type, "permissions": str(ALL_PERMISSIONS),
                "parent_id": None, "flags": 0}
            value = str(c.id)
        elif t == 11:
            filename, data, ctype = value
            f = self._store_file(filename, data, ctype, where=f"ephemeral-attachments/{self.application_id}",
                                 ephemeral=True)
            resolved.setdefault("attachments", {})[str(f.id)] = self._attachment_payload(f)
            value = str(f.id)
        out["value"] = value
        return out

    def _build_options(self, cmd: dict[str, Any], options: dict[str, Any] | None, subcommand: Any,
                       attachments: Sequence[tuple[str, bytes, str]], g: Guild | None, ch: Channel,
                       resolved: dict[str, dict[str, Any]], *, focused: str | None = None,
                       validate: bool = True) -> list[dict[str, Any]]:
        defs = cmd.get("options") or []
        path: list[str] = []
        if subcommand:
            path = subcommand.split() if isinstance(subcommand, str) else list(subcommand)
        wrappers: list[dict[str, Any]] = []
        for part in path:
            d = next((o for o in defs if o["name"] == part and o["type"] in (1, 2)), None)
            if d is None:
                raise ValueError(f"{cmd['name']} has no subcommand (group) {part!r}")
            wrappers.append({"name": part, "type": d["type"], "options": []})
            defs = d.get("options") or []
        if any(o["type"] in (1, 2) for o in defs):
            raise ValueError(f"{cmd['name']} is a group: pass subcommand=")
        values = dict(options or {})
        pending_files = list(attachments)
        for d in defs:
            if d["type"] == 11 and d["name"] not in values and pending_files:
                values[d["name"]] = pending_files.pop(0)
        if pending_files:
            raise ValueError(f"{len(pending_files)} attachment(s) left over: the command has no more ATTACHMENT options")
        built = []
        by_name = {d["name"]: d for d in defs}
        for name, value in values.items():
            if name not in by_name:
                raise ValueError(f"{cmd['name']} has no option {name!r} (has: {list(by_name)})")
            built.append(self._resolve_option(by_name[name], value, resolved, g, ch,
                                              focused=name == focused, validate=validate))
        if validate and focused is None:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"required option(s) missing: {missing}")
        # Discord sends options in the command's declaration order
        order = {d["name"]: i for i, d in enumerate(defs)}
        built.sort(key=lambda o: order[o["name"]])
        for wrapper in reversed(wrappers):
            wrapper["options"] = built
            built = [wrapper]
        return built

    async def slash_command(self, name: str, options: dict[str, Any] | None = None, *, user: Any = None,
                            channel: Any = None, subcommand: Any = None,
                            attachments: Sequence[tuple[str, bytes, str]] = (), locale: str = "en-US",
                            validate: bool = True) -> InteractionHandle:
        """A member runs /name. Option values are typed after the REGISTERED command's option types;
        ATTACHMENT options take (filename, bytes, content_type), or are filled from `attachments` in order."""
        u, ch, g = self._context(user, channel)
        cmd = self.find_command(name, ctype=1, guild=g)
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._build_options(cmd, options, subcommand, attachments, g, ch, resolved, validate=validate)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1}
        if opts:
            data["options"] = opts
        if resolved:
            data["resolved"] = resolved
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._deliver(self._interaction_envelope(2, data, u, ch, g, locale=locale), u, ch, g)

    async def autocomplete(self, name: str, options: dict[str, Any] | None = None, *, focused: str,
                           user: Any = None, channel: Any = None, subcommand: Any = None,
                           timeout: float = 5.0) -> list[dict[str, Any]]:
        u, ch, g = self._context(user, channel)
        cmd = self.find_command(name, ctype=1, guild=g)
        values = dict(options or {})
        values.setdefault(focused, "")
        opts = self._build_options(cmd, values, subcommand, (), g, ch, {}, focused=focused, validate=False)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1, "options": opts}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        h = await self._deliver(self._interaction_envelope(4, data, u, ch, g), u, ch, g)
        record = await h.wait_response(timeout)
        if not record.accepted:
            raise AssertionError(f"autocomplete answer rejected: {record.status} {record.error_code}")
        return h.choices or []

    async def message_context_menu(self, name: str, target_message: Any, *, user: Any = None,
                                   channel: Any = None) -> InteractionHandle:
        stored = self._message_index[_id_of(target_message)]
        if channel is None:
            channel = int(stored.data["channel_id"])
        u, ch, g = self._context(user, channel)
        cmd = self.find_command(name, ctype=3, guild=g)
        target = copy.deepcopy(stored.data)
        if g is not None:
            target["guild_id"] = str(g.id)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 3, "target_id": stored.data["id"],
                                "resolved": {"messages": {stored.data["id"]: target}}}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._deliver(self._interaction_envelope(2, data, u, ch, g), u, ch, g)

    async def user_context_menu(self, name: str, target_user: Any, *, user: Any = None,
                                channel: Any = None) -> InteractionHandle:
        u, ch, g = self._context(user, channel)
        cmd = self.find_command(name, ctype=2, guild=g)
        t = self._user(target_user)
        resolved: dict[str, Any] = {"users": {str(t.id): self._user_payload(t)}}
        if g is not None and t.id in g.members:
            resolved["members"] = {str(t.id): self._member_payload(g.members[t.id], with_user=False, channel=ch)}
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 2, "target_id": str(t.id),
                                "resolved": resolved}
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._deliver(self._interaction_envelope(2, data, u, ch, g), u, ch, g)

    def _component_message(self, message: Any) -> _StoredMessage:
        stored = self._message_index.get(_id_of(message))
        if stored is None or stored.deleted:
            raise KeyError(f"unknown message {message!r}")
        return stored

    async def _component_interaction(self, message: Any, custom_id: str, user: Any, component_types: set[int],
                                     extra: dict[str, Any]) -> InteractionHandle:
        stored = self._component_message(message)
        comp = next((c for c in _walk_components(stored.data.get("components") or [])
                     if c.get("custom_id") == custom_id), None)
        if comp is None:
            ids = [c.get("custom_id") for c in _walk_components(stored.data.get("components") or [])]
            raise LookupError(f"message {stored.data['id']} has no component {custom_id!r} (has {ids})")
        if comp["type"] not in component_types:
            raise TypeError(f"component {custom_id!r} is of type {comp['type']}")
        if comp.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled: a user cannot click it")
        u, ch, g = self._context(user, int(stored.data["channel_id"]))
        data = {"custom_id": custom_id, "component_type": comp["type"], "id": comp.get("id"), **extra}
        msg = copy.deepcopy(stored.data)
        if g is not None:
            msg["guild_id"] = str(g.id)
        payload = self._interaction_envelope(3, data, u, ch, g, message=msg)
        return await self._deliver(payload, u, ch, g, message_id=int(stored.data["id"]))

    async def click_button(self, message: Any, custom_id: str, *, user: Any = None) -> InteractionHandle:
        return await self._component_interaction(message, custom_id, user, {2}, {})

    async def select_option(self, message: Any, custom_id: str, values: Sequence[str], *, user: Any = None
                            ) -> InteractionHandle:
        return await self._component_interaction(message, custom_id, user, {3, 5, 6, 7, 8},
                                                 {"values": list(values)})

    async def submit_modal(self, handle: InteractionHandle, values: dict[str, Any], *, user: Any = None
                           ) -> InteractionHandle:
        """Submit the modal the bot opened in answer to `handle`, mirroring its component tree."""
        if handle.modal is None:
            raise ValueError(f"interaction {handle.id} was not answered with a modal (callbacks: "
                             f"{[(c.type, c.status) for c in handle.callbacks]})")
        modal = handle.modal
        remaining = dict(values)
        resolved: dict[str, Any] = {}

        def submit(comp: dict[str, Any]) -> dict[str, Any]:
            t = comp["type"]
            if t == 1:
                return {"type": 1, "id": comp.get("id"), "components": [submit(c) for c in comp["components"]]}
            if t == 18:
                return {"type": 18, "id": comp.get("id"), "component": submit(comp["component"])}
            if t == 10:
                return {"type": 10, "id": comp.get("id")}
            cid = str(comp.get("custom_id"))
            out: dict[str, Any] = {"type": t, "id": comp.get("id"), "custom_id": cid}
            given = remaining.pop(cid, None)
            required = comp.get("required", True)
            if t == 4:
                value = given if given is not None else comp.get("value", "")
                if required and not value:
                    raise ValueError(f"text input {cid!r} is required")
                if value and not (comp.get("min_length", 0) <= len(value) <= comp.get("max_length", 4000)):
                    raise ValueError(f"text input {cid!r}: length {len(value)} outside its limits")
                out["value"] = value
            elif t == 3:
                chosen = [given] if isinstance(given, str) else list(given or [
                    o["value"] for o in comp.get("options", []) if o.get("default")])
                allowed = [o["value"] for o in comp.get("options", [])]
                bad = [v for v in chosen if v not in allowed]
                if bad:
                    raise ValueError(f"select {cid!r}: {bad} not among its options {allowed}")
                lo, hi = comp.get("min_values", 1), comp.get("max_values", 1)
                # an optional select may be left empty; min/max bound a selection that is made
                if (chosen or required) and not lo <= len(chosen) <= hi:
                    raise ValueError(f"select {cid!r}: {len(chosen)} value(s) outside [{lo}, {hi}]")
                out["values"] = chosen
            elif t in (5, 6, 7, 8):
                out["values"] = [str(_id_of(v)) for v in (given or [])]
            elif t == 19:
                ids = []
                for filename, data, ctype in given or []:
                    f = self._store_file(filename, data, ctype,
                                         where=f"ephemeral-attachments/{self.application_id}", ephemeral=True)
                    resolved.setdefault("attachments", {})[str(f.id)] = self._attachment_payload(f)
                    ids.append(str(f.id))
                out["values"] = ids
            elif t == 21:
                out["value"] = given
            elif t == 22:
                out["values"] = list(given or [])
            elif t == 23:
                out["value"] = bool(given)
            return out

        components = [submit(c) for c in modal["components"]]
        if remaining:
            raise KeyError(f"modal {modal.get('custom_id')!r} has no inputs {sorted(remaining)}")
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if resolved:
            data["resolved"] = resolved
        u, ch, g = self._context(user if user is not None else handle.user_id, handle.channel_id)
        message = None
        if handle.message_id is not None:
            message = copy.deepcopy(self._message_index[handle.message_id].data)
            if g is not None:
                message["guild_id"] = str(g.id)
        payload = self._interaction_envelope(5, data, u, ch, g, message=message)
        payload["_trigger"] = self._interaction_metadata(handle)
        return await self._deliver(payload, u, ch, g, message_id=handle.message_id)

    async def post_message(self, channel: Any = None, author: Any = None, content: str = "", *,
                           attachments: Sequence[tuple[str, bytes, str]] = (), reference: Any = None,
                           mentions: Iterable[Any] = (), embeds: Sequence[dict[str, Any]] = (),
                           mention_author: bool = True) -> dict[str, Any]:
        """A user posts in a channel (or a DM: pass the User or its DM channel). Dispatches MESSAGE_CREATE."""
        u = self._user(author if author is not None else self.default_user)
        ch = self._channel(channel if channel is not None else self.channel)
        if ch.guild_id is not None and u.id not in self.guilds[ch.guild_id].members:
            raise ValueError(f"{u.username} is not a member of the channel's guild")
        body: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        extra = [_id_of(m) for m in mentions]
        if reference is not None:
            body["message_reference"] = {"message_id": str(_id_of(reference))}
            body["allowed_mentions"] = {"parse": ["users", "roles", "everyone"], "replied_user": mention_author}
        stored = self._new_message(ch, u, body, list(attachments))
        if extra:
            users = [int(x["id"]) for x in stored.data["mentions"]]
            for uid in extra:
                if uid not in users:
                    stored.data["mentions"].append(self._user_payload(self.users[uid]))
                    self._pings.append((uid, int(stored.data["id"])))
        self._save_message(stored)
        self._dispatch_message("MESSAGE_CREATE", stored)
        await self._flush()
        return copy.deepcopy(stored.data)

    async def edit_user_message(self, message: Any, content: str) -> dict[str, Any]:
        stored = self._component_message(message)
        self._apply_edit(stored, {"content": content}, [])
        self._dispatch_message("MESSAGE_UPDATE", stored)
        await self._flush()
        return copy.deepcopy(stored.data)

    async def delete_user_message(self, message: Any) -> None:
        self._delete_stored(self._component_message(message))
        self._changed()
        await self._flush()
