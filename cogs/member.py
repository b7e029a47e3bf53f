"""`/videos`: a member's own view: recent videos, one task's status (re-posting an undelivered one), quota;
and `/videohelp`: how to make videos, the models as loaded, the member's quota and the server's rules.

`/videohelp` is a top-level command on purpose: typing "/video" in Discord's slash menu lists it right next
to /video, where members look; as `/videos help` it would be hidden until someone opened /videos."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.catalogue import Catalogue
from bot.core.member_input import flag_examples
from bot.core.models import ModelSpec
from bot.core.policy import GuildConfig, Limits, Usage, discord_time, next_reset
from bot.core.store import TO_DELIVER, State, Task
from bot.discord import embeds
from bot.discord.views import details_embed, duration_text, state_name
from bot.i18n import format_number, lookup, translate

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

MINE_LIMIT = 10
_STATE_ICONS = {
    State.DELIVERED: "✅", State.FAILED: "❌", State.EXPIRED: "⏱️", State.LOST: "⚠️", State.REJECTED: "🚫",
    State.WAITING: "🕒", State.CANCELLED: "✖️",
}  # fmt: skip


#: /videos quota names the places of at most this many of a member's waiting requests.
LISTED_IN_LINE = 10


def message_link(guild_id: int | None, channel_id: int | None, message_id: int | None) -> str | None:
    if channel_id is None or message_id is None:
        return None
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def task_line(task: Task, locale: str | None = None) -> str:
    icon = _STATE_ICONS.get(task.state, "⏳")
    state = task.outcome if task.state is State.DELIVERED and task.outcome else task.state.value
    state = state_name(state, locale)
    link = message_link(task.guild_id, task.delivered_channel_id, task.delivered_message_id)
    # TRANSLATORS: a link to the posted video's message, in /videos mine
    where = " · [" + translate(locale, "message") + f"]({link})" if link else ""
    prompt = embeds.clip(task.request.prompt, 60).replace("\n", " ")
    when = discord_time(task.created_at)
    return f"{icon} **#{task.id}** · {state} · {task.request.model} · {when}{where}\n-# {prompt}"


class MemberCog(commands.Cog):
    videos = app_commands.Group(name="videos", description="Your Grok videos", guild_only=True)

    def __init__(self, bot: GrokVideoBot) -> None:
        self.bot = bot

    @videos.command(name="mine", description="Your recent videos on this server")
    async def mine(self, interaction: discord.Interaction) -> None:
        locale = str(interaction.locale)
        tasks = await self.bot.store.tasks_for_member(interaction.user.id, interaction.guild_id, MINE_LIMIT)
        if not tasks:
            text = translate(
                locale, "You haven't made any videos here yet. Try {video}!", video=slash(locale, "video")
            )
        else:
            text = "\n".join(task_line(t, locale) for t in tasks)
        title = "🎬 " + translate(locale, "Your recent videos")
        await embeds.send_private(interaction, embeds.info_embed(title, text))

    @videos.command(
        name="status", description="Where one of your videos is; re-posts it here if it was never delivered"
    )
    @app_commands.describe(task="The task number (shown as #12 in messages)")
    async def status(self, interaction: discord.Interaction, task: app_commands.Range[int, 1]) -> None:
        found = await self.bot.store.get(task)
        is_admin, locale = interaction.permissions.manage_guild, str(interaction.locale)
        if (
            found is None
            or found.guild_id != interaction.guild_id
            or (found.requester_id != interaction.user.id and not is_admin)
        ):
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "No such video"),
                    [translate(locale, "You have no task #{task} on this server.", task=task)],
                    translate(locale, "See {mine}.", mine=slash(locale, "videos", "mine")),
                ),
            )
            return
        note = ""
        if found.state in TO_DELIVER and (found.next_poll_at is None or found.notify_requester):
            note = await self._repost_here(interaction, found)
        embed = details_embed(found, locale)
        if note:
            embed.add_field(name=translate(locale, "Delivery"), value=note, inline=False)
        link = message_link(found.guild_id, found.delivered_channel_id, found.delivered_message_id)
        if link:
            embed.add_field(name=translate(locale, "Message"), value=link, inline=False)
        await embeds.send_private(interaction, embed)

    async def _repost_here(self, interaction: discord.Interaction, task: Task) -> str:
        """An outcome that could not be posted anywhere is re-aimed at this channel and retried now.

        The earlier target stays recorded, so delivery still looks there first for a post it made before a
        crash: asking again can never produce a second copy.
        """
        locale = str(interaction.locale)
        if interaction.channel_id is None or not interaction.app_permissions.attach_files:
            return translate(locale, "I can't post here; try a channel where I can send files.")
        moved = await self.bot.store.transition(
            task.id, TO_DELIVER, channel_id=interaction.channel_id, delivery_attempts=0, notify_requester=0,
            next_poll_at=time.time(),
        )  # fmt: skip
        if not moved:
            return translate(locale, "It is on its way already.")
        self.bot.poller.wake()
        return translate(locale, "I couldn't deliver it before; I'm posting it in this channel now.")

    @videos.command(name="quota", description="How much you can still make today, and when it resets")
    async def quota(self, interaction: discord.Interaction) -> None:
        lines = await self._quota_lines(interaction)
        title = "📊 " + translate(str(interaction.locale), "Your quota")
        await embeds.send_private(interaction, embeds.info_embed(title, "\n".join(lines)))

    async def _quota_lines(self, interaction: discord.Interaction) -> list[str]:
        assert interaction.guild_id is not None
        config = await self.bot.store.guild_config(interaction.guild_id)
        usage = await self.bot.store.usage(interaction.user.id, interaction.guild_id)
        limits = config.limits(self.bot.settings.default_limits)
        locale = str(interaction.locale)
        manages = interaction.permissions.manage_guild
        lines = quota_lines(limits, usage, time.time(), manages=manages, locale=locale)
        return lines + await self._line_lines(interaction.user.id, interaction.guild_id, locale)

    async def _line_lines(self, member_id: int, guild_id: int, locale: str) -> list[str]:
        """The member's requests waiting in the line, with their places, and the line's bound."""
        store, max_in_flight = self.bot.store, self.bot.settings.max_in_flight
        mine = await store.waiting(LISTED_IN_LINE, member_id, guild_id)
        places = [
            translate(
                locale,
                "#{place} (task #{task})",
                place=await store.line_position(t, max_in_flight),
                task=t.id,
            )
            for t in mine
        ]
        bound = (
            translate(locale, "at most {count} at once", count=format_number(max_in_flight, locale))
            if max_in_flight
            else translate(locale, "no limit at once")
        )
        return [
            translate(locale, "**In line:** {places}", places=", ".join(places) or translate(locale, "none")),
            translate(locale, "**Videos with Grok:** {bound} (MAX_IN_FLIGHT)", bound=bound),
        ]

    # ---- /videohelp --------------------------------------------------------------------------------

    @app_commands.command(name="videohelp", description="How to make videos here: models, your quota, rules")
    @app_commands.guild_only()
    async def videohelp(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        config = await self.bot.store.guild_config(interaction.guild_id)
        locale = str(interaction.locale)
        me = self.bot.user.mention if self.bot.user else translate(locale, "the bot")
        embed = help_embed(
            self.bot.catalogue, config, me, reply_mode=self.bot.settings.reply_mode, locale=locale
        )
        quota = embeds.clip("\n".join(await self._quota_lines(interaction)), embeds.FIELD_VALUE_LIMIT)
        embed.add_field(name=translate(locale, "Your quota"), value=quota, inline=False)
        embed.add_field(
            name=translate(locale, "This server's rules"), value=rules_text(config, locale), inline=False
        )
        await embeds.send_private(interaction, embed)


def slash(locale: str | None, command: str, subcommand: str | None = None) -> str:
    """A command as the member's Discord client lists it: `/video`, `/動画`, `/ролики мои`."""
    words = [lookup(locale, command, "group name" if subcommand else "command name") or command]
    if subcommand:
        words.append(lookup(locale, subcommand, "command name") or subcommand)
    return "/" + " ".join(words)


def video_seconds(seconds: int, locale: str | None) -> str:
    """An allowance in video-seconds: "54 s" in English, CLDR's words elsewhere ("54초", "1 мин")."""
    return duration_text(seconds, locale, f"{seconds} s")


def quota_lines(
    limits: Limits, usage: Usage, now: float, *, manages: bool, locale: str | None = None
) -> list[str]:
    """What /videos quota and /videohelp show: in progress, when the next video is possible, the daily
    allowances left and when they reset, in the member's language."""
    lines = [translate(locale, "You manage this server: limits don't apply to you.")] if manages else []

    def allowance(used: int, cap: int) -> str:
        if not cap:
            return translate(locale, "no daily limit")
        left = video_seconds(max(0, cap - used), locale)
        return translate(locale, "{left} of {cap} left", left=left, cap=video_seconds(cap, locale))

    active = format_number(usage.active, locale)
    if limits.max_active:
        limit = format_number(limits.max_active, locale)
        active = translate(locale, "{active} of {limit}", active=active, limit=limit)
    else:
        active = translate(locale, "{active} (no limit)", active=active)
    lines.append(translate(locale, "**In progress:** {active}", active=active))
    ready_at = (usage.last_submitted_at or 0) + limits.cooldown_seconds
    if limits.cooldown_seconds and usage.last_submitted_at and ready_at > now:
        when = discord_time(ready_at)
    else:
        when = translate(locale, "now")
    lines.append(translate(locale, "**Next video possible:** {when}", when=when))
    mine = allowance(usage.member_seconds_today, limits.member_daily_seconds)
    lines.append(translate(locale, "**You today:** {allowance}", allowance=mine))
    server = allowance(usage.server_seconds_today, limits.server_daily_seconds)
    lines.append(translate(locale, "**Server today:** {allowance}", allowance=server))
    reset = discord_time(next_reset(now))
    lines.append(translate(locale, "**Daily allowances reset** {when} (00:00 UTC)", when=reset))
    return lines


def model_line(spec: ModelSpec, locale: str | None = None) -> str:
    durations = spec.durations
    if len(durations) == 1:
        span = str(durations[0])
    elif list(durations) == list(range(durations[0], durations[-1] + 1)):
        span = f"{durations[0]}–{durations[-1]}"
    else:
        span = "/".join(map(str, durations))
    # TRANSLATORS: the video lengths a model makes, in seconds: "6–15 s", "6/10 s"
    length = translate(locale, "{lengths} s", lengths=span)
    if not spec.max_images:
        images = translate(locale, "text only")
    elif spec.max_images == 1:
        images = translate(locale, "up to 1 image")
    else:
        images = translate(locale, "up to {count} images", count=format_number(spec.max_images, locale))
    ratios, sizes = ", ".join(spec.aspect_ratios), "/".join(spec.resolutions)
    return f"**{spec.label}** (`{spec.id}`): {length} · {ratios} · {sizes} · {images}"


def fitted(items: list[str], limit: int, more: Callable[[int], str], sep: str = "\n") -> str:
    """As many whole items as fit in `limit` characters, then `more(n)` ("…and n more") for the rest."""
    items = [embeds.clip(item, limit // 2) for item in items]
    shown: list[str] = []
    used = 0
    for n, item in enumerate(items):
        reserve = len(sep + more(len(items))) if n < len(items) - 1 else 0
        if used + len(sep) + len(item) + reserve > limit:
            return sep.join(shown) + sep + more(len(items) - n)
        shown.append(item)
        used += len(sep) + len(item)
    return sep.join(shown)


def help_embed(
    catalogue: Catalogue, config: GuildConfig, me: str, *, reply_mode: bool, locale: str | None = None
) -> discord.Embed:
    """How to make a video each way, and the models members can use here as the catalogue has them, in the
    member's language (commands and the menu under the names their Discord client shows)."""
    video = slash(locale, "video")
    menu = lookup(locale, "Animate with Grok", "menu name") or "Animate with Grok"
    ways = [
        translate(
            locale,
            "**{video}**: type a prompt, pick the model, length, shape and resolution, attach images if you "
            "like.",
            video=video,
        ),
        translate(
            locale,
            "**{menu}**: on a message with images, open its menu (right-click or long-press) → Apps → "
            "{menu}, and describe what should happen.",
            menu=menu,
        ),
    ]
    if reply_mode:
        # TRANSLATORS: an example prompt for reply mode; the flag after it stays as it is
        example = translate(locale, "the cat waves") + f" --duration {flag_examples(catalogue)['duration']}"
        reply = translate(
            locale,
            "**Reply mode**: reply to a message with images (or attach some) and mention {me} with your "
            "prompt, e.g. `{example}`.",
            me=me,
            example=example,
        )
        ways.insert(1, reply)
    ways.append(
        translate(
            locale,
            "Your video is posted in the channel and you are mentioned. See **{mine}** for yours.",
            mine=slash(locale, "videos", "mine"),
        )
    )
    title = "🎬 " + translate(locale, "Making videos with Grok")
    embed = embeds.info_embed(title, "\n".join(f"• {w}" for w in ways))
    usable = [
        spec
        for spec in catalogue.models.values()
        if config.allowed_models is None or spec.id in config.allowed_models
    ]

    def more_models(count: int) -> str:
        return translate(
            locale, "…and {count} more models (see {video})", count=format_number(count, locale), video=video
        )

    models = fitted([model_line(s, locale) for s in usable], embeds.FIELD_VALUE_LIMIT, more_models)
    models = models or translate(locale, "None is allowed on this server.")
    embed.add_field(name=translate(locale, "Models"), value=models, inline=False)
    return embed


def rules_text(config: GuildConfig, locale: str | None = None) -> str:
    def more(count: int) -> str:
        return translate(locale, "…and {count} more", count=format_number(count, locale))

    channels = (
        fitted([f"<#{c}>" for c in config.allowed_channels], 500, more, sep=", ")
        if config.allowed_channels
        else translate(locale, "every channel")
    )
    role = translate(locale, "none") if config.required_role_id is None else f"<@&{config.required_role_id}>"
    age_restricted = translate(locale, "yes") if config.age_restricted_only else translate(locale, "no")
    lines = [
        translate(locale, "⏸️ **Paused**: no new videos for now.")
        if config.paused
        else translate(locale, "▶️ Video making is on."),
        translate(locale, "**Channels:** {channels}", channels=channels),
        translate(locale, "**Role needed:** {role}", role=role),
        translate(
            locale, "**Blocked words:** {count}", count=format_number(len(config.blocked_words), locale)
        ),
        translate(locale, "**Age-restricted channels only:** {answer}", answer=age_restricted),
    ]
    return embeds.clip("\n".join(lines), embeds.FIELD_VALUE_LIMIT)


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(MemberCog(bot))
