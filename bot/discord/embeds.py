"""Every embed the bot shows, in one place, so all messages look alike and respect Discord's limits."""

from __future__ import annotations

import datetime as dt
import logging
import re

import discord

from bot.core.policy import line_notice
from bot.core.scheduler import progress_fraction
from bot.core.store import State, Task
from bot.i18n import localise_str, msg

log = logging.getLogger(__name__)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024

BLURPLE = discord.Colour.blurple()
GREEN = discord.Colour.green()
RED = discord.Colour.red()
ORANGE = discord.Colour.orange()

_STATE_LABELS = {
    State.WAITING: "Waiting in line",
    State.SUBMITTING: "Sending to Grok…",
    State.QUEUED: "Queued at Grok",
    State.PROCESSING: "Generating",
    State.COMPLETED: "Downloading the video",
    State.DOWNLOADED: "Posting the video",
    State.FAILED: "Failed",
    State.EXPIRED: "Timed out",
    State.LOST: "Lost",
    State.REJECTED: "Refused by Grok",
    State.DELIVERED: "Done",
    State.CANCELLED: "Cancelled",
}
BAR_WIDTH = 12


def clip(text: str, limit: int) -> str:
    """Trim to `limit` characters with an ellipsis: provider errors and prompts can be any length."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


_UNESCAPED_BRACKET = re.compile(r"(?<!\\)\[")


def plain(text: str) -> str:
    """Someone else's words (the provider's failure reasons, its task ids) shown as they came: markdown,
    masked links, headings and mentions are escaped so nothing renders as a link, a ping or formatting."""
    text = discord.utils.escape_markdown(text)
    # escape_markdown escapes one masked link per line (its pattern is greedy): escape every bracket.
    text = _UNESCAPED_BRACKET.sub(r"\\[", text)
    # <@id>, <#id>, <t:...>, </cmd:id>: shown as typed, not as mentions or timestamps.
    text = text.replace("<", "\\<")
    return discord.utils.escape_mentions(text)


def progress_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "▰" * filled + "▱" * (width - filled) + f" {round(fraction * 100)}%"


def task_footer(task: Task) -> str:
    """The footer doubles as the marker that finds an earlier post of this task after a crash."""
    return f"Task #{task.id} · {options_line(task)}"


def footer_task_id(footer: str | None) -> int | None:
    if not footer or not footer.startswith("Task #"):
        return None
    head = footer.split(" · ", 1)[0].removeprefix("Task #")
    return int(head) if head.isdigit() else None


def options_line(task: Task) -> str:
    request = task.request
    parts = [request.model]
    if request.duration is not None:
        parts.append(f"{request.duration} s")
    parts += [p for p in (request.aspect_ratio, request.resolution) if p]
    if request.image_urls:
        parts.append(f"{len(request.image_urls)} image{'s' if len(request.image_urls) > 1 else ''}")
    return " · ".join(parts)


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def status_embed(
    task: Task, now: float, estimate: float | None = None, position: int | None = None
) -> discord.Embed:
    """The channel message a task edits while the video is made; `position`: its place in the line while
    it waits (shown in the title and a field, so the message changes as the line moves)."""
    state = _STATE_LABELS.get(task.state, task.state.value)
    if position is not None:
        state = f"{state}: #{position}"
    colour = {State.FAILED: RED, State.EXPIRED: RED, State.LOST: RED, State.DELIVERED: GREEN}.get(
        task.state, BLURPLE
    )
    embed = discord.Embed(title=f"🎬 {state}", description=clip(task.request.prompt, 1000), colour=colour)
    embed.add_field(name="Requested by", value=f"<@{task.requester_id}>")
    embed.add_field(name="Model", value=task.request.model)
    embed.add_field(
        name="Options", value=options_line(task).split(" · ", 1)[1] if " · " in options_line(task) else "-"
    )
    started = task.submitted_at or task.created_at
    if position is not None:
        embed.add_field(name="In line", value=line_notice(position, task.next_poll_at, now), inline=False)
    elif task.state in (State.QUEUED, State.PROCESSING, State.SUBMITTING) and estimate:
        elapsed = now - started
        embed.add_field(
            name=f"Elapsed {format_elapsed(elapsed)} · about {format_elapsed(estimate - elapsed)} left",
            value=progress_bar(progress_fraction(elapsed, estimate)),
            inline=False,
        )
    elif task.finished_at is not None and task.state is not State.CANCELLED:
        embed.add_field(name="Took", value=format_elapsed(task.finished_at - started), inline=False)
    embed.set_footer(text=task_footer(task))
    embed.timestamp = dt.datetime.fromtimestamp(task.created_at, tz=dt.UTC)
    return embed


def result_embed(task: Task, note: str | None = None) -> discord.Embed:
    prompt = clip(task.request.prompt, 1000)
    embed = discord.Embed(title="🎬 Your video is ready", description=prompt, colour=GREEN)
    if task.actual_duration:
        embed.add_field(name="Length", value=f"{task.actual_duration:g} s")
    if note:
        embed.add_field(name="Note", value=clip(note, FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=task_footer(task))
    return embed


CONTENT_POLICY_WORDS = (
    "policy",
    "moderat",
    "safety",
    "inappropriate",
    "nsfw",
    "violat",
    "prohibit",
    "sensitive",
)


def explain_failure(reason: str | None) -> str:
    """The provider's words as plain text, clipped, with content-policy failures explained as such."""
    text = clip(plain(reason or "The video service did not give a reason."), 900)
    if any(word in text.lower() for word in CONTENT_POLICY_WORDS):
        return (
            "Grok's content policy blocked this prompt or its images. Try rewording it or using other images."
            f"\n> {text}"
        )
    return text


def failure_embed(task: Task) -> discord.Embed:
    title = {State.EXPIRED: "⏱️ Your video timed out", State.LOST: "⚠️ Your request was lost"}.get(
        task.state, "❌ Your video could not be made"
    )
    embed = discord.Embed(title=title, description=clip(task.request.prompt, 500), colour=RED)
    reason = (
        task.failure_reason  # our own words
        if task.state in (State.EXPIRED, State.LOST)
        else explain_failure(task.failure_reason)
    )
    embed.add_field(name="Why", value=clip(reason or "Unknown.", FIELD_VALUE_LIMIT), inline=False)
    embed.set_footer(text=task_footer(task))
    return embed


def refusal_embed(
    title: str, problems: list[str], hint: str | None = None, *, locale: str | None = None
) -> discord.Embed:
    """A private 'no': what was wrong and what would work. Title, problems and hint that are `Msg`s are
    shown in `locale`'s language (a Discord locale code; None: DEFAULT_LOCALE); plain text as it is."""
    body = "\n".join(f"• {localise_str(p, locale)}" for p in problems)
    if hint:
        body += f"\n\n{localise_str(hint, locale)}"
    heading = localise_str(title, locale)
    return discord.Embed(title=heading, description=clip(body, DESCRIPTION_LIMIT), colour=ORANGE)


def info_embed(title: str, description: str, *, locale: str | None = None) -> discord.Embed:
    """A private 'yes' or a piece of information; `Msg` title and description in `locale`'s language."""
    text = clip(localise_str(description, locale), DESCRIPTION_LIMIT)
    return discord.Embed(title=localise_str(title, locale), description=text, colour=BLURPLE)


def oops_embed(locale: str | None = None) -> discord.Embed:
    """The answer to a failure of ours, in `locale`'s language."""
    return refusal_embed(
        msg("Something went wrong on my side"),
        [msg("I couldn't finish that. If a video was already queued, it will still be posted here.")],
        msg("Please try again in a moment; see /videos mine for your videos."),
        locale=locale,
    )


#: oops_embed in English, for callers with no locale at hand (bot/discord/views.py).
OOPS = oops_embed("en-US")


#: Discord's answers once an interaction can't be answered any more: not acknowledged within 3 seconds
#: (Unknown interaction), or its 15-minute token expired (Unknown Webhook, Invalid Webhook Token).
GONE_INTERACTION_CODES = frozenset({10062, 10015, 50027})


async def send_private(interaction: discord.Interaction, embed: discord.Embed) -> None:
    """Answer privately whatever state the interaction is in: the first response, or a followup once it
    was deferred or answered.

    An interaction Discord no longer accepts can't reach the member any more: that is logged and the answer
    dropped, so no traceback reaches anyone. Any other refusal by Discord is logged as a warning with its
    traceback.
    """
    try:
        if interaction.response.is_done():
            await interaction.followup.send(embed=embed, ephemeral=True)
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True)
    except discord.HTTPException as exc:
        if exc.code in GONE_INTERACTION_CODES:
            log.info("interaction %s can't be answered any more: %s", interaction.id, exc)
        else:
            log.warning("could not answer interaction %s", interaction.id, exc_info=True)
