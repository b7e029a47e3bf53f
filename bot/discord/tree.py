"""The bot's command tree: the one place that turns a failed app command into a private answer."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord import embeds

log = logging.getLogger(__name__)


def permission_names(permissions: list[str]) -> str:
    """`["manage_guild"]` → "Manage Server", as Discord's own settings name them."""
    return ", ".join(p.replace("_", " ").replace("guild", "server").title() for p in permissions)


def command_label(interaction: discord.Interaction) -> str:
    command = interaction.command
    if isinstance(command, app_commands.Command):
        return f"/{command.qualified_name}"
    return f"“{command.name}”" if command is not None else "This command"


class BotTree(app_commands.CommandTree):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError, /
    ) -> None:
        """One private answer per failed command (slash or context menu), deferred or not.

        The first match wins (MissingPermissions is a CheckFailure, so it comes first):
        1. MissingPermissions: the member lacks a permission → "Not allowed", naming it.
        2. any other CheckFailure (a check, guild_only, NoPrivateMessage…) → "Not allowed".
        3. TransformerError: Discord sent an option value the command can't use → which value, as what.
        4. anything else (CommandInvokeError around a bug or an outage…) → logged with its traceback,
           and the member gets the generic OOPS.
        There are no cooldown decorators: a member's pace is policy (bot.core.policy), refused in the cog.
        """
        if isinstance(error, app_commands.MissingPermissions):
            needed = permission_names(error.missing_permissions)
            noun = "permission" if len(error.missing_permissions) == 1 else "permissions"
            embed = embeds.refusal_embed(
                "Not allowed",
                [f"{command_label(interaction)} needs the {needed} {noun} on this server."],
                "Ask someone who manages the server.",
            )
        elif isinstance(error, app_commands.CheckFailure):
            embed = embeds.refusal_embed("Not allowed", ["You can't use this command here."])
        elif isinstance(error, app_commands.TransformerError):
            if error.__cause__ is not None:
                log.warning("converting an option failed", exc_info=error.__cause__)
            kind = error.type.name  # "channel", "role", "user"…
            value = embeds.clip(str(error.value), 100)
            hint = "Pick one I can see, then try again." if kind == "channel" else "Pick another one."
            embed = embeds.refusal_embed("That didn't work", [f"I can't use {value} as a {kind}."], hint)
        else:
            log.error("command %s failed", command_label(interaction), exc_info=error)
            embed = embeds.OOPS
        await embeds.send_private(interaction, embed)
