"""Every embed the bot shows, in one place, so all messages look alike and respect Discord's limits."""

from __future__ import annotations

import datetime as dt
import logging
import re

import discord

from bot.core.policy import line_notice
from bot.core.scheduler import progress_fraction
from bot.core.store import State, Task
from bot.i18n import format_duration, format_number, localise_str, msg, resolve_locale, translate

log = logging.getLogger(__name__)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
DESCRIPTION_LIMIT = 4096
FIELD_VALUE_LIMIT = 1024

BLURPLE = discord.Colour.blurple()
GREEN = discord.Colour.green()
RED = discord.Colour.red()
ORANGE = discord.Colour.orange()


def state_label(state: State, locale: str | None = None) -> str:
    """A task's state as its status message names it, in the task's language."""
    labels = {
        State.WAITING: translate(locale, "Waiting in line"),
        State.SUBMITTING: translate(locale, "Sending to Grok…"),
        State.QUEUED: translate(locale, "Queued at Grok"),
        State.PROCESSING: translate(locale, "Generating"),
        State.COMPLETED: translate(locale, "Downloading the video"),
        State.DOWNLOADED: translate(locale, "Posting the video"),
        State.FAILED: translate(locale, "Failed"),
        State.EXPIRED: translate(locale, "Timed out"),
        State.LOST: translate(locale, "Lost"),
        State.REJECTED: translate(locale, "Refused by Grok"),
        State.DELIVERED: translate(locale, "Done"),
        State.CANCELLED: translate(locale, "Cancelled"),
    }
    return labels.get(state, state.value)


BAR_WIDTH = 12


def _english(locale: str | None) -> bool:
    """The reader gets the English source texts (and today's English number and time formats)."""
    return resolve_locale(locale) == "en-US"


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


def options_line(task: Task, locale: str | None = None) -> str:
    """The request's options in one line; model ids and values stay as they are. The footer's copy is
    always English (`locale` None on an English DEFAULT_LOCALE...): it is the marker found after a crash."""
    if not _english(locale):
        return _options_line_in(task, locale)
    request = task.request
    parts = [request.model]
    if request.duration is not None:
        parts.append(f"{request.duration} s")
    parts += [p for p in (request.aspect_ratio, request.resolution) if p]
    if request.image_urls:
        parts.append(f"{len(request.image_urls)} image{'s' if len(request.image_urls) > 1 else ''}")
    return " · ".join(parts)


def _options_line_in(task: Task, locale: str | None) -> str:
    request = task.request
    parts = [request.model]
    if request.duration is not None:
        parts.append(format_duration(request.duration, locale))
    parts += [p for p in (request.aspect_ratio, request.resolution) if p]
    if request.image_urls:
        count = format_number(len(request.image_urls), locale)
        parts.append(translate(locale, "images: {count}", count=count))
    return " · ".join(parts)


def format_elapsed(seconds: float, locale: str | None = None) -> str:
    seconds = max(0, int(seconds))
    if not _english(locale):
        return format_duration(seconds, locale)
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def status_embed(
    task: Task, now: float, estimate: float | None = None, position: int | None = None
) -> discord.Embed:
    """The channel message a task edits while the video is made; `position`: its place in the line while
    it waits (shown in the title and a field, so the message changes as the line moves). Written in the
    task's recorded language."""
    locale = task.locale
    state = state_label(task.state, locale)
    if position is not None:
        state = f"{state}: #{format_number(position, locale)}"
    colour = {State.FAILED: RED, State.EXPIRED: RED, State.LOST: RED, State.DELIVERED: GREEN}.get(
        task.state, BLURPLE
    )
    embed = discord.Embed(title=f"🎬 {state}", description=clip(task.request.prompt, 1000), colour=colour)
    embed.add_field(name=translate(locale, "Requested by"), value=f"<@{task.requester_id}>")
    embed.add_field(name=translate(locale, "Model"), value=task.request.model)
    options = options_line(task, locale)
    embed.add_field(
        name=translate(locale, "Options"), value=options.split(" · ", 1)[1] if " · " in options else "-"
    )
    started = task.submitted_at or task.created_at
    if position is not None:
        notice = line_notice(position, task.next_poll_at, now, locale)
        embed.add_field(name=translate(locale, "In line"), value=notice, inline=False)
    elif task.state in (State.QUEUED, State.PROCESSING, State.SUBMITTING) and estimate:
        elapsed = now - started
        name = translate(
            locale,
            "Elapsed {elapsed} · about {left} left",
            elapsed=format_elapsed(elapsed, locale),
            left=format_elapsed(estimate - elapsed, locale),
        )
        embed.add_field(name=name, value=progress_bar(progress_fraction(elapsed, estimate)), inline=False)
    elif task.finished_at is not None and task.state is not State.CANCELLED:
        took = format_elapsed(task.finished_at - started, locale)
        embed.add_field(name=translate(locale, "Took"), value=took, inline=False)
    embed.set_footer(text=task_footer(task))
    embed.timestamp = dt.datetime.fromtimestamp(task.created_at, tz=dt.UTC)
    return embed


def result_embed(task: Task, note: str | None = None) -> discord.Embed:
    """The delivered video's embed, in the task's recorded language."""
    locale = task.locale
    prompt = clip(task.request.prompt, 1000)
    embed = discord.Embed(title=translate(locale, "🎬 Your video is ready"), description=prompt, colour=GREEN)
    if task.actual_duration:
        length = (
            f"{task.actual_duration:g} s"
            if _english(locale)
            else translate(
                locale, "{seconds} s", seconds=format_number(round(task.actual_duration, 2), locale)
            )
        )
        embed.add_field(name=translate(locale, "Length"), value=length)
    if note:
        embed.add_field(name=translate(locale, "Note"), value=clip(note, FIELD_VALUE_LIMIT), inline=False)
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


def explain_failure(reason: str | None, locale: str | None = None) -> str:
    """Why a video failed, for the member: our own reasons (the poller's and the pipeline's, stored in
    English) in their language; the provider's words as plain text, clipped, labelled as Grok's and shown as
    they came, with content-policy failures explained as such."""
    if not reason:
        return translate(locale, "The video service did not give a reason.")
    if (ours := our_reason(reason, locale)) is not None:
        return ours
    text = clip(plain(reason), 900)
    said = translate(locale, "Grok said: {reason}", reason=text)
    if any(word in text.lower() for word in CONTENT_POLICY_WORDS):
        explained = translate(
            locale,
            "Grok's content policy blocked this prompt or its images. "
            "Try rewording it or using other images.",
        )
        return f"{explained}\n> {said}"
    return said


_UNIT_SECONDS = {"day": 86_400, "hour": 3_600, "minute": 60, "second": 1}
_SPAN = re.compile(r"(\d+) (day|hour|minute|second)s?")


def _span_seconds(words: str) -> int | None:
    """scheduler.plain_duration's words back into seconds ("1 hour 30 minutes" -> 5400)."""
    parts = _SPAN.findall(words)
    if not parts or _SPAN.sub("", words).strip():
        return None
    return sum(int(count) * _UNIT_SECONDS[unit] for count, unit in parts)


def our_reason(reason: str, locale: str | None) -> str | None:
    """A failure reason written by the bot itself (bot/core/poller.py, bot/core/pipeline.py store them in
    English) in the reader's language, or None when `reason` is not one of ours (the provider's words).
    Recognised at render time, so the language is the task's recorded one after any restart."""
    if _english(locale):
        return _our_reason_english(reason)
    exact = {
        "The bot restarted while sending your request, so it can't tell whether the video was started. "
        "Please try again.": translate(
            locale,
            "The bot restarted while sending your request, so it can't tell whether the video was started. "
            "Please try again.",
        ),
        "The video service did not give a reason.": translate(
            locale, "The video service did not give a reason."
        ),
        "The video service no longer knows this task.": translate(
            locale, "The video service no longer knows this task."
        ),
        "The video was made, but its download link expired before I could fetch it.": translate(
            locale, "The video was made, but its download link expired before I could fetch it."
        ),
        "The bot's Grok API key was refused.": translate(locale, "The bot's Grok API key was refused."),
        "The bot's Grok account is out of credit.": translate(
            locale, "The bot's Grok account is out of credit."
        ),
        "Grok is busy right now.": translate(locale, "Grok is busy right now."),
        "Grok did not answer in time, so I can't track this video.": translate(
            locale, "Grok did not answer in time, so I can't track this video."
        ),
        "Grok is unavailable right now.": translate(locale, "Grok is unavailable right now."),
    }
    if reason in exact:
        return exact[reason]
    if match := _EXPIRED.fullmatch(reason):
        seconds = _span_seconds(match["within"])
        within = format_duration(seconds, locale) if seconds is not None else match["within"]
        return translate(
            locale,
            "The video service did not finish your video within {within}, so I stopped waiting.",
            within=within,
        )
    if match := _UNDOWNLOADABLE.fullmatch(reason):
        return translate(
            locale,
            "The video was made, but I couldn't download it: {why}.",
            why=clip(plain(match["why"]), 700),
        )
    if match := _REFUSED.fullmatch(reason):
        return translate(locale, "Grok refused it: {reason}", reason=clip(plain(match["reason"]), 900))
    return None


_EXPIRED = re.compile(
    r"The video service did not finish your video within (?P<within>.+), so I stopped waiting\."
)
_UNDOWNLOADABLE = re.compile(r"The video was made, but I couldn't download it: (?P<why>.+)\.", re.DOTALL)
_REFUSED = re.compile(r"Grok refused it: (?P<reason>.*)", re.DOTALL)


def _our_reason_english(reason: str) -> str | None:
    """Our own English reasons shown as they are (plain: a download error or a refusal quotes others)."""
    if _EXPIRED.fullmatch(reason) or _UNDOWNLOADABLE.fullmatch(reason) or _REFUSED.fullmatch(reason):
        return clip(plain(reason), 900)
    if reason in _OURS_EXACT:
        return reason
    return None


_OURS_EXACT = frozenset(
    {
        "The bot restarted while sending your request, so it can't tell whether the video was started. "
        "Please try again.",
        "The video service did not give a reason.",
        "The video service no longer knows this task.",
        "The video was made, but its download link expired before I could fetch it.",
        "The bot's Grok API key was refused.",
        "The bot's Grok account is out of credit.",
        "Grok is busy right now.",
        "Grok did not answer in time, so I can't track this video.",
        "Grok is unavailable right now.",
    }
)


def failure_title(task: Task) -> str:
    locale = task.locale
    if task.state is State.EXPIRED:
        return translate(locale, "⏱️ Your video timed out")
    if task.state is State.LOST:
        return translate(locale, "⚠️ Your request was lost")
    return translate(locale, "❌ Your video could not be made")


def failure_embed(task: Task) -> discord.Embed:
    """The failure post, in the task's recorded language."""
    locale = task.locale
    embed = discord.Embed(title=failure_title(task), description=clip(task.request.prompt, 500), colour=RED)
    reason = explain_failure(task.failure_reason, locale)
    embed.add_field(name=translate(locale, "Why"), value=clip(reason, FIELD_VALUE_LIMIT), inline=False)
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
