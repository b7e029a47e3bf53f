"""The gateway: one websocket per connection, sessions, intents, compression, and event dispatch.

HELLO, IDENTIFY -> READY + GUILD_CREATE per guild of the session's shard (or close 4004 bad token / 4013 no
intents / 4014 privileged intent not allowed / 4010 invalid shard / 4011 sharding required), heartbeat -> ACK, RESUME -> op 9 (false) unless allow_resume=True (then
missed events are replayed + RESUMED), REQUEST_GUILD_MEMBERS -> GUILD_MEMBERS_CHUNK. Transport compression as
the client asks (zlib-stream: one compressor per connection, Z_SYNC_FLUSH per message; zstd-stream if the
`zstandard` module is importable, otherwise plain text frames). Events are filtered by the session's intents
(what a missing MESSAGE_CONTENT hides is in messages.py). INTERACTION_CREATE goes to the newest live session
of the shard that owns its guild only (interactions.py).

Shards, as Discord has them: IDENTIFY's `shard: [id, count]` (none: shard 0 of 1) is the session's, and READY
echoes it. A guild belongs to shard `(guild_id >> 22) % count` (common.shard_of; DMs: shard 0): READY lists,
and GUILD_CREATE is sent for, only that shard's guilds, and every event of a guild (messages, interactions,
guild, channel, role, member and thread events) goes only to the sessions whose shard owns it. Sessions with
different counts may coexist (each follows its own). `emu.add_guild(..., shard=(k, n))` makes a guild on
shard k of n. An id >= count or a count < 1 closes with 4010; a count below `emu.min_shards` (default 1)
with 4011. GET /gateway/bot recommends `emu.recommended_shards` (default 1).

    emu.message_content_allowed / members_allowed / presences_allowed  (the portal switches; settable)
    emu.identify_count (IDENTIFY payloads received), emu.last_identify (minus the token), emu.open_connections,
    emu.resume_count, emu.gateway_queries (v/encoding/compress of each connection), emu.gateway_close_codes
    emu.events (every dispatched (event, data) pair); Intent (IntFlag bits)
    emu.recommended_shards, emu.min_shards (settable); emu.live_shards() -> sorted [(id, count)] of live sessions
    emu.shard_events: every (shard, event, data) a session was sent, shard = (id, count)
    await emu.wait_identified(count=1, timeout=5.0)
    await emu.disconnect_all(code=4000, *, shard=None)  /  await emu.send_reconnect()   (gateway hiccups;
        shard=(id, count): only that shard's sessions)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import secrets
import zlib
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from .common import API_VERSION, shard_of


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

# Application flags reported for the privileged intents switched on in the portal.
APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18


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
        self.session: Session | None = None
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
class Session:
    """An IDENTIFYed session: its intents, its shard, its sequence number, and the frames a RESUME replays."""

    id: str
    intents: int
    identified_at: float
    shard: tuple[int, int] = (0, 1)  # (shard id, shard count), as IDENTIFY gave it
    seq: int = 0
    buffer: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    conn: _Connection | None = None
    disconnected_at: float | None = None

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the events of `guild_id` (None: a DM, shard 0's)."""
        shard_id, count = self.shard
        return (shard_of(guild_id, count) if guild_id is not None else 0) == shard_id


class GatewayMixin:
    """Gateway connections and sessions, and dispatching events to them; part of DiscordEmulator."""

    events: list[tuple[str, dict[str, Any]]]
    identify_count: int
    resume_count: int
    last_identify: dict[str, Any] | None
    last_presence: dict[str, Any] | None
    gateway_close_codes: list[int]  # close codes of finished gateway connections
    gateway_queries: list[dict[str, str]]  # query of each gateway connection (v, encoding, compress)
    recommended_shards: int  # what GET /gateway/bot answers
    min_shards: int  # an IDENTIFY with fewer shards is closed with 4011 (sharding required)
    shard_events: list[tuple[tuple[int, int], str, Any]]

    def _init_gateway(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._connections: set[_Connection] = set()
        self.events = []
        self.identify_count = 0
        self.resume_count = 0
        self.last_identify = None
        self.last_presence = None
        self.gateway_close_codes = []
        self.gateway_queries = []
        self.recommended_shards = 1
        self.min_shards = 1
        self.shard_events = []

    # ------------------------------------------------------------------ sessions

    def _dispatch_targets(self) -> list[Session]:
        """Live sessions, plus (when resuming is allowed) disconnected ones that may still RESUME."""
        if not self.allow_resume:
            return self._live_sessions()
        self._expire_sessions()
        return list(self._sessions.values())

    def _live_sessions(self) -> list[Session]:
        return [s for s in self._sessions.values() if s.conn is not None and not s.conn.closed]

    def live_shards(self) -> list[tuple[int, int]]:
        """The (shard id, shard count) of every live session, sorted."""
        return sorted(s.shard for s in self._live_sessions())

    @property
    def open_connections(self) -> int:
        return sum(1 for c in self._connections if not c.closed)

    # ------------------------------------------------------------------ dispatch

    def _dispatch(
        self,
        event: str,
        data: dict[str, Any] | None,
        *,
        intent: int | None = None,
        build: Callable[[Session], dict[str, Any]] | None = None,
        always_for_bot: bool = False,
        sessions: list[Session] | None = None,
        guild_id: int | None,
    ) -> int:
        """Queue a DISPATCH for every live session whose shard owns `guild_id` (None: a DM, shard 0) and that
        asked for `intent`; returns how many got it."""
        count = 0
        self.events.append((event, data if data is not None else {}))
        for session in sessions if sessions is not None else self._dispatch_targets():
            if not session.owns(guild_id):
                continue
            if intent is not None and not (session.intents & intent) and not always_for_bot:
                continue
            payload = build(session) if build is not None else data
            self._send_dispatch(session, event, payload)
            count += session.conn is not None and not session.conn.closed
        self._changed()
        return count

    def _send_dispatch(self, session: Session, event: str, data: Any) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        self.shard_events.append((session.shard, event, data))
        session.buffer.append(frame)
        del session.buffer[:-500]
        if session.conn is not None:
            session.conn.send(frame)

    async def _flush(self) -> None:
        for conn in list(self._connections):
            await conn.flush()

    # ------------------------------------------------------------------ the websocket

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        compress = request.query.get("compress")
        self.gateway_queries.append(dict(request.query))
        conn = _Connection(ws, compress)
        self._connections.add(conn)
        conn.send(
            {
                "op": 10,
                "s": None,
                "t": None,
                "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000), "_trace": ['["emulator"]']},
            }
        )
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
        shard = d.get("shard")
        if shard is not None and not _valid_shard(shard):
            conn.close(4010, "Invalid shard.")
            self._changed()
            return
        if (shard[1] if shard is not None else 1) < self.min_shards:
            conn.close(4011, "Sharding required.")
            self._changed()
            return
        self._expire_sessions()
        session = Session(secrets.token_hex(16), intents, self.now(), conn=conn)
        if shard is not None:
            session.shard = (shard[0], shard[1])
        self._sessions[session.id] = session
        conn.session = session
        ready: dict[str, Any] = {
            "v": API_VERSION,
            "user": self._me_payload(),
            "user_settings": {},
            "relationships": [],
            "private_channels": [],
            "presences": [],
            "guild_join_requests": [],
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self._guilds_of(session)],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "geo_ordered_rtc_regions": [],
            "_trace": ['["emulator"]'],
        }
        if shard is not None:
            ready["shard"] = shard
        self._send_dispatch(session, "READY", ready)
        if intents & Intent.GUILDS:
            for g in self._guilds_of(session):
                self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(g, session))
        self._changed()

    def _guilds_of(self, session: Session) -> list[Any]:
        """The guilds the bot is in that belong to `session`'s shard."""
        return [g for g in self.guilds.values() if self.bot_user.id in g.members and session.owns(g.id)]

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
        self._send_dispatch(session, "RESUMED", {"_trace": ['["emulator"]']})
        self._changed()

    def _expire_sessions(self) -> None:
        now = self.now()
        for sid, s in list(self._sessions.items()):
            if (
                (s.conn is None or s.conn.closed)
                and s.disconnected_at is not None
                and now - s.disconnected_at > self.resume_window
            ):
                del self._sessions[sid]

    def _request_members(self, conn: _Connection, d: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            conn.close(4003, "Not authenticated.")
            return
        g = self.guilds.get(int(d.get("guild_id") or 0))
        if g is None or not session.owns(g.id):
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
        chunk: dict[str, Any] = {
            "guild_id": str(g.id),
            "members": [self._member_payload(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
        }
        if d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    def _application_flags(self) -> int:
        return (
            (APP_FLAG_GATEWAY_MESSAGE_CONTENT if self.message_content_allowed else 0)
            | (APP_FLAG_GATEWAY_GUILD_MEMBERS if self.members_allowed else 0)
            | (APP_FLAG_GATEWAY_PRESENCE if self.presences_allowed else 0)
        )

    # ------------------------------------------------------------------ hiccups and waiting

    async def disconnect_all(
        self, code: int = 4000, reason: str = "emulator disconnect", *, shard: tuple[int, int] | None = None
    ) -> None:
        """Close every gateway connection (only `shard`'s sessions, if given) with `code` (4000 → discord.py
        tries to RESUME)."""
        for conn in list(self._connections):
            if shard is not None and (conn.session is None or conn.session.shard != shard):
                continue
            conn.close(code, reason)
            await conn.flush()

    async def send_reconnect(self) -> None:
        """Op 7 RECONNECT to every connection."""
        for conn in list(self._connections):
            conn.send({"op": 7, "s": None, "t": None, "d": None})
            await conn.flush()

    async def wait_identified(self, count: int = 1, timeout: float = 5.0) -> None:
        """Until `count` IDENTIFYs were accepted and a session is live."""
        await self.wait_for(
            lambda: self.identify_count >= count and bool(self._live_sessions()),
            timeout=timeout,
            what=f"IDENTIFY #{count}",
        )


def _valid_shard(shard: Any) -> bool:
    """IDENTIFY's `shard`: [id, count] with 0 <= id < count."""
    return (
        isinstance(shard, list)
        and len(shard) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in shard)
        and 0 <= shard[0] < shard[1]
    )
