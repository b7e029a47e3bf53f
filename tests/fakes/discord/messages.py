"""Messages: storage, what the MESSAGE_CONTENT intent hides, body checks, creation, edits and deletion.

Without MESSAGE_CONTENT, guild messages that are not the bot's and do not mention it lose content, embeds,
attachments and components (also inside referenced_message). Gateway events follow each session's intents;
REST fetches follow `rest_content_rule`: "identify" (default) strips when the last IDENTIFY lacked the
intent, "approval" only when the portal switch is off (Discord's literal rule).

    emu.messages(channel) -> list[dict] (oldest first, current state), emu.get_message(message_id) -> dict
    emu.nonce_hits -> list[NonceHit]   creates answered with an earlier message of the same author and nonce
    emu.nonce_window (seconds, default 300, on emu.now()): how long a nonce with enforce_nonce is remembered
    emu.pings(user) -> list of message ids that notified that user (creation only; edits never ping)
    await emu.wait_for_message(channel, predicate=None, timeout=5.0) -> dict (newest match)
    message_text(message) -> str      everything a user reads: content, embed texts, text displays, in order

Nonces follow Discord: a create with `nonce` and `enforce_nonce: true` whose author created a message with
the same nonce within `nonce_window` gets that message back (200, nothing created, no MESSAGE_CREATE). The
nonce is in the create answer and in MESSAGE_CREATE only; fetched messages do not carry it.

Bodies are checked as Discord checks them: content, embed and component limits (400 50035 naming the
field), an empty message (400 50006). Mentions follow allowed_mentions and the author's MENTION_EVERYONE.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .common import DiscordError, form_error, id_of, iso_time, new_snowflake
from .gateway import Intent, Session
from .world import Channel, Perm, User

if TYPE_CHECKING:
    from .interactions import InteractionHandle

# Message flags
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15


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


def walk_components(components: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for comp in components:
        yield comp
        yield from walk_components(comp.get("components") or [])
        for key in ("component", "accessory"):
            if isinstance(comp.get(key), dict):
                yield from walk_components([comp[key]])


@dataclasses.dataclass(eq=False)
class StoredMessage:
    data: dict[str, Any]  # the canonical, full message object (REST shape)
    guild_id: int | None
    ephemeral: bool = False
    interaction_id: int | None = None
    deleted: bool = False
    nonce: str | None = None  # as sent (discord.py sends it as a string); only the create answer shows it


@dataclasses.dataclass(frozen=True)
class NonceHit:
    """A create that Discord answered with an earlier message (same author, same nonce, enforce_nonce)."""

    nonce: str
    message_id: int
    channel_id: int


class MessagesMixin:
    """Every message of every channel, as each reader may see it; part of DiscordEmulator."""

    def _init_messages(self) -> None:
        self._messages: dict[int, dict[int, StoredMessage]] = {}  # channel -> id -> message
        self._message_index: dict[int, StoredMessage] = {}
        self._pings: list[tuple[int, int]] = []
        self._nonces: dict[
            tuple[int, str], tuple[float, StoredMessage]
        ] = {}  # (author, nonce) -> (when, msg)
        self.nonce_hits: list[NonceHit] = []
        self.nonce_window = 300.0

    # ------------------------------------------------------------------ reading

    def messages(self, channel: Any) -> list[dict[str, Any]]:
        """Current (non-ephemeral) messages of a channel, oldest first, full content, as copies."""
        cid = id_of(channel) if not isinstance(channel, User) else self.dm_channel(channel).id
        return [copy.deepcopy(m.data) for m in self._messages.get(cid, {}).values() if not m.deleted]

    def get_message(self, message_id: Any) -> dict[str, Any]:
        m = self._message_index[id_of(message_id)]
        if m.deleted:
            raise KeyError(f"message {message_id} was deleted")
        return copy.deepcopy(m.data)

    def pings(self, user: Any) -> list[int]:
        uid = id_of(user)
        return [mid for (u, mid) in self._pings if u == uid]

    async def wait_for_message(
        self, channel: Any, predicate: Callable[[dict[str, Any]], Any] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for m in reversed(self.messages(channel)):
                if predicate is None or predicate(m):
                    return m
            return None

        return await self.wait_for(check, timeout=timeout, what=f"a message in channel {id_of(channel)}")

    # ------------------------------------------------------------------ storage and visibility

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

    def _visible(self, stored: StoredMessage, has_intent: bool) -> dict[str, Any]:
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

    def _rest_message(self, stored: StoredMessage) -> dict[str, Any]:
        data = copy.deepcopy(self._visible(stored, self._rest_has_content_intent()))
        self._resign_attachments(data)  # files.py: every read hands out fresh links, as Discord does
        return data

    def _gateway_message(self, stored: StoredMessage, session: Session) -> dict[str, Any]:
        data = copy.deepcopy(self._visible(stored, bool(session.intents & Intent.MESSAGE_CONTENT)))
        self._resign_attachments(data)
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

    def _save_message(self, stored: StoredMessage) -> None:
        cid = int(stored.data["channel_id"])
        mid = int(stored.data["id"])
        self._message_index[mid] = stored
        if not stored.ephemeral:
            self._messages.setdefault(cid, {})[mid] = stored
            ch = self._channels.get(cid)
            if ch is not None:
                ch.last_message_id = mid

    def _dispatch_message(self, event: str, stored: StoredMessage) -> None:
        if stored.ephemeral:
            return
        intent = Intent.GUILD_MESSAGES if stored.guild_id is not None else Intent.DIRECT_MESSAGES

        def build(session: Session) -> dict[str, Any]:
            data = self._gateway_message(stored, session)
            if event == "MESSAGE_CREATE" and stored.nonce is not None:
                data["nonce"] = stored.nonce
            return data

        self._dispatch(event, None, intent=intent, build=build, guild_id=stored.guild_id)

    def _parse_mentions(
        self,
        content: str,
        guild_id: int | None,
        allowed: dict[str, Any] | None,
        extra_users: Iterable[int] = (),
        *,
        can_mention_everyone: bool = True,
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

    # ------------------------------------------------------------------ body checks

    def _check_message_body(self, body: dict[str, Any], *, file_count: int, creating: bool) -> None:
        content = body.get("content")
        if content is not None and not isinstance(content, str):
            raise form_error("content", "BASE_TYPE_STRING", "Must be a string.")
        if content is not None and len(content) > 2000:
            raise form_error("content", "BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            raise form_error("embeds", "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        limits = {"title": 256, "description": 4096}
        for i, embed in enumerate(embeds):
            for key, limit in limits.items():
                value = embed.get(key) or ""
                total += len(value)
                if len(value) > limit:
                    raise form_error(
                        f"embeds.{i}.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length."
                    )
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise form_error(
                    f"embeds.{i}.fields", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                )
            for j, field in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    value = field.get(key)
                    if not value:
                        raise form_error(
                            f"embeds.{i}.fields.{j}.{key}", "BASE_TYPE_REQUIRED", "This field is required"
                        )
                    total += len(value)
                    if len(value) > limit:
                        raise form_error(
                            f"embeds.{i}.fields.{j}.{key}",
                            "BASE_TYPE_MAX_LENGTH",
                            f"Must be {limit} or fewer in length.",
                        )
            footer = (embed.get("footer") or {}).get("text") or ""
            author = (embed.get("author") or {}).get("name") or ""
            total += len(footer) + len(author)
            if len(footer) > 2048 or len(author) > 256:
                raise form_error(f"embeds.{i}", "BASE_TYPE_MAX_LENGTH", "Embed footer/author too long.")
        if total > 6000:
            raise form_error("embeds", "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        components = body.get("components") or []
        v2 = bool((body.get("flags") or 0) & FLAG_COMPONENTS_V2)
        if not v2 and len(components) > 5:
            raise form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        custom_ids: set[str] = set()
        for comp in walk_components(components):
            cid = comp.get("custom_id")
            if cid is not None:
                if len(cid) > 100:
                    raise form_error("components", "BASE_TYPE_MAX_LENGTH", "custom_id: Must be 100 or fewer.")
                if cid in custom_ids:
                    raise form_error(
                        "components",
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                custom_ids.add(cid)
            if comp.get("type") == 2 and len(comp.get("label") or "") > 80:
                raise form_error("components", "BASE_TYPE_MAX_LENGTH", "label: Must be 80 or fewer.")
            if comp.get("type") == 1 and not v2 and len(comp.get("components") or []) > 5:
                raise form_error("components", "BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        if creating and not (
            content or embeds or components or file_count or body.get("sticker_ids") or body.get("poll")
        ):
            raise DiscordError(400, 50006, "Cannot send an empty message")

    def _normalize_components(self, components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        components = copy.deepcopy(components or [])
        used = {c["id"] for c in walk_components(components) if isinstance(c.get("id"), int)}
        counter = itertools.count(1)
        for comp in walk_components(components):
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

    # ------------------------------------------------------------------ create, edit, delete

    def _new_message(
        self,
        channel: Channel,
        author: User,
        body: dict[str, Any],
        files: list[tuple[str, bytes, str]],
        *,
        ephemeral: bool = False,
        webhook: bool = False,
        mtype: int = 0,
        interaction: InteractionHandle | None = None,
        flags: int | None = None,
        message_id: int | None = None,
    ) -> StoredMessage:
        mid = message_id or new_snowflake()
        where = f"ephemeral-attachments/{self.application_id}" if ephemeral else f"attachments/{channel.id}"
        attachments = self._attachments_from(body, files, None, where=where, ephemeral=ephemeral)
        reference = body.get("message_reference")
        referenced: StoredMessage | None = None
        extra_mentions: list[int] = []
        if reference:
            ref_id = int(reference["message_id"])
            referenced = self._message_index.get(ref_id)
            if referenced is None or referenced.deleted or int(referenced.data["channel_id"]) != channel.id:
                if reference.get("fail_if_not_exists", True):
                    raise form_error(
                        "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                    )
                referenced = None
            else:
                allowed = body.get("allowed_mentions")
                if allowed is None or allowed.get("replied_user", False):
                    extra_mentions.append(int(referenced.data["author"]["id"]))
                mtype = 19
        can_everyone = channel.guild_id is None or bool(
            self.permissions_for(author.id, channel) & Perm.MENTION_EVERYONE
        )
        users, roles, everyone = self._parse_mentions(
            body.get("content") or "",
            channel.guild_id,
            body.get("allowed_mentions"),
            extra_mentions,
            can_mention_everyone=can_everyone,
        )
        msg_flags = int(body.get("flags") or 0) if flags is None else flags
        if ephemeral:
            msg_flags |= FLAG_EPHEMERAL
        data: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "type": mtype,
            "content": body.get("content") or "",
            "author": self._user_payload(author),
            "attachments": attachments,
            "embeds": self._normalize_embeds(body.get("embeds") or []),
            "components": self._normalize_components(body.get("components") or []),
            "mentions": [self._user_payload(self.users[u]) for u in users],
            "mention_roles": [str(r) for r in roles],
            "mention_everyone": everyone,
            "pinned": False,
            "tts": bool(body.get("tts")),
            "timestamp": iso_time(),
            "edited_timestamp": None,
            "flags": msg_flags,
        }
        if webhook:
            data["webhook_id"] = str(self.application_id)
            data["application_id"] = str(self.application_id)
        if interaction is not None:
            data["interaction_metadata"] = self._interaction_metadata(interaction)
            data["application_id"] = str(self.application_id)
            if interaction.type == 2:
                inner = interaction.payload.get("data", {})
                data["interaction"] = {
                    "id": str(interaction.id),
                    "type": 2,
                    "name": inner.get("name", ""),
                    "user": self._user_payload(self.users[interaction.user_id]),
                }
        if referenced is not None:
            data["message_reference"] = {
                "type": 0,
                "channel_id": str(channel.id),
                "message_id": referenced.data["id"],
            }
            if channel.guild_id is not None:
                data["message_reference"]["guild_id"] = str(channel.guild_id)
            ref_copy = copy.deepcopy(referenced.data)
            ref_copy.pop("referenced_message", None)
            data["referenced_message"] = ref_copy
        stored = StoredMessage(
            data,
            channel.guild_id,
            ephemeral,
            interaction.id if interaction is not None else None,
            nonce=None if body.get("nonce") is None else str(body["nonce"]),
        )
        if not ephemeral:
            for u in users:
                if u != author.id:
                    self._pings.append((u, mid))
        return stored

    def _earlier_by_nonce(self, author: User, body: dict[str, Any]) -> StoredMessage | None:
        """The message `author` created with this nonce within the window, when the create enforces it."""
        nonce = body.get("nonce")
        if nonce is None or not body.get("enforce_nonce"):
            return None
        known = self._nonces.get((author.id, str(nonce)))
        if known is None or self.now() - known[0] > self.nonce_window or known[1].deleted:
            return None
        earlier = known[1]
        self.nonce_hits.append(NonceHit(str(nonce), int(earlier.data["id"]), int(earlier.data["channel_id"])))
        return earlier

    def _remember_nonce(self, author: User, stored: StoredMessage) -> None:
        if stored.nonce is not None:
            self._nonces[(author.id, stored.nonce)] = (self.now(), stored)

    def _created_answer(self, stored: StoredMessage) -> dict[str, Any]:
        """The answer to the create: the message as REST shows it, with the nonce it was created with."""
        answer = self._rest_message(stored)
        if stored.nonce is not None:
            answer["nonce"] = stored.nonce
        return answer

    def _apply_edit(
        self, stored: StoredMessage, body: dict[str, Any], files: list[tuple[str, bytes, str]]
    ) -> None:
        data = copy.deepcopy(stored.data)
        channel = self._channels[int(data["channel_id"])]
        where = (
            f"ephemeral-attachments/{self.application_id}"
            if stored.ephemeral
            else f"attachments/{channel.id}"
        )
        if "content" in body:
            data["content"] = body["content"] or ""
            users, roles, everyone = self._parse_mentions(
                data["content"], stored.guild_id, body.get("allowed_mentions")
            )
            data["mentions"] = [self._user_payload(self.users[u]) for u in users]
            data["mention_roles"] = [str(r) for r in roles]
            data["mention_everyone"] = everyone
        if "embeds" in body:
            data["embeds"] = self._normalize_embeds(body["embeds"] or [])
        if "components" in body:
            data["components"] = self._normalize_components(body["components"] or [])
        if "attachments" in body or files:
            data["attachments"] = self._attachments_from(
                body, files, data["attachments"], where=where, ephemeral=stored.ephemeral
            )
            self._drop_files(stored.data["attachments"], kept=data["attachments"])
        if body.get("flags") is not None:
            keep = data["flags"] & (FLAG_EPHEMERAL)
            data["flags"] = keep | (int(body["flags"]) & (FLAG_SUPPRESS_EMBEDS | FLAG_COMPONENTS_V2))
        data["flags"] &= ~FLAG_LOADING
        data["edited_timestamp"] = iso_time()
        if not (data["content"] or data["embeds"] or data["components"] or data["attachments"]):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        stored.data.clear()
        stored.data.update(data)

    def _delete_stored(self, stored: StoredMessage) -> None:
        stored.deleted = True
        self._drop_files(stored.data.get("attachments") or [])  # Discord deletes a deleted message's files
        if not stored.ephemeral:
            data = {"id": stored.data["id"], "channel_id": stored.data["channel_id"]}
            if stored.guild_id is not None:
                data["guild_id"] = str(stored.guild_id)
            intent = Intent.GUILD_MESSAGES if stored.guild_id is not None else Intent.DIRECT_MESSAGES
            self._dispatch("MESSAGE_DELETE", data, intent=intent, guild_id=stored.guild_id)
