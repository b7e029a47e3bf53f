"""The bot's command tree: the one place that turns a failed app command into a private answer."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.discord import embeds
from bot.discord.requests import interaction_locale
from bot.i18n import Msg, all_of, msg

log = logging.getLogger(__name__)


#: The member permissions our commands require, named as Discord's settings name them in each language.
_PERMISSION_NAMES = {"manage_guild": msg("Manage Server")}
#: The kinds of option values discord.py converts (`AppCommandOptionType.name`), as a member calls them.
_KINDS = {
    "channel": msg("channel"),
    "role": msg("role"),
    "user": msg("user"),
    "mentionable": msg("user or role"),
    "attachment": msg("file"),
}


def permission_names(permissions: list[str]) -> Msg:
    """`["manage_guild"]` → "Manage Server", as Discord's own settings name them (in the member's language
    once localised); a permission we don't list is spelt out in English."""
    return all_of(
        _PERMISSION_NAMES.get(p) or p.replace("_", " ").replace("guild", "server").title()
        for p in permissions
    )


def command_label(interaction: discord.Interaction) -> str:
    command = interaction.command
    if isinstance(command, app_commands.Command):
        return f"/{command.qualified_name}"
    return f"“{command.name}”" if command is not None else msg("This command")


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
           and the member gets the generic oops_embed, in their language.
        There are no cooldown decorators: a member's pace is policy (bot.core.policy), refused in the cog.
        """
        locale = interaction_locale(interaction)
        if isinstance(error, app_commands.MissingPermissions):
            needed = permission_names(error.missing_permissions)
            command = command_label(interaction)
            if len(error.missing_permissions) == 1:
                problem = msg(
                    "{command} needs the {permission} permission on this server.",
                    command=command,
                    permission=needed,
                )
            else:
                problem = msg(
                    "{command} needs the {permissions} permissions on this server.",
                    command=command,
                    permissions=needed,
                )
            embed = embeds.refusal_embed(
                msg("Not allowed"), [problem], msg("Ask someone who manages the server."), locale=locale
            )
        elif isinstance(error, app_commands.CheckFailure):
            embed = embeds.refusal_embed(
                msg("Not allowed"), [msg("You can't use this command here.")], locale=locale
            )
        elif isinstance(error, app_commands.TransformerError):
            if error.__cause__ is not None:
                log.warning("converting an option failed", exc_info=error.__cause__)
            kind = error.type.name  # "channel", "role", "user"…
            value = embeds.clip(str(error.value), 100)
            hint = (
                msg("Pick one I can see, then try again.") if kind == "channel" else msg("Pick another one.")
            )
            problem = msg("I can't use {value} as a {kind}.", value=value, kind=_KINDS.get(kind, kind))
            embed = embeds.refusal_embed(msg("That didn't work"), [problem], hint, locale=locale)
        else:
            log.error("command %s failed", command_label(interaction), exc_info=error)
            embed = embeds.oops_embed(locale)
        await embeds.send_private(interaction, embed)
