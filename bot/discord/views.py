"""Buttons under every posted outcome: Regenerate, Delete, Details; and Cancel under a waiting request's
status message.

They are `DynamicItem`s: the action and the task id live in the custom_id and everything else in the
store, so a button made before a restart works after it (no "this button no longer works"). The bot
registers them in `setup_hook`; delivery attaches `result_view` under every outcome it posts.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.core.pipeline import Submission
from bot.core.policy import Refused
from bot.core.store import Task
from bot.discord import embeds, refresh
from bot.discord.requests import answer_interaction, origin_of_interaction

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

log = logging.getLogger(__name__)

_BUTTONS = {
    "regen": ("Regenerate", "🔁", discord.ButtonStyle.primary),
    "delete": ("Delete", "🗑️", discord.ButtonStyle.secondary),
    "details": ("Details", "ℹ️", discord.ButtonStyle.secondary),
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"grokvideo:(?P<action>regen|delete|details):(?P<task>[0-9]{1,19})",
):
    def __init__(self, action: str, task_id: int) -> None:
        label, emoji, style = _BUTTONS[action]
        super().__init__(
            discord.ui.Button(
                label=label, emoji=emoji, style=style, custom_id=f"grokvideo:{action}:{task_id}"
            )
        )
        self.action = action
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> ResultButton:
        return cls(match["action"], int(match["task"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._act(interaction)
        except Exception:
            log.exception("button %s on task %s failed", self.action, self.task_id)
            await embeds.send_private(interaction, embeds.OOPS)

    async def _act(self, interaction: discord.Interaction) -> None:
        bot: GrokVideoBot = interaction.client  # type: ignore[assignment]
        task = await bot.store.get(self.task_id)
        if task is None:
            await embeds.send_private(
                interaction, embeds.refusal_embed("Unknown video", ["I have no record of this task."])
            )
            return
        if self.action == "details":
            await embeds.send_private(interaction, details_embed(task))
        elif self.action == "delete":
            await self._delete(interaction, bot, task)
        else:
            await self._regenerate(interaction, bot, task)

    async def _delete(self, interaction: discord.Interaction, bot: GrokVideoBot, task: Task) -> None:
        perms = interaction.permissions
        if interaction.user.id != task.requester_id and not (perms.manage_messages or perms.manage_guild):
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    "Not yours to delete", ["Only the member who asked for it or a moderator can."]
                ),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            if interaction.message is not None:
                await interaction.message.delete()
            if task.status_message_id and task.status_message_id != getattr(interaction.message, "id", None):
                channel = bot.get_channel(task.channel_id)
                if isinstance(channel, discord.abc.Messageable):
                    await channel.get_partial_message(task.status_message_id).delete()
        except discord.NotFound:
            pass  # already gone: the goal is reached
        except discord.HTTPException as exc:
            log.info("task %s: delete failed: %s", task.id, exc)
            await embeds.send_private(
                interaction,
                embeds.refusal_embed("Couldn't delete it", ["Discord refused: I may lack permissions here."]),
            )
            return
        await embeds.send_private(interaction, embeds.info_embed("🗑️ Deleted", f"Task #{task.id} is gone."))

    async def _regenerate(self, interaction: discord.Interaction, bot: GrokVideoBot, task: Task) -> None:
        if interaction.user.id != task.requester_id and not interaction.permissions.manage_guild:
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    "Not yours to regenerate",
                    ["Only the member who asked for this video (or a server admin) can regenerate it."],
                    "Use /video to make your own.",
                ),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Discord's image links expire in about a day: current ones, or a refusal before anything is spent.
        hosts = refresh.cdn_hosts(bot.settings.discord_api_base_url)
        request = await refresh.refreshed_request(bot, bot.store, task, hosts)
        if isinstance(request, Refused):
            await answer_interaction(interaction, request)
            return
        # The same pipeline as /video: checks, the clicker's own allowance, status message, answer.
        origin = origin_of_interaction(interaction, "regenerate", origin_message_id=task.id)
        await answer_interaction(interaction, await bot.pipeline.submit(Submission(request, origin)))


def _when(moment: float | None) -> str:
    return "—" if moment is None else f"<t:{int(moment)}:f>"


def details_embed(task: Task) -> discord.Embed:
    embed = discord.Embed(
        title=f"Task #{task.id}",
        description=embeds.clip(task.request.prompt, embeds.DESCRIPTION_LIMIT),
        colour=embeds.BLURPLE,
    )
    embed.add_field(name="Requested by", value=f"<@{task.requester_id}>")
    embed.add_field(name="Model", value=task.request.model)
    embed.add_field(name="Options", value=embeds.options_line(task))
    embed.add_field(
        name="State", value=f"{task.state.value}" + (f" ({task.outcome})" if task.outcome else "")
    )
    embed.add_field(name="Video-seconds counted", value=str(task.billed_seconds))
    embed.add_field(name="Provider task", value=embeds.clip(embeds.plain(task.api_id or "—"), 100))
    started = task.submitted_at or task.created_at
    took = embeds.format_elapsed(task.finished_at - started) if task.finished_at else "—"
    timings = (
        f"Asked {_when(task.created_at)}\nSubmitted {_when(task.submitted_at)}\n"
        f"Finished {_when(task.finished_at)} (took {took})\nPosted {_when(task.delivered_at)}"
    )
    embed.add_field(name="Timings", value=timings, inline=False)
    if task.failure_reason:
        embed.add_field(
            name="Why it failed",
            value=embeds.clip(embeds.plain(task.failure_reason), embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
    embed.timestamp = dt.datetime.fromtimestamp(task.created_at, tz=dt.UTC)
    return embed


def result_view(task: Task) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("regen", "delete", "details"):
        view.add_item(ResultButton(action, task.id))
    return view


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"grokvideo:cancel:(?P<task>[0-9]{1,19})",
):
    """Under a waiting request's status message: takes it out of the line, with no API call; the member's
    allowance is given back (a cancelled request never counts). The requester or a moderator may."""

    def __init__(self, task_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                emoji="✖️",
                style=discord.ButtonStyle.danger,
                custom_id=f"grokvideo:cancel:{task_id}",
            )
        )
        self.task_id = task_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any
    ) -> CancelButton:
        return cls(int(match["task"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._cancel(interaction)
        except Exception:
            log.exception("cancel on task %s failed", self.task_id)
            await embeds.send_private(interaction, embeds.OOPS)

    async def _cancel(self, interaction: discord.Interaction) -> None:
        bot: GrokVideoBot = interaction.client  # type: ignore[assignment]
        task = await bot.store.get(self.task_id)
        perms = interaction.permissions
        if task is None or (
            interaction.user.id != task.requester_id and not (perms.manage_guild or perms.manage_messages)
        ):
            problem = "Only the member who asked for it or a moderator can cancel it."
            await embeds.send_private(interaction, embeds.refusal_embed("Not yours to cancel", [problem]))
            return
        cancelled = await bot.store.cancel(task.id)
        if cancelled is None:
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    "Too late to cancel", [f"Task #{task.id} was already sent to Grok (or is finished)."]
                ),
            )
            return
        log.info("task %s: cancelled while waiting in line by %s", task.id, interaction.user.id)
        # The click came from the status message itself: show it cancelled, without the button.
        await interaction.response.edit_message(embed=await bot.delivery.status_view(cancelled), view=None)
        bot.poller.line_moved()
        await embeds.send_private(
            interaction,
            embeds.info_embed(
                "✖️ Cancelled",
                f"Task #{task.id} is out of the line. Nothing was sent to Grok, and it no longer counts "
                "against any allowance.",
            ),
        )


def cancel_view(task: Task) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(task.id))
    return view
