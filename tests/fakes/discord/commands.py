"""Application commands: the registry the bot writes through REST, and the lookup injected actions use.

    emu.global_commands, emu.guild_commands[guild_id]       (registered commands, persist across restarts)
    emu.command_put_count, emu.command_write_count, emu.command_writes (list of RecordedRequest)
    emu.find_command(name, *, ctype=1, guild=None) -> dict     (registered command, guild scope first)

A bulk PUT replaces the scope; a command keeps its id while its name and type stay, and its version while its
definition stays. Names and descriptions are checked as Discord checks them (400 50035).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from .common import DiscordError, form_error, id_of, new_snowflake
from .rest import RecordedRequest


class CommandsMixin:
    """Registered application commands (global and per guild); part of DiscordEmulator."""

    global_commands: list[dict[str, Any]]
    guild_commands: dict[int, list[dict[str, Any]]]
    command_writes: list[RecordedRequest]

    def _init_commands(self) -> None:
        # they persist for the emulator's lifetime, across bot restarts
        self.global_commands = []
        self.guild_commands = {}
        self.command_writes = []

    @property
    def command_put_count(self) -> int:
        return sum(1 for r in self.command_writes if r.method == "PUT")

    @property
    def command_write_count(self) -> int:
        return len(self.command_writes)

    def find_command(self, name: str, *, ctype: int = 1, guild: Any = None) -> dict[str, Any]:
        """The registered command `name` (guild commands of `guild` first, then global)."""
        scopes: list[list[dict[str, Any]]] = []
        if guild is not None:
            scopes.append(self.guild_commands.get(id_of(guild), []))
        scopes.append(self.global_commands)
        for scope in scopes:
            for cmd in scope:
                if cmd["name"] == name and cmd["type"] == ctype:
                    return cmd
        registered = [c["name"] for s in scopes for c in s]
        raise LookupError(f"no registered command {name!r} of type {ctype} (registered: {registered})")

    # ------------------------------------------------------------------ REST routes

    def _command_scope(self, app_id: str, guild_id: str | None) -> list[dict[str, Any]]:
        if int(app_id) != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if guild_id is None:
            return self.global_commands
        g = self._rest_guild(guild_id)
        return self.guild_commands.setdefault(g.id, [])

    def _normalize_command(
        self, body: dict[str, Any], guild_id: str | None, previous: dict[str, Any] | None
    ) -> dict[str, Any]:
        ctype = int(body.get("type") or 1)
        name = body.get("name") or ""
        if not name or len(name) > 32:
            raise form_error("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        if ctype == 1 and (not re.fullmatch(r"[-_\w]{1,32}", name) or name != name.lower()):
            raise form_error("name", "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        description = body.get("description") or ""
        if ctype == 1 and not 1 <= len(description) <= 100:
            raise form_error("description", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        cmd: dict[str, Any] = {
            "type": ctype,
            "name": name,
            "description": description if ctype == 1 else "",
            # discord.py sends a number; Discord stores and answers it as a string.
            "default_member_permissions": None
            if (perms := body.get("default_member_permissions")) is None
            else str(perms),
            "dm_permission": body["dm_permission"] if body.get("dm_permission") is not None else True,
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
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
                raise form_error(
                    f"{i}.name",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {key[0]}",
                )
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

    async def _r_get_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> Any:
        return self._public_command(
            self._find_scoped_command(self._command_scope(app_id, guild_id), command_id)
        )

    async def _r_patch_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> Any:
        scope = self._command_scope(app_id, guild_id)
        cmd = self._find_scoped_command(scope, command_id)
        merged = {**self._public_command(cmd), **(rec.json or {})}
        new = self._normalize_command(merged, guild_id, cmd)
        scope[scope.index(cmd)] = new
        self.command_writes.append(rec)
        return self._public_command(new)

    async def _r_delete_command(
        self, rec: RecordedRequest, app_id: str, command_id: str, guild_id: str | None = None
    ) -> Any:
        scope = self._command_scope(app_id, guild_id)
        scope.remove(self._find_scoped_command(scope, command_id))
        self.command_writes.append(rec)
        return 204, None
