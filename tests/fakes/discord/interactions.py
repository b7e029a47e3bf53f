"""Interactions: delivery to the bot, the callback, followups and @original, and Discord's rules for them.

InteractionHandle (what one injected interaction led to; the actions in actions.py return them)::

    h.id, h.token, h.type, h.payload, h.delivered, h.dispatched_at
    h.shard ((shard id, shard count) of the session it was sent to: the newest live one of the shard that owns
             its guild, shard 0 for a DM, or each in turn with emu.interaction_routing = "round_robin";
             None if no such session was live); h.session_id, that session's id
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

    emu.interactions (every InteractionHandle)
    emu.ack_deadline, emu.token_lifetime                    (10062 / 40060 / 50027 rules)

The rules: a callback later than ``ack_deadline`` (3 s, on the emulator's clock) after dispatch, or with a
wrong token, answers 404 10062; a second callback 400 40060; a callback type the interaction does not take
400 50035. Followups and @original need an acknowledged interaction and a token younger than
``token_lifetime`` (15 min): otherwise 404 10015 / 401 50027. The first followup after a type-5 defer fills
the "thinking" message and keeps the defer's ephemerality, as Discord documents.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .common import DiscordError, form_error, new_snowflake
from .messages import FLAG_EPHEMERAL, FLAG_LOADING, StoredMessage, message_text
from .rest import RecordedRequest
from .world import Channel, Guild, User

if TYPE_CHECKING:
    from .emulator import DiscordEmulator


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

    def __init__(
        self,
        emu: DiscordEmulator,
        payload: dict[str, Any],
        *,
        user_id: int,
        channel_id: int,
        guild_id: int | None,
        message_id: int | None,
    ) -> None:
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
        self.shard: tuple[int, int] | None = None  # (id, count) of the session it went to
        self.session_id: str | None = None  # and that session's id (one per gateway connection's IDENTIFY)
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
        return (
            f"<InteractionHandle id={self.id} type={self.type} callbacks={[c.type for c in self.callbacks]}>"
        )

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
        return await self._emu.wait_for(
            lambda: predicate(self), timeout=timeout, what=f"interaction {self.id} condition"
        )

    async def wait_response(self, timeout: float = 5.0) -> CallbackRecord:
        """The first callback attempt (accepted or rejected)."""
        return await self._emu.wait_for(
            lambda: self.callbacks[0] if self.callbacks else None,
            timeout=timeout,
            what=f"a callback to interaction {self.id}",
        )

    async def wait_followup(self, count: int = 1, timeout: float = 5.0) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            f = self.followups
            return f[count - 1] if len(f) >= count else None

        return await self._emu.wait_for(check, timeout=timeout, what=f"followup #{count} of {self.id}")

    async def wait_text(self, substring: str, timeout: float = 5.0) -> str:
        return await self._emu.wait_for(
            lambda: substring in self.text() and self.text(),
            timeout=timeout,
            what=f"text {substring!r} in interaction {self.id}",
        )


class InteractionsMixin:
    """Delivering interactions and answering their REST routes; part of DiscordEmulator."""

    interactions: list[InteractionHandle]

    def _init_interactions(self) -> None:
        self.interactions = []
        #: "newest" (Discord's choice as emulated: the newest live session of the owning shard) or
        #: "round_robin" (each live session of that shard in turn: several processes running one shard).
        self.interaction_routing = "newest"
        self._round_robin = 0
        self._interactions_by_id: dict[int, InteractionHandle] = {}
        self._interactions_by_token: dict[str, InteractionHandle] = {}

    # ------------------------------------------------------------------ delivery

    def _interaction_envelope(
        self,
        itype: int,
        data: dict[str, Any] | None,
        u: User,
        ch: Channel,
        g: Guild | None,
        *,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(new_snowflake()),
            "application_id": str(self.application_id),
            "type": itype,
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48),
            "version": 1,
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.upload_limit(g if g is not None else ch),
            "app_permissions": str(self.permissions_for(self.bot_user, ch)),
            "channel_id": str(ch.id),
            "channel": {**self._channel_payload(ch), "permissions": str(self.permissions_for(u, ch))},
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

    async def _deliver(
        self, payload: dict[str, Any], u: User, ch: Channel, g: Guild | None, message_id: int | None = None
    ) -> InteractionHandle:
        h = InteractionHandle(
            self, payload, user_id=u.id, channel_id=ch.id, guild_id=g.id if g else None, message_id=message_id
        )
        self.interactions.append(h)
        self._interactions_by_id[h.id] = h
        self._interactions_by_token[h.token] = h
        # Discord delivers an interaction to one session: the newest live one of the guild's shard (DMs: 0);
        # with interaction_routing = "round_robin", each live session of that shard in turn (two processes
        # running the same shards, as in a blue-green deploy: a member's requests reach both).
        gid = g.id if g else None
        owning = sorted((s for s in self._live_sessions() if s.owns(gid)), key=lambda s: s.identified_at)
        if self.interaction_routing == "round_robin" and owning:
            self._round_robin += 1
            sessions = [owning[self._round_robin % len(owning)]]
        else:
            sessions = owning[-1:]
        h.shard = sessions[0].shard if sessions else None
        h.session_id = sessions[0].id if sessions else None
        public = {k: v for k, v in payload.items() if not k.startswith("_")}
        h.delivered = self._dispatch("INTERACTION_CREATE", public, sessions=sessions, guild_id=gid) > 0
        h.dispatched_at = self.now()
        await self._flush()
        return h

    def _interaction_metadata(self, h: InteractionHandle) -> dict[str, Any]:
        owners = h.payload.get("authorizing_integration_owners", {})
        meta: dict[str, Any] = {
            "id": str(h.id),
            "type": h.type,
            "user": self._user_payload(self.users[h.user_id]),
            "authorizing_integration_owners": owners,
        }
        if h.type == 2:
            meta["name"] = h.payload["data"].get("name", "")
            meta["command_type"] = h.payload["data"].get("type", 1)
        elif h.type == 3:
            meta["interacted_message_id"] = str(h.message_id)
        elif h.type == 5:
            trigger = h.payload.get("_trigger")
            meta["triggering_interaction_metadata"] = trigger or {
                "id": str(h.id),
                "type": 2,
                "user": self._user_payload(self.users[h.user_id]),
                "authorizing_integration_owners": owners,
            }
        return meta

    # ------------------------------------------------------------------ REST: the callback

    # interaction type -> callback types Discord accepts for it
    _CALLBACKS_ALLOWED: ClassVar[dict[int, frozenset[int]]] = {
        1: frozenset({1}),
        2: frozenset({4, 5, 9, 12}),
        3: frozenset({4, 5, 6, 7, 9, 12}),
        4: frozenset({8}),
        5: frozenset({4, 5, 6, 7}),
    }

    async def _r_callback(self, rec: RecordedRequest, interaction_id: str, token: str) -> Any:
        h = self._interactions_by_id.get(int(interaction_id))
        body = rec.json or {}
        cb_type = body.get("type")
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        attempt = CallbackRecord(
            cb_type, copy.deepcopy(data), flags, bool(flags & FLAG_EPHEMERAL), rec.files, self.now(), 0
        )
        try:
            if h is None or not secrets.compare_digest(h.token, token):
                raise DiscordError(404, 10062, "Unknown interaction")
            if h.acknowledged:
                raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
            if self.now() - h.dispatched_at > self.ack_deadline:
                raise DiscordError(404, 10062, "Unknown interaction")
            if cb_type not in self._CALLBACKS_ALLOWED.get(h.type, frozenset()) or (
                cb_type in (6, 7) and h.message_id is None
            ):
                raise form_error(
                    "type",
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    "Interaction response type is not valid for this interaction",
                )
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

    def _apply_callback(
        self, h: InteractionHandle, cb_type: int, data: dict[str, Any], files: list[tuple[str, bytes, str]]
    ) -> dict[str, Any] | None:
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
            stored = self._new_message(
                channel,
                self.bot_user,
                body,
                files,
                ephemeral=ephemeral,
                webhook=True,
                mtype=mtype,
                interaction=h,
                flags=(flags & ~FLAG_EPHEMERAL) | (FLAG_LOADING if cb_type == 5 else 0),
            )
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
                raise form_error("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
            for i, choice in enumerate(choices):
                if not 1 <= len(str(choice.get("name", ""))) <= 100:
                    raise form_error(
                        f"data.choices.{i}.name",
                        "BASE_TYPE_BAD_LENGTH",
                        "Must be between 1 and 100 in length.",
                    )
            h.choices = copy.deepcopy(choices)
            return None
        if cb_type == 9:
            if not 1 <= len(data.get("title") or "") <= 45:
                raise form_error("data.title", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 45 in length.")
            if not 1 <= len(data.get("components") or []) <= 5:
                raise form_error(
                    "data.components", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length."
                )
            h.modal = copy.deepcopy(data)
            return None
        return None  # 1 pong, 6 deferred update, 12 launch activity

    @staticmethod
    def _response_message_type(h: InteractionHandle) -> int:
        if h.type == 2:
            return 23 if h.payload.get("data", {}).get("type", 1) in (2, 3) else 20
        return 0

    # ------------------------------------------------------------------ REST: followups and @original

    def _webhook_handle(self, app_id: str, token: str) -> InteractionHandle:
        h = self._interactions_by_token.get(token)
        if h is None or int(app_id) != self.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if self.now() - h.dispatched_at > self.token_lifetime:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not h.acknowledged:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return h

    def _webhook_message(self, h: InteractionHandle, message_id: str) -> StoredMessage:
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
            stored = self._new_message(
                channel,
                self.bot_user,
                body,
                rec.files,
                ephemeral=bool(flags & FLAG_EPHEMERAL),
                webhook=True,
                mtype=self._response_message_type(h),
                interaction=h,
                flags=flags & ~FLAG_EPHEMERAL,
            )
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
