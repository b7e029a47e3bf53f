"""The world: users, guilds, roles, channels and members, and Discord's permission maths.

World (sync setters only build state; ``async`` ones also dispatch the gateway event and flush it)::

    emu.bot_user, emu.application_id, emu.owner, emu.default_user, emu.guild, emu.channel  (default world)
    emu.add_user(username, *, user_id=None, bot=False, refuses_dms=False, global_name=None) -> User
    emu.add_guild(name, *, owner=None, premium_tier=0, everyone_permissions=DEFAULT_EVERYONE,
                  bot_permissions=DEFAULT_BOT_ROLE, guild_id=None, shard=None) -> Guild
        shard=(k, n): its id puts it on shard k of n (GUILD_CREATE goes to that shard's sessions only)
    emu.add_role(guild, name, permissions=0, *, role_id=None) -> Role
    emu.add_member(guild, user, *, roles=(), nick=None) -> Member
    emu.add_text_channel(guild, name, *, overwrites=(), channel_id=None, topic=None) -> Channel
    emu.add_forum_channel(guild, name, *, overwrites=(), channel_id=None, topic=None) -> Channel   (type 15)
    await emu.add_thread(parent, name, *, owner=None, content="", attachments=(), thread_id=None) -> Channel
        a public thread (type 11) in a text channel, or a post in a forum channel (its first message, by
        `owner`, has the thread's id, as Discord's starter message does); dispatches THREAD_CREATE
        (newly_created) and, for a post, the first message's MESSAGE_CREATE
    emu.dm_channel(user) -> Channel
    await emu.set_bot_channel_permissions(channel, *, allow=0, deny=0)          CHANNEL_UPDATE
    await emu.set_channel_overwrite(channel, target, *, allow=0, deny=0)        CHANNEL_UPDATE (role or user)
    await emu.set_role_permissions(role_or_id, permissions, *, guild=None)     GUILD_ROLE_UPDATE
    await emu.set_premium_tier(guild, tier)                                    GUILD_UPDATE
    await emu.set_member_roles(guild, user, roles)                             GUILD_MEMBER_UPDATE
    await emu.delete_channel(channel)                                          CHANNEL_DELETE; REST -> 404 10003
    emu.permissions_for(user, channel) -> int      (Discord's algorithm; `Perm` holds the bit names; a thread
                                                    takes its parent's overwrites, and posting there is
                                                    Send Messages in Threads instead of Send Messages)
    emu.upload_limit(channel_or_guild) -> int      (10 MiB for tier 0/1, 50 MiB tier 2, 100 MiB tier 3)
    emu.users, emu.guilds (dicts by id); Guild.roles / .channels / .threads / .members; Perm (IntFlag bits)
    GUILD_TEXT, DM, PUBLIC_THREAD, GUILD_FORUM: the channel types modelled

Permissions may be given as an int, a `Perm`, a name, a discord.Permissions, or an iterable of those.
Also here: the builders that give these objects Discord's JSON shape (user, role, member, channel, guild,
and the GUILD_CREATE a session receives).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence
from typing import Any

from .common import MiB, id_of, iso_time, new_snowflake, shard_of
from .gateway import Intent, Session


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
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.STREAM
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.SEND_TTS_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.SEND_POLLS
    | Perm.USE_EXTERNAL_APPS
)
DEFAULT_BOT_ROLE = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.USE_EXTERNAL_EMOJIS
)
# What an app may do in a DM with a user (Discord reports these as app_permissions there).
DM_PERMISSIONS = int(
    Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.USE_APPLICATION_COMMANDS
)

# Channel types (Discord's numbers) the emulator models.
GUILD_TEXT, DM, PUBLIC_THREAD, GUILD_FORUM = 0, 1, 11, 15
THREAD_TYPES = frozenset({PUBLIC_THREAD})
# What Discord denies implicitly where one cannot post (Send Messages; in a thread, Send Messages in Threads).
_NEEDS_POSTING = int(Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES)

_PREMIUM_UPLOAD_LIMITS = {0: 10 * MiB, 1: 10 * MiB, 2: 50 * MiB, 3: 100 * MiB}
_JOINED_AT = "2024-01-01T00:00:00.000000+00:00"


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
    type: int  # GUILD_TEXT, DM, PUBLIC_THREAD or GUILD_FORUM
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    overwrites: list[Overwrite] = dataclasses.field(default_factory=list)
    recipient_id: int | None = None
    last_message_id: int | None = None
    deleted: bool = False
    parent_id: int | None = None  # a thread's text or forum channel
    owner_id: int | None = None  # who started the thread
    created_at: str | None = None  # a thread's create_timestamp

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES


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
    threads: dict[int, Channel] = dataclasses.field(default_factory=dict)  # active threads and forum posts
    members: dict[int, Member] = dataclasses.field(default_factory=dict)

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]


class WorldMixin:
    """Users, guilds, roles, channels and members, and the permission maths; part of DiscordEmulator."""

    users: dict[int, User]
    guilds: dict[int, Guild]
    bot_user: User
    # the default world (absent with default_world=False)
    owner: User
    default_user: User
    guild: Guild
    channel: Channel

    def _init_world(self) -> None:
        self.users = {}
        self.guilds = {}
        self._channels: dict[int, Channel] = {}
        self._deleted_channels: set[int] = set()
        self._dm_channels: dict[int, int] = {}

    def _add_default_world(self) -> None:
        """The owner, a member "alice", and "Test Guild" with its #general."""
        self.owner = self.add_user("owner")
        self.default_user = self.add_user("alice")
        self.guild = self.add_guild("Test Guild", owner=self.owner)
        self.add_member(self.guild, self.default_user)
        self.channel = self.add_text_channel(self.guild, "general")

    # ------------------------------------------------------------------ world building

    def add_user(
        self,
        username: str,
        *,
        user_id: int | None = None,
        bot: bool = False,
        refuses_dms: bool = False,
        global_name: str | None = None,
    ) -> User:
        user = User(user_id or new_snowflake(), username, global_name, bot, refuses_dms)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        name: str,
        *,
        owner: Any = None,
        premium_tier: int = 0,
        everyone_permissions: Any = DEFAULT_EVERYONE,
        bot_permissions: Any = DEFAULT_BOT_ROLE,
        guild_id: int | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        owner_user = self._user(owner) if owner is not None else self.add_user(f"{name}-owner")
        if guild_id is not None and shard is not None and shard_of(guild_id, shard[1]) != shard[0]:
            raise ValueError(f"guild {guild_id} is on shard {shard_of(guild_id, shard[1])} of {shard[1]}")
        gid = guild_id or new_snowflake(shard)
        guild = Guild(gid, name, owner_user.id, premium_tier)
        guild.roles[gid] = Role(gid, gid, "@everyone", _perm_value(everyone_permissions), 0)
        bot_role = Role(
            new_snowflake(),
            gid,
            self.bot_user.username,
            _perm_value(bot_permissions),
            1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[owner_user.id] = Member(owner_user.id, gid)
        guild.members[self.bot_user.id] = Member(self.bot_user.id, gid, [bot_role.id])
        self.guilds[gid] = guild
        for session in self._live_sessions():
            if session.owns(gid):
                self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload(guild, session))
        return guild

    def add_role(self, guild: Any, name: str, permissions: Any = 0, *, role_id: int | None = None) -> Role:
        g = self._guild(guild)
        role = Role(role_id or new_snowflake(), g.id, name, _perm_value(permissions), len(g.roles))
        g.roles[role.id] = role
        self._dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(g.id), "role": self._role_payload(role)},
            intent=Intent.GUILDS,
            guild_id=g.id,
        )
        return role

    def add_member(
        self, guild: Any, user: Any, *, roles: Iterable[Any] = (), nick: str | None = None
    ) -> Member:
        g = self._guild(guild)
        u = self._user(user)
        member = Member(u.id, g.id, [id_of(r) for r in roles], nick)
        g.members[u.id] = member
        payload = self._member_payload(member)
        payload["guild_id"] = str(g.id)
        self._dispatch("GUILD_MEMBER_ADD", payload, intent=Intent.GUILD_MEMBERS, guild_id=g.id)
        return member

    def add_text_channel(
        self,
        guild: Any,
        name: str,
        *,
        overwrites: Iterable[Overwrite] = (),
        channel_id: int | None = None,
        topic: str | None = None,
    ) -> Channel:
        return self._add_guild_channel(GUILD_TEXT, guild, name, overwrites, channel_id, topic)

    def add_forum_channel(
        self,
        guild: Any,
        name: str,
        *,
        overwrites: Iterable[Overwrite] = (),
        channel_id: int | None = None,
        topic: str | None = None,
    ) -> Channel:
        """A forum: no messages of its own, only posts (threads; see add_thread)."""
        return self._add_guild_channel(GUILD_FORUM, guild, name, overwrites, channel_id, topic)

    def _add_guild_channel(
        self,
        ctype: int,
        guild: Any,
        name: str,
        overwrites: Iterable[Overwrite],
        channel_id: int | None,
        topic: str | None,
    ) -> Channel:
        g = self._guild(guild)
        channel = Channel(
            channel_id or new_snowflake(), ctype, name, g.id, len(g.channels), topic, list(overwrites)
        )
        g.channels[channel.id] = channel
        self._channels[channel.id] = channel
        self._messages[channel.id] = {}
        self._dispatch("CHANNEL_CREATE", self._channel_payload(channel), intent=Intent.GUILDS, guild_id=g.id)
        return channel

    async def add_thread(
        self,
        parent: Any,
        name: str,
        *,
        owner: Any = None,
        content: str = "",
        attachments: Sequence[tuple[str, bytes, str]] = (),
        thread_id: int | None = None,
    ) -> Channel:
        """A member starts a public thread in a text channel, or a post in a forum (with its first message)."""
        p = self._channel(parent)
        if p.type not in (GUILD_TEXT, GUILD_FORUM):
            raise ValueError(f"channel {p.id} (type {p.type}) cannot hold threads")
        if p.type == GUILD_FORUM and not (content or attachments):
            raise ValueError("a forum post needs a first message: pass content or attachments")
        u = self._user(owner if owner is not None else self.default_user)
        assert p.guild_id is not None
        g = self.guilds[p.guild_id]
        if u.id not in g.members:
            raise ValueError(f"user {u.username} is not a member of guild {g.name}")
        thread = Channel(
            thread_id or new_snowflake(),
            PUBLIC_THREAD,
            name,
            g.id,
            parent_id=p.id,
            owner_id=u.id,
            created_at=iso_time(),
        )
        g.threads[thread.id] = thread
        self._channels[thread.id] = thread
        self._messages[thread.id] = {}
        created = {**self._channel_payload(thread), "newly_created": True}
        self._dispatch("THREAD_CREATE", created, intent=Intent.GUILDS, guild_id=g.id)
        if p.type == GUILD_FORUM:  # the post's first message shares the thread's id, as on Discord
            stored = self._new_message(
                thread, u, {"content": content}, list(attachments), message_id=thread.id
            )
            self._save_message(stored)
            self._dispatch_message("MESSAGE_CREATE", stored)
        await self._flush()
        return thread

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

    async def set_channel_overwrite(
        self, channel: Any, target: Any, *, allow: Any = 0, deny: Any = 0
    ) -> None:
        ch = self._channel(channel)
        if ch.guild_id is None:
            raise ValueError("DM channels have no overwrites")
        g = self.guilds[ch.guild_id]
        tid = id_of(target)
        otype = 0 if tid in g.roles else 1
        ch.overwrites = [o for o in ch.overwrites if o.id != tid]
        a, d = _perm_value(allow), _perm_value(deny)
        if a or d:
            ch.overwrites.append(Overwrite(tid, otype, a, d))
        self._dispatch("CHANNEL_UPDATE", self._channel_payload(ch), intent=Intent.GUILDS, guild_id=g.id)
        await self._flush()

    async def set_role_permissions(self, role: Any, permissions: Any, *, guild: Any = None) -> None:
        rid = id_of(role)
        g = (
            self._guild(guild)
            if guild is not None
            else next(g for g in self.guilds.values() if rid in g.roles)
        )
        r = g.roles[rid]
        r.permissions = _perm_value(permissions)
        payload = {"guild_id": str(g.id), "role": self._role_payload(r)}
        self._dispatch("GUILD_ROLE_UPDATE", payload, intent=Intent.GUILDS, guild_id=g.id)
        await self._flush()

    async def set_member_roles(self, guild: Any, user: Any, roles: Iterable[Any]) -> None:
        g = self._guild(guild)
        m = g.members[id_of(user)]
        m.roles = [id_of(r) for r in roles]
        payload = self._member_payload(m)
        payload["guild_id"] = str(g.id)
        self._dispatch(
            "GUILD_MEMBER_UPDATE",
            payload,
            intent=Intent.GUILD_MEMBERS,
            always_for_bot=m.user_id == self.bot_user.id,
            guild_id=g.id,
        )
        await self._flush()

    async def set_premium_tier(self, guild: Any, tier: int) -> None:
        g = self._guild(guild)
        g.premium_tier = tier
        self._dispatch("GUILD_UPDATE", self._guild_payload(g), intent=Intent.GUILDS, guild_id=g.id)
        await self._flush()

    async def delete_channel(self, channel: Any) -> None:
        ch = self._channel(channel)
        ch.deleted = True
        self._deleted_channels.add(ch.id)
        if ch.guild_id is not None:
            self.guilds[ch.guild_id].channels.pop(ch.id, None)
            self.guilds[ch.guild_id].threads.pop(ch.id, None)
        if ch.is_thread:
            self._dispatch(
                "THREAD_DELETE",
                {
                    "id": str(ch.id),
                    "guild_id": str(ch.guild_id),
                    "parent_id": str(ch.parent_id),
                    "type": ch.type,
                },
                intent=Intent.GUILDS,
                guild_id=ch.guild_id,
            )
        else:
            self._dispatch(
                "CHANNEL_DELETE", self._channel_payload(ch), intent=Intent.GUILDS, guild_id=ch.guild_id
            )
        self._changed()
        await self._flush()

    def upload_limit(self, where: Any = None) -> int:
        if where is None:
            return _PREMIUM_UPLOAD_LIMITS[0]
        if isinstance(where, Guild):
            return _PREMIUM_UPLOAD_LIMITS[where.premium_tier]
        ch = self._channels.get(id_of(where))
        if ch is not None:
            if ch.guild_id is None:
                return _PREMIUM_UPLOAD_LIMITS[0]
            return _PREMIUM_UPLOAD_LIMITS[self.guilds[ch.guild_id].premium_tier]
        return _PREMIUM_UPLOAD_LIMITS[self._guild(where).premium_tier]

    def permissions_for(self, user: Any, channel: Any) -> int:
        """Discord's computation: base (@everyone + roles), administrator, overwrites in order, implicit denies.
        A thread has no overwrites of its own: its parent's apply, and where Send Messages in Threads is
        missing, so are Embed Links, Attach Files, TTS and Mention Everyone (Send Messages plays no part)."""
        ch = self._channel(channel)
        uid = id_of(user)
        if ch.guild_id is None:
            return DM_PERMISSIONS
        posting = Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES
        perms = self._channel_permissions(uid, self._channels[ch.parent_id or 0] if ch.is_thread else ch)
        if perms and not perms & posting:
            perms &= ~_NEEDS_POSTING
        return perms

    def _channel_permissions(self, uid: int, ch: Channel) -> int:
        """Base permissions and `ch`'s overwrites, before the implicit denials that depend on posting."""
        assert ch.guild_id is not None
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
        return perms

    # ------------------------------------------------------------------ lookups

    def _user(self, obj: Any) -> User:
        if isinstance(obj, User):
            return obj
        if isinstance(obj, Member):
            return self.users[obj.user_id]
        uid = id_of(obj)
        if uid not in self.users:
            raise KeyError(f"unknown user {uid}")
        return self.users[uid]

    def _guild(self, obj: Any) -> Guild:
        if isinstance(obj, Guild):
            return obj
        gid = id_of(obj)
        if gid not in self.guilds:
            raise KeyError(f"unknown guild {gid}")
        return self.guilds[gid]

    def _channel(self, obj: Any) -> Channel:
        if isinstance(obj, Channel):
            return obj
        if isinstance(obj, User):
            return self.dm_channel(obj)
        cid = id_of(obj)
        if cid not in self._channels:
            raise KeyError(f"unknown channel {cid}")
        return self._channels[cid]

    # ------------------------------------------------------------------ payloads: Discord's JSON shape

    def _user_payload(self, user: User) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(user.id),
            "username": user.username,
            "discriminator": "0" if not user.bot else "0001",
            "global_name": user.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
            "collectibles": None,
            "primary_guild": None,
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
            "id": str(role.id),
            "name": role.name,
            "permissions": str(role.permissions),
            "position": role.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": role.managed,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if role.bot_id is not None:
            payload["tags"] = {"bot_id": str(role.bot_id)}
        return payload

    def _member_payload(
        self, member: Member, *, with_user: bool = True, channel: Channel | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "roles": [str(r) for r in member.roles],
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "joined_at": _JOINED_AT,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self._user_payload(self.users[member.user_id])
        if channel is not None:
            payload["permissions"] = str(self.permissions_for(member.user_id, channel))
        return payload

    def _channel_payload(self, ch: Channel) -> dict[str, Any]:
        last = str(ch.last_message_id) if ch.last_message_id else None
        if ch.guild_id is None:
            return {
                "id": str(ch.id),
                "type": 1,
                "last_message_id": last,
                "flags": 0,
                "last_pin_timestamp": None,
                "recipients": [self._user_payload(self.users[ch.recipient_id or 0])],
            }
        if ch.is_thread:
            return self._thread_payload(ch, last)
        payload: dict[str, Any] = {
            "id": str(ch.id),
            "type": ch.type,
            "guild_id": str(ch.guild_id),
            "name": ch.name,
            "position": ch.position,
            "flags": 0,
            "parent_id": None,
            "topic": ch.topic,
            "nsfw": False,
            "last_message_id": last,
            "rate_limit_per_user": 0,
            "last_pin_timestamp": None,
            "permission_overwrites": [
                {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
                for o in ch.overwrites
            ],
        }
        if ch.type == GUILD_FORUM:
            payload.update(
                {
                    "available_tags": [],
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                    "default_auto_archive_duration": 4320,
                }
            )
        return payload

    def _thread_payload(self, ch: Channel, last: str | None) -> dict[str, Any]:
        """Discord's thread object: the parent's id, the metadata, and counts (the first message of a forum
        post is not counted in message_count, deleted ones are not either)."""
        stored = self._messages.get(ch.id, {})
        parent = self._channels[ch.parent_id or 0]
        payload: dict[str, Any] = {
            "id": str(ch.id),
            "type": ch.type,
            "guild_id": str(ch.guild_id),
            "parent_id": str(ch.parent_id),
            "owner_id": str(ch.owner_id),
            "name": ch.name,
            "flags": 0,
            "last_message_id": last,
            "last_pin_timestamp": None,
            "rate_limit_per_user": 0,
            "message_count": sum(1 for mid, m in stored.items() if mid != ch.id and not m.deleted),
            "total_message_sent": sum(1 for mid in stored if mid != ch.id),
            "member_count": 1,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 4320,
                "archive_timestamp": ch.created_at,
                "locked": False,
                "create_timestamp": ch.created_at,
            },
        }
        if parent.type == GUILD_FORUM:
            payload["applied_tags"] = []
        return payload

    def _guild_payload(self, g: Guild) -> dict[str, Any]:
        return {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "description": None,
            "home_header": None,
            "splash": None,
            "discovery_splash": None,
            "features": [],
            "banner": None,
            "owner_id": str(g.owner_id),
            "application_id": None,
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "roles": [self._role_payload(r) for r in g.roles.values()],
            "default_message_notifications": 0,
            "mfa_level": 0,
            "explicit_content_filter": 0,
            "max_presences": None,
            "max_members": 500000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "vanity_url_code": None,
            "premium_tier": g.premium_tier,
            "premium_subscription_count": {0: 0, 1: 2, 2: 7, 3: 14}[g.premium_tier],
            "preferred_locale": "en-US",
            "rules_channel_id": None,
            "safety_alerts_channel_id": None,
            "public_updates_channel_id": None,
            "premium_progress_bar_enabled": False,
            "nsfw": False,
            "nsfw_level": 0,
            "emojis": [],
            "stickers": [],
            "incidents_data": None,
        }

    def _guild_create_payload(self, g: Guild, session: Session) -> dict[str, Any]:
        payload = self._guild_payload(g)
        everyone_visible = bool(session.intents & Intent.GUILD_PRESENCES) and len(g.members) < 250
        members = [m for m in g.members.values() if everyone_visible or m.user_id == self.bot_user.id]
        payload.update(
            {
                "joined_at": _JOINED_AT,
                "large": len(g.members) >= 250,
                "unavailable": False,
                "member_count": len(g.members),
                "lazy": True,
                "channels": [self._channel_payload(c) for c in g.channels.values()],
                "members": [self._member_payload(m) for m in members],
                "threads": [
                    self._channel_payload(t)
                    for t in g.threads.values()
                    if self.permissions_for(self.bot_user, t) & Perm.VIEW_CHANNEL
                ],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
                "embedded_activities": [],
            }
        )
        return payload


async def set_channel_nsfw(emu: Any, channel: Any, nsfw: bool = True) -> None:
    """An admin marks a text or forum channel age-restricted (Edit Channel → Age-Restricted Channel): Discord
    sends CHANNEL_UPDATE with `nsfw`, and discord.py's cached channel (and its threads, which read the parent's
    flag) follow it. Minimal: the flag lives in this one dispatch only; a later CHANNEL_UPDATE, a GUILD_CREATE
    on reconnect or a REST read of the channel still says false."""
    ch = emu._channel(channel)
    if ch.guild_id is None or ch.is_thread:
        raise ValueError("only a server's text or forum channel has its own age-restricted flag")
    payload = {**emu._channel_payload(ch), "nsfw": nsfw}
    emu._dispatch("CHANNEL_UPDATE", payload, intent=Intent.GUILDS, guild_id=ch.guild_id)
    await emu._flush()
