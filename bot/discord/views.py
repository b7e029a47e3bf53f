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
from bot.core.store import State, Task
from bot.discord import embeds, refresh
from bot.discord.requests import answer_interaction, origin_of_interaction
from bot.discord.status_edits import message_in
from bot.i18n import format_duration, format_number, resolve_locale, translate

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

log = logging.getLogger(__name__)

_BUTTONS = {
    "regen": ("🔁", discord.ButtonStyle.primary),
    "delete": ("🗑️", discord.ButtonStyle.secondary),
    "details": ("ℹ️", discord.ButtonStyle.secondary),
}


def button_label(action: str, locale: str | None) -> str:
    """A result button's label in `locale` (the requester's, when the task records it)."""
    labels = {
        "regen": translate(locale, "Regenerate"),
        "delete": translate(locale, "Delete"),
        "details": translate(locale, "Details"),
        "cancel": translate(locale, "Cancel"),
    }
    return labels[action]


def task_locale(task: Task) -> str | None:
    """The requester's language if the task records it (None: DEFAULT_LOCALE). Public posts are read by
    everyone; their buttons speak the requester's language."""
    return task.locale


def state_name(state: str, locale: str | None) -> str:
    """A task's state or outcome (`State` values, `video`, `link`) in the member's words."""
    names = {
        State.WAITING.value: translate(locale, "waiting"),
        State.SUBMITTING.value: translate(locale, "submitting"),
        State.QUEUED.value: translate(locale, "queued"),
        State.PROCESSING.value: translate(locale, "processing"),
        State.COMPLETED.value: translate(locale, "completed"),
        State.DOWNLOADED.value: translate(locale, "downloaded"),
        State.DELIVERED.value: translate(locale, "delivered"),
        State.FAILED.value: translate(locale, "failed"),
        State.EXPIRED.value: translate(locale, "expired"),
        State.LOST.value: translate(locale, "lost"),
        State.REJECTED.value: translate(locale, "rejected"),
        State.CANCELLED.value: translate(locale, "cancelled"),
        # TRANSLATORS: how a finished task was posted: as a video file
        "video": translate(locale, "video"),
        # TRANSLATORS: how a finished task was posted: as a link (the file was too big to upload)
        "link": translate(locale, "link"),
    }
    return names.get(state, state)


def duration_text(seconds: float, locale: str | None, english: str) -> str:
    """A length of time in the member's language (CLDR's short units); English keeps the bot's own terse
    form (`english`: "54 s", "1 min 05 s"), which members and tests know."""
    serving = resolve_locale(locale)
    return english if serving == "en-US" else format_duration(seconds, serving)


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"grokvideo:(?P<action>regen|delete|details):(?P<task>[0-9]{1,19})",
):
    def __init__(self, action: str, task_id: int, locale: str | None = None) -> None:
        emoji, style = _BUTTONS[action]
        super().__init__(
            discord.ui.Button(
                label=button_label(action, locale),
                emoji=emoji,
                style=style,
                custom_id=f"grokvideo:{action}:{task_id}",
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
            await embeds.send_private(interaction, embeds.oops_embed(str(interaction.locale)))

    async def _act(self, interaction: discord.Interaction) -> None:
        bot: GrokVideoBot = interaction.client  # type: ignore[assignment]
        task = await bot.store.get(self.task_id)
        locale = str(interaction.locale)
        if task is None:
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "Unknown video"), [translate(locale, "I have no record of this task.")]
                ),
            )
            return
        if self.action == "details":
            await embeds.send_private(interaction, details_embed(task, locale))
        elif self.action == "delete":
            await self._delete(interaction, bot, task)
        else:
            await self._regenerate(interaction, bot, task)

    async def _delete(self, interaction: discord.Interaction, bot: GrokVideoBot, task: Task) -> None:
        perms, locale = interaction.permissions, str(interaction.locale)
        if interaction.user.id != task.requester_id and not (perms.manage_messages or perms.manage_guild):
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "Not yours to delete"),
                    [translate(locale, "Only the member who asked for it or a moderator can.")],
                ),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            if interaction.message is not None:
                await interaction.message.delete()
            if task.status_message_id and task.status_message_id != getattr(interaction.message, "id", None):
                status = message_in(bot, task.channel_id, task.status_message_id)  # cached channel or not
                if status is not None:
                    await status.delete()
        except discord.NotFound:
            pass  # already gone: the goal is reached
        except discord.HTTPException as exc:
            log.info("task %s: delete failed: %s", task.id, exc)
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "Couldn't delete it"),
                    [translate(locale, "Discord refused: I may lack permissions here.")],
                ),
            )
            return
        await embeds.send_private(
            interaction,
            embeds.info_embed(
                "🗑️ " + translate(locale, "Deleted"), translate(locale, "Task #{task} is gone.", task=task.id)
            ),
        )

    async def _regenerate(self, interaction: discord.Interaction, bot: GrokVideoBot, task: Task) -> None:
        if interaction.user.id != task.requester_id and not interaction.permissions.manage_guild:
            locale = str(interaction.locale)
            problem = translate(
                locale, "Only the member who asked for this video (or a server admin) can regenerate it."
            )
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "Not yours to regenerate"),
                    [problem],
                    translate(locale, "Use /video to make your own."),
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


def options_text(task: Task, locale: str | None) -> str:
    """The request's options as /videos and Details show them: model · length · ratio · resolution ·
    images, in the member's words."""
    request = task.request
    parts = [request.model]
    if request.duration is not None:
        parts.append(duration_text(request.duration, locale, f"{request.duration} s"))
    parts += [p for p in (request.aspect_ratio, request.resolution) if p]
    images = len(request.image_urls)
    if images == 1:
        parts.append(translate(locale, "1 image"))
    elif images:
        parts.append(translate(locale, "{count} images", count=format_number(images, locale)))
    return " · ".join(parts)


def details_embed(task: Task, locale: str | None = None) -> discord.Embed:
    """Everything about one task, privately, in the member's language (`locale`)."""
    embed = discord.Embed(
        title=translate(locale, "Task #{task}", task=task.id),
        description=embeds.clip(task.request.prompt, embeds.DESCRIPTION_LIMIT),
        colour=embeds.BLURPLE,
    )
    embed.add_field(name=translate(locale, "Requested by"), value=f"<@{task.requester_id}>")
    embed.add_field(name=translate(locale, "Model"), value=task.request.model)
    embed.add_field(name=translate(locale, "Options"), value=options_text(task, locale))
    state = state_name(task.state.value, locale)
    if task.outcome:
        state += f" ({state_name(task.outcome, locale)})"
    embed.add_field(name=translate(locale, "State"), value=state)
    embed.add_field(
        name=translate(locale, "Video-seconds counted"), value=format_number(task.billed_seconds, locale)
    )
    embed.add_field(
        name=translate(locale, "Provider task"), value=embeds.clip(embeds.plain(task.api_id or "—"), 100)
    )
    started = task.submitted_at or task.created_at
    took = "—"
    if task.finished_at:
        elapsed = task.finished_at - started
        took = duration_text(elapsed, locale, embeds.format_elapsed(elapsed))
    timings = translate(
        locale,
        "Asked {asked}\nSubmitted {submitted}\nFinished {finished} (took {took})\nPosted {posted}",
        asked=_when(task.created_at),
        submitted=_when(task.submitted_at),
        finished=_when(task.finished_at),
        took=took,
        posted=_when(task.delivered_at),
    )
    embed.add_field(name=translate(locale, "Timings"), value=timings, inline=False)
    if task.failure_reason:
        embed.add_field(
            name=translate(locale, "Why it failed"),
            value=embeds.clip(embeds.plain(task.failure_reason), embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
    embed.timestamp = dt.datetime.fromtimestamp(task.created_at, tz=dt.UTC)
    return embed


def result_view(task: Task) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in ("regen", "delete", "details"):
        view.add_item(ResultButton(action, task.id, task_locale(task)))
    return view


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"grokvideo:cancel:(?P<task>[0-9]{1,19})",
):
    """Under a waiting request's status message: takes it out of the line, with no API call; the member's
    allowance is given back (a cancelled request never counts). The requester or a moderator may."""

    def __init__(self, task_id: int, locale: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=button_label("cancel", locale),
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
            await embeds.send_private(interaction, embeds.oops_embed(str(interaction.locale)))

    async def _cancel(self, interaction: discord.Interaction) -> None:
        bot: GrokVideoBot = interaction.client  # type: ignore[assignment]
        task = await bot.store.get(self.task_id)
        perms, locale = interaction.permissions, str(interaction.locale)
        if task is None or (
            interaction.user.id != task.requester_id and not (perms.manage_guild or perms.manage_messages)
        ):
            problem = translate(locale, "Only the member who asked for it or a moderator can cancel it.")
            await embeds.send_private(
                interaction, embeds.refusal_embed(translate(locale, "Not yours to cancel"), [problem])
            )
            return
        cancelled = await bot.store.cancel(task.id)
        if cancelled is None:
            problem = translate(
                locale, "Task #{task} was already sent to Grok (or is finished).", task=task.id
            )
            await embeds.send_private(
                interaction, embeds.refusal_embed(translate(locale, "Too late to cancel"), [problem])
            )
            return
        log.info("task %s: cancelled while waiting in line by %s", task.id, interaction.user.id)
        # The click came from the status message itself: show it cancelled, without the button.
        await interaction.response.edit_message(embed=await bot.delivery.status_view(cancelled), view=None)
        bot.poller.line_moved()
        await embeds.send_private(
            interaction,
            embeds.info_embed(
                "✖️ " + translate(locale, "Cancelled"),
                translate(
                    locale,
                    "Task #{task} is out of the line. Nothing was sent to Grok, and it no longer counts "
                    "against any allowance.",
                    task=task.id,
                ),
            ),
        )


def cancel_view(task: Task) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(task.id, task_locale(task)))
    return view
