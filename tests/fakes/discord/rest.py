"""REST: routing, recording, spec validation and injected errors, and the plain REST routes.

Every route is in ``REST_ROUTES``, or in ``UNDESCRIBED_ROUTES`` (documented by Discord, missing from its
OpenAPI description: not validated, each listed with where its shape comes from). Each request is recorded
and, with ``validate_spec=True``, its body and the answer are checked against Discord's OpenAPI description
(spec.py); a route missing from the table answers
404 and is listed in ``unhandled_requests``. Errors come in Discord's shape (403 50001/50013/50007,
404 10003/10004/10007/10008/10013 ...). Application command routes are in commands.py, interaction and
webhook routes in interactions.py.

    emu.requests (RecordedRequest: method, path, query, json, files[(filename, bytes, ctype)], time,
                  status, response, multipart, injected; the Authorization value is never recorded)
    emu.requests_to(method, path_regex) -> list[RecordedRequest]
    await emu.wait_for_request(method, path_regex, timeout=5.0) -> RecordedRequest
    emu.inject_rest_error(method, path_regex, status, body=None, *, times=1, headers=None, when=None,
                          accepted=False, hold=0.0)
        when(rec) -> bool: only requests it accepts (e.g. lambda r: bool(r.files)) count, and use up `times`
        accepted=True: Discord did the work (the message is created, MESSAGE_CREATE sent), then answered
        `status`; rec.accepted holds the answer it did not send. hold: seconds the answer is held after the
        work (until emu.release_held()), so a client can be killed in between
    emu.release_held()                   send every held answer now
    emu.spec_violations (list[str]), emu.unhandled_requests (list[str])
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from .common import DiscordError, form_error
from .messages import StoredMessage
from .spec import get_validator
from .world import GUILD_FORUM, Channel, Guild, Perm

log = logging.getLogger("tests.fakes.discord")


def _posting(ch: Channel) -> Perm:
    """The permission that lets one post in `ch`: in a thread it is Send Messages in Threads."""
    return Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES


# Every REST route the emulator answers: (method, path regex relative to /api/v10, handler method, needs
# bot auth). The OpenAPI excerpt holds exactly the operations these routes serve (see spec.py).
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
    (
        "PUT",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "_r_reaction",
        True,
    ),
    (
        "DELETE",
        r"/channels/(?P<channel_id>\d+)/messages/(?P<message_id>\d+)/reactions/(?P<emoji>[^/]+)/@me",
        "_r_reaction",
        True,
    ),
    ("POST", r"/channels/(?P<channel_id>\d+)/typing", "_r_typing", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)", "_r_guild", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/channels", "_r_guild_channels", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/roles", "_r_guild_roles", True),
    ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", "_r_member", True),
    (
        "GET",
        r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands",
        "_r_list_commands",
        True,
    ),
    ("PUT", r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands", "_r_put_commands", True),
    (
        "POST",
        r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands",
        "_r_post_command",
        True,
    ),
    (
        "GET",
        r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands/(?P<command_id>\d+)",
        "_r_get_command",
        True,
    ),
    (
        "PATCH",
        r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands/(?P<command_id>\d+)",
        "_r_patch_command",
        True,
    ),
    (
        "DELETE",
        r"/applications/(?P<app_id>\d+)(?:/guilds/(?P<guild_id>\d+))?/commands/(?P<command_id>\d+)",
        "_r_delete_command",
        True,
    ),
    ("POST", r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback", "_r_callback", False),
    ("POST", r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)", "_r_followup", False),
    (
        "GET",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "_r_webhook_get",
        False,
    ),
    (
        "PATCH",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "_r_webhook_edit",
        False,
    ),
    (
        "DELETE",
        r"/webhooks/(?P<app_id>\d+)/(?P<token>[^/]+)/messages/(?P<message_id>@original|\d+)",
        "_r_webhook_delete",
        False,
    ),
)

# Routes Discord serves and documents in prose but its OpenAPI description does not hold, so the excerpt has
# no operation for them and their traffic is not validated against it; each handler checks the shapes itself.
# The test that keeps the excerpt current (tests/test_discord_emulator.py) lists them by name and fails if
# one appears here unlisted, or once the description gains an operation for it.
#   POST /attachments/refresh-urls: Discord's reference, "Signed Attachment CDN URLs" (docs/reference.md in
#   discord/discord-api-docs): {"attachment_urls": [url, ...]} (1-50) -> {"refreshed_urls": [{"original":
#   url, "refreshed": url}, ...]}; served by files.py's _r_refresh_urls.
UNDESCRIBED_ROUTES: tuple[tuple[str, str, str, bool], ...] = (
    ("POST", r"/attachments/refresh-urls", "_r_refresh_urls", True),
)
_UNDESCRIBED_HANDLERS = frozenset(handler for _, _, handler, _ in UNDESCRIBED_ROUTES)


def _described(route: tuple[Callable[..., Any], dict[str, Any], bool] | None) -> bool:
    """Whether a matched route's traffic is checked against Discord's description (not one of the above)."""
    return route is not None and route[0].__name__ not in _UNDESCRIBED_HANDLERS


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
    accepted: Any = None  # with an accepted-then-failed injection: the answer Discord would have sent


class RestMixin:
    """The REST entry point, its records, and the routes that are not about commands or interactions;
    part of DiscordEmulator."""

    requests: list[RecordedRequest]
    spec_violations: list[str]
    unhandled_requests: list[str]

    def _init_rest(self) -> None:
        self.requests = []
        self.spec_violations = []
        self.unhandled_requests = []
        self._injected: list[dict[str, Any]] = []
        self._release_held = asyncio.Event()
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any], bool]]:
        return [
            (m, re.compile(p + "/?$"), getattr(self, h), auth)
            for m, p, h, auth in (*REST_ROUTES, *UNDESCRIBED_ROUTES)
        ]

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
        rec = RecordedRequest(
            method,
            path,
            dict(request.query),
            None,
            [],
            self.now(),
            authorized="Authorization" in request.headers,
        )
        route: tuple[Callable[..., Any], dict[str, Any], bool] | None = None
        try:
            try:
                rec.json, rec.files, rec.multipart = await self._parse_body(request)
            except ValueError:
                raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
            route = next(
                (
                    (h, m.groupdict(), auth)
                    for meth, rx, h, auth in self._routes
                    if meth == method and (m := rx.match(path))
                ),
                None,
            )
            injected = next(
                (
                    i
                    for i in self._injected
                    if i["times"] > 0
                    and i["method"] in (method, "*")
                    and i["rx"].search(path)
                    and (i["when"] is None or i["when"](rec))
                ),
                None,
            )
            if injected is not None:
                injected["times"] -= 1
            if injected is not None and not injected["accepted"]:
                rec.injected = True
                rec.status, rec.response = injected["status"], injected["body"]
                self._record(rec, validate_response=False, known=_described(route))
                return self._injected_answer(rec, injected)
            if route is None:
                self.unhandled_requests.append(f"{method} {path}")
                raise DiscordError(404, 0, "404: Not Found")
            handler, params, needs_auth = route
            if needs_auth:
                self._check_auth(request)
            result = await handler(rec, **{k: v for k, v in params.items() if v is not None})
            status, body = result if isinstance(result, tuple) else (200, result)
            if injected is not None:
                return await self._answer_accepted(rec, injected, body)
        except DiscordError as e:
            status, body = e.status, e.body()
        rec.status, rec.response = status, body
        # a request no route takes is still checked (and flagged: Discord describes no such operation)
        self._record(rec, validate_response=True, known=route is None or _described(route))
        return self._json_response(status, body)

    async def _answer_accepted(
        self, rec: RecordedRequest, injected: dict[str, Any], body: Any
    ) -> web.Response:
        """The work is done (and recorded); the answer is the injected failure, after an optional hold."""
        rec.injected, rec.accepted = True, body
        rec.status, rec.response = injected["status"], injected["body"]
        self._record(rec, validate_response=False, known=True)
        if injected["hold"] > 0:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._release_held.wait(), injected["hold"])
        return self._injected_answer(rec, injected)

    def _injected_answer(self, rec: RecordedRequest, injected: dict[str, Any]) -> web.Response:
        if isinstance(rec.response, (dict, list)):
            return self._json_response(rec.status or 500, rec.response, injected["headers"])
        return web.Response(
            status=rec.status or 500, text=str(rec.response or ""), headers=injected["headers"]
        )

    def release_held(self) -> None:
        """Send every answer held by an accepted-then-failed injection now."""
        event, self._release_held = self._release_held, asyncio.Event()
        event.set()

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

    # ------------------------------------------------------------------ recording and injection

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        rx = re.compile(path_regex)
        return [
            r for r in self.requests if (method == "*" or r.method == method.upper()) and rx.search(r.path)
        ]

    async def wait_for_request(self, method: str, path_regex: str, timeout: float = 5.0) -> RecordedRequest:
        def last() -> RecordedRequest | None:
            found = self.requests_to(method, path_regex)
            return found[-1] if found else None

        return await self.wait_for(last, timeout=timeout, what=f"{method} {path_regex}")

    def inject_rest_error(
        self,
        method: str,
        path_regex: str,
        status: int,
        body: Any = None,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        when: Callable[[RecordedRequest], bool] | None = None,
        accepted: bool = False,
        hold: float = 0.0,
    ) -> None:
        """The next `times` requests matching (and accepted by `when`) answer `status` (e.g. 500/503 hiccups,
        or 429). With `accepted`, Discord first does the work as usual (the message is created), then answers
        `status` instead, after holding the answer up to `hold` seconds (see release_held)."""
        if body is None:
            if status == 429:
                body = {
                    "message": "You are being rate limited.",
                    "retry_after": 0.05,
                    "global": False,
                    "code": 0,
                }
            else:
                body = {"message": f"{status}: injected error", "code": 0}
        hdrs = dict(headers or {})
        if status == 429:
            hdrs.setdefault("Via", "1.1 google")
            hdrs.setdefault("Retry-After", str(body.get("retry_after", 1) if isinstance(body, dict) else 1))
        self._injected.append(
            {
                "method": method.upper(),
                "rx": re.compile(path_regex),
                "status": status,
                "body": body,
                "times": times,
                "headers": hdrs,
                "when": when,
                "accepted": accepted,
                "hold": hold,
            }
        )

    # ------------------------------------------------------------------ gateway, users, application

    async def _r_gateway(self, rec: RecordedRequest) -> Any:
        return {"url": self.gateway_url}

    async def _r_gateway_bot(self, rec: RecordedRequest) -> Any:
        return {
            "url": self.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - self.identify_count,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

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
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "type": None,
            "summary": "",
            "bot": self._user_payload(self.bot_user),
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": flags,
            "flags_new": str(flags),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": self._user_payload(self.owner if hasattr(self, "owner") else self.bot_user),
            "approximate_guild_count": len(self.guilds),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": [],
            "tags": [],
            "rpc_origins": [],
            "integration_types_config": {"0": {}},
        }

    async def _r_create_dm(self, rec: RecordedRequest) -> Any:
        recipient = (rec.json or {}).get("recipient_id")
        if recipient is None or int(recipient) not in self.users:
            raise form_error("recipient_id", "USER_NOT_FOUND", "Unknown user")
        return self._channel_payload(self.dm_channel(int(recipient)))

    # ------------------------------------------------------------------ channels, messages

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

    def _rest_stored(self, ch: Channel, message_id: str) -> StoredMessage:
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
            before = [m for m, i in zip(msgs, ids, strict=True) if i < pivot][-(limit // 2) :]
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
        if ch.type == GUILD_FORUM:
            raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
        if ch.guild_id is not None:
            perms = self.permissions_for(self.bot_user, ch)
            if not perms & _posting(ch):
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
        earlier = self._earlier_by_nonce(self.bot_user, body)
        if earlier is not None:  # enforce_nonce: the same message again; nothing created, nothing dispatched
            return self._created_answer(earlier)
        stored = self._new_message(ch, self.bot_user, body, rec.files)
        self._save_message(stored)
        self._remember_nonce(self.bot_user, stored)
        self._dispatch_message("MESSAGE_CREATE", stored)
        return self._created_answer(stored)

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
        if (
            int(stored.data["author"]["id"]) != self.bot_user.id
            and ch.guild_id is not None
            and not self.permissions_for(self.bot_user, ch) & Perm.MANAGE_MESSAGES
        ):
            raise DiscordError(403, 50013, "Missing Permissions")
        self._delete_stored(stored)
        return 204, None

    async def _r_reaction(self, rec: RecordedRequest, channel_id: str, message_id: str, emoji: str) -> Any:
        ch = self._rest_channel(channel_id, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
        stored = self._rest_stored(ch, message_id)
        name = unquote(emoji)
        reactions = stored.data.setdefault("reactions", [])
        existing = next((r for r in reactions if r["emoji"]["name"] == name), None)
        if rec.method == "PUT":
            if (
                ch.guild_id is not None
                and not self.permissions_for(self.bot_user, ch) & Perm.ADD_REACTIONS
                and existing is None
            ):
                raise DiscordError(403, 50013, "Missing Permissions")
            if existing is None:
                reactions.append(
                    {
                        "emoji": {"id": None, "name": name},
                        "count": 1,
                        "me": True,
                        "me_burst": False,
                        "burst_colors": [],
                        "burst_count": 0,
                        "count_details": {"burst": 0, "normal": 1},
                    }
                )
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
        ch = self._rest_channel(channel_id)
        if ch.guild_id is not None and not self.permissions_for(self.bot_user, ch) & _posting(ch):
            raise DiscordError(403, 50013, "Missing Permissions")
        return 204, None

    # ------------------------------------------------------------------ guilds

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
