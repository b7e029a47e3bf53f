"""Injected user actions: what a member does in Discord's client, delivered to the bot as Discord would.

Each returns an ``InteractionHandle`` (interactions.py) unless noted::

    await emu.slash_command(name, options=None, *, user=None, channel=None, subcommand=None,
                            attachments=(), locale="en-US", validate=True)
        (subcommand: "sub" or "group sub"; raises ValueError when Discord's client would refuse the input:
         unknown option, wrong type, missing required, outside min/max or choices)
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
        (channel may be a thread or forum post; a forum itself takes no messages: see emu.add_thread)
    await emu.edit_user_message(message, content) -> dict  /  await emu.delete_user_message(message)
    await emu.remove_user_attachments(message, keep=()) -> dict  (the removed files leave the CDN)

The user defaults to ``emu.default_user`` and the channel to ``emu.channel``; commands are looked up among
the registered ones (commands.py), so an action fails as Discord's client would when the bot has not
registered what it names.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from .common import id_of
from .interactions import InteractionHandle
from .messages import StoredMessage, walk_components
from .world import ALL_PERMISSIONS, GUILD_FORUM, Channel, Guild, User


class ActionsMixin:
    """The user's side of Discord's client; part of DiscordEmulator."""

    # ------------------------------------------------------------------ context and options

    def _context(self, user: Any, channel: Any) -> tuple[User, Channel, Guild | None]:
        u = self._user(user if user is not None else self.default_user)
        ch = self._channel(channel if channel is not None else self.channel)
        if ch.deleted:
            raise ValueError(f"channel {ch.id} was deleted")
        if ch.type == GUILD_FORUM:
            raise ValueError(f"channel {ch.id} is a forum: act in one of its posts (emu.add_thread)")
        g = self.guilds[ch.guild_id] if ch.guild_id is not None else None
        if g is not None and u.id not in g.members:
            raise ValueError(f"user {u.username} is not a member of guild {g.name}")
        if g is None and ch.recipient_id != u.id:
            raise ValueError(f"channel {ch.id} is the DM of another user")
        return u, ch, g

    def _resolve_option(
        self,
        d: dict[str, Any],
        value: Any,
        resolved: dict[str, dict[str, Any]],
        g: Guild | None,
        ch: Channel,
        *,
        focused: bool,
        validate: bool,
    ) -> dict[str, Any]:
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
        if (
            t in (4, 10)
            and validate
            and (
                ("min_value" in d and value < d["min_value"]) or ("max_value" in d and value > d["max_value"])
            )
        ):
            raise ValueError(
                f"option {d['name']}: {value} outside [{d.get('min_value')}, {d.get('max_value')}]"
            )
        if (
            t in (3, 4, 10)
            and validate
            and d.get("choices")
            and value not in [c["value"] for c in d["choices"]]
        ):
            raise ValueError(f"option {d['name']}: {value!r} is not one of the command's choices")
        if t in (6, 9) and not (t == 9 and g is not None and id_of(value) in g.roles):
            u = self._user(value)
            resolved.setdefault("users", {})[str(u.id)] = self._user_payload(u)
            if g is not None and u.id in g.members:
                m = self._member_payload(g.members[u.id], with_user=False, channel=ch)
                resolved.setdefault("members", {})[str(u.id)] = m
            value = str(u.id)
        elif t in (8, 9):
            assert g is not None, "role options need a guild"
            r = g.roles[id_of(value)]
            resolved.setdefault("roles", {})[str(r.id)] = self._role_payload(r)
            value = str(r.id)
        elif t == 7:
            c = self._channel(value)
            resolved.setdefault("channels", {})[str(c.id)] = {
                "id": str(c.id),
                "name": c.name,
                "type": c.type,
                "permissions": str(ALL_PERMISSIONS),
                "parent_id": str(c.parent_id) if c.parent_id else None,
                "flags": 0,
            }
            if c.is_thread:
                resolved["channels"][str(c.id)]["thread_metadata"] = self._channel_payload(c)[
                    "thread_metadata"
                ]
            value = str(c.id)
        elif t == 11:
            filename, data, ctype = value
            f = self._store_file(
                filename, data, ctype, where=f"ephemeral-attachments/{self.application_id}", ephemeral=True
            )
            resolved.setdefault("attachments", {})[str(f.id)] = self._attachment_payload(f)
            value = str(f.id)
        out["value"] = value
        return out

    def _build_options(
        self,
        cmd: dict[str, Any],
        options: dict[str, Any] | None,
        subcommand: Any,
        attachments: Sequence[tuple[str, bytes, str]],
        g: Guild | None,
        ch: Channel,
        resolved: dict[str, dict[str, Any]],
        *,
        focused: str | None = None,
        validate: bool = True,
    ) -> list[dict[str, Any]]:
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
            raise ValueError(
                f"{len(pending_files)} attachment(s) left over: the command has no more ATTACHMENT options"
            )
        built = []
        by_name = {d["name"]: d for d in defs}
        for name, value in values.items():
            if name not in by_name:
                raise ValueError(f"{cmd['name']} has no option {name!r} (has: {list(by_name)})")
            built.append(
                self._resolve_option(
                    by_name[name], value, resolved, g, ch, focused=name == focused, validate=validate
                )
            )
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

    # ------------------------------------------------------------------ commands

    async def slash_command(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user: Any = None,
        channel: Any = None,
        subcommand: Any = None,
        attachments: Sequence[tuple[str, bytes, str]] = (),
        locale: str = "en-US",
        validate: bool = True,
    ) -> InteractionHandle:
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

    async def autocomplete(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        focused: str,
        user: Any = None,
        channel: Any = None,
        subcommand: Any = None,
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
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

    async def message_context_menu(
        self, name: str, target_message: Any, *, user: Any = None, channel: Any = None
    ) -> InteractionHandle:
        stored = self._message_index[id_of(target_message)]
        if channel is None:
            channel = int(stored.data["channel_id"])
        u, ch, g = self._context(user, channel)
        cmd = self.find_command(name, ctype=3, guild=g)
        target = copy.deepcopy(stored.data)
        if g is not None:
            target["guild_id"] = str(g.id)
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 3,
            "target_id": stored.data["id"],
            "resolved": {"messages": {stored.data["id"]: target}},
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._deliver(self._interaction_envelope(2, data, u, ch, g), u, ch, g)

    async def user_context_menu(
        self, name: str, target_user: Any, *, user: Any = None, channel: Any = None
    ) -> InteractionHandle:
        u, ch, g = self._context(user, channel)
        cmd = self.find_command(name, ctype=2, guild=g)
        t = self._user(target_user)
        resolved: dict[str, Any] = {"users": {str(t.id): self._user_payload(t)}}
        if g is not None and t.id in g.members:
            resolved["members"] = {
                str(t.id): self._member_payload(g.members[t.id], with_user=False, channel=ch)
            }
        data: dict[str, Any] = {
            "id": cmd["id"],
            "name": name,
            "type": 2,
            "target_id": str(t.id),
            "resolved": resolved,
        }
        if cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        return await self._deliver(self._interaction_envelope(2, data, u, ch, g), u, ch, g)

    # ------------------------------------------------------------------ components and modals

    def _component_message(self, message: Any) -> StoredMessage:
        stored = self._message_index.get(id_of(message))
        if stored is None or stored.deleted:
            raise KeyError(f"unknown message {message!r}")
        return stored

    async def _component_interaction(
        self,
        message: Any,
        custom_id: str,
        user: Any,
        component_types: set[int],
        extra: dict[str, Any],
        locale: str = "en-US",
    ) -> InteractionHandle:
        stored = self._component_message(message)
        comp = next(
            (
                c
                for c in walk_components(stored.data.get("components") or [])
                if c.get("custom_id") == custom_id
            ),
            None,
        )
        if comp is None:
            ids = [c.get("custom_id") for c in walk_components(stored.data.get("components") or [])]
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
        payload = self._interaction_envelope(3, data, u, ch, g, message=msg, locale=locale)
        return await self._deliver(payload, u, ch, g, message_id=int(stored.data["id"]))

    async def click_button(
        self, message: Any, custom_id: str, *, user: Any = None, locale: str = "en-US"
    ) -> InteractionHandle:
        """A member clicks a button; `locale`: their client's language (the interaction's `locale`)."""
        return await self._component_interaction(message, custom_id, user, {2}, {}, locale)

    async def select_option(
        self, message: Any, custom_id: str, values: Sequence[str], *, user: Any = None
    ) -> InteractionHandle:
        return await self._component_interaction(
            message, custom_id, user, {3, 5, 6, 7, 8}, {"values": list(values)}
        )

    async def submit_modal(
        self, handle: InteractionHandle, values: dict[str, Any], *, user: Any = None
    ) -> InteractionHandle:
        """Submit the modal the bot opened in answer to `handle`, mirroring its component tree."""
        if handle.modal is None:
            raise ValueError(
                f"interaction {handle.id} was not answered with a modal (callbacks: "
                f"{[(c.type, c.status) for c in handle.callbacks]})"
            )
        modal = handle.modal
        remaining = dict(values)
        resolved: dict[str, Any] = {}

        def submit(comp: dict[str, Any]) -> dict[str, Any]:
            t = comp["type"]
            if t == 1:
                return {
                    "type": 1,
                    "id": comp.get("id"),
                    "components": [submit(c) for c in comp["components"]],
                }
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
                chosen = (
                    [given]
                    if isinstance(given, str)
                    else list(given or [o["value"] for o in comp.get("options", []) if o.get("default")])
                )
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
                out["values"] = [str(id_of(v)) for v in (given or [])]
            elif t == 19:
                ids = []
                for filename, data, ctype in given or []:
                    f = self._store_file(
                        filename,
                        data,
                        ctype,
                        where=f"ephemeral-attachments/{self.application_id}",
                        ephemeral=True,
                    )
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

    # ------------------------------------------------------------------ messages

    async def post_message(
        self,
        channel: Any = None,
        author: Any = None,
        content: str = "",
        *,
        attachments: Sequence[tuple[str, bytes, str]] = (),
        reference: Any = None,
        mentions: Iterable[Any] = (),
        embeds: Sequence[dict[str, Any]] = (),
        mention_author: bool = True,
    ) -> dict[str, Any]:
        """A user posts in a channel (or a DM: pass the User or its DM channel). Dispatches MESSAGE_CREATE."""
        u = self._user(author if author is not None else self.default_user)
        ch = self._channel(channel if channel is not None else self.channel)
        if ch.guild_id is not None and u.id not in self.guilds[ch.guild_id].members:
            raise ValueError(f"{u.username} is not a member of the channel's guild")
        if ch.type == GUILD_FORUM:
            raise ValueError(f"channel {ch.id} is a forum: post with emu.add_thread, or in one of its posts")
        body: dict[str, Any] = {"content": content, "embeds": list(embeds)}
        extra = [id_of(m) for m in mentions]
        if reference is not None:
            body["message_reference"] = {"message_id": str(id_of(reference))}
            body["allowed_mentions"] = {
                "parse": ["users", "roles", "everyone"],
                "replied_user": mention_author,
            }
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

    async def remove_user_attachments(self, message: Any, keep: Iterable[Any] = ()) -> dict[str, Any]:
        """The author edits attachments out of their message (all but `keep`, attachment dicts or ids); the
        removed files are gone from the CDN."""
        stored = self._component_message(message)
        kept = {str(id_of(a)) for a in keep}
        body = {"attachments": [{"id": a["id"]} for a in stored.data["attachments"] if a["id"] in kept]}
        self._apply_edit(stored, body, [])
        self._dispatch_message("MESSAGE_UPDATE", stored)
        await self._flush()
        return copy.deepcopy(stored.data)

    async def delete_user_message(self, message: Any) -> None:
        self._delete_stored(self._component_message(message))
        self._changed()
        await self._flush()
