"""`/videoadmin`: what a server's managers control: where and by whom videos are made, limits, models,
a pause switch, and a usage report with estimated costs.

Every setting lives in the `guild_settings` row (store.guild_config / save_guild_config), which the video
cog reads on every request: a change applies to the next /video at once and survives restarts. Every answer
is private: a settings change is nobody else's business, and a refusal must not embarrass anyone.

Every answer is written in the member's language (`str(interaction.locale)`, bot.i18n), its numbers,
durations and money formatted for that locale with Babel's CLDR data. English keeps the bot's own forms
("2 min", "0.50 USD"), which owners and the English tests know; model ids, option values, command names
and setting names (PRICES, MAX_IN_FLIGHT) stay as they are in every language.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core import policy
from bot.core.policy import (
    DAY,
    MAX_BLOCKED_WORDS,
    GuildConfig,
    Limits,
    WordChange,
    add_words,
    cost,
    day_start,
    duration_text,
    remove_words,
    split_words,
    total_cost,
)
from bot.discord import embeds
from bot.discord.requests import age_restricted_channels
from bot.i18n import format_duration, format_money, format_number, localise_str, resolve_locale, translate

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

#: Each allowed channel is listed in every refusal; past this the list stops being readable.
MAX_ALLOWED_CHANNELS = 25
#: The usage report names this many members, then "and N more" (keeps the embed within Discord's limits).
TOP_MEMBERS = 15
# A member's per-model detail line: 15 x (~65-character total line + this) stays under the 4,096-character
# description, and with the by-model field the embed stays under Discord's 6,000 in all.
_MEMBER_LINE_LIMIT = 180
_MODEL_SPLIT = re.compile(r"[\s,]+")
#: A usage period -> (its number of days, None for today since 00:00 UTC; when it starts).
_PERIODS: dict[str, tuple[int | None, Callable[[float], float]]] = {
    "today": (None, day_start),
    "7d": (7, lambda now: now - 7 * DAY),
    "30d": (30, lambda now: now - 30 * DAY),
}
PERIOD_CHOICES = [
    app_commands.Choice(name="today", value="today"),
    app_commands.Choice(name="7 days", value="7d"),
    app_commands.Choice(name="30 days", value="30d"),
]


def _english(locale: str | None) -> bool:
    """Whether the member reads the English source text (no catalogue serves their locale, nor
    DEFAULT_LOCALE's): they keep the bot's own English forms of durations and money."""
    return resolve_locale(locale) == "en-US"


def seconds_text(seconds: float, locale: str | None) -> str:
    """Video-seconds, a quantity rather than a wait: "1,234 s" (en), "1.234 s" (de), "1,234 秒" (ja)."""
    return translate(locale, "{seconds} s", seconds=format_number(int(seconds), locale))


def duration(seconds: float, locale: str | None) -> str:
    """A wait: "2 min" (en, the bot's own form), "2 Min." (de), "2 分" (ja)."""
    return duration_text(seconds) if _english(locale) else format_duration(seconds, locale)


def money(amount: float | None, currency: str, locale: str | None) -> str:
    """An estimate in the owner's CURRENCY: "0.50 USD" (en, the bot's own form), "0,50 $" (de); "n/a"
    when no price is set."""
    if amount is None:
        return translate(locale, "n/a")
    return (
        policy.format_money(amount, currency) if _english(locale) else format_money(amount, currency, locale)
    )


def videos_text(n: int, locale: str | None) -> str:
    count = format_number(n, locale)
    return (
        translate(locale, "{count} video", count=count)
        if n == 1
        else translate(locale, "{count} videos", count=count)
    )


def limit_lines(config: GuildConfig, defaults: Limits, locale: str | None = None) -> list[str]:
    """The effective limits, each marked as this server's choice or the bot owner's default."""
    effective = config.limits(defaults)
    rows: list[tuple[str, float | None, float, Callable[[float], str]]] = [
        (translate(locale, "Videos in progress per member"), config.max_active, effective.max_active,
         lambda v: format_number(int(v), locale)),
        (translate(locale, "Cooldown between a member's videos"), config.cooldown_seconds,
         effective.cooldown_seconds, lambda v: duration(v, locale)),
        (translate(locale, "Video-seconds per member per day"), config.member_daily_seconds,
         effective.member_daily_seconds, lambda v: seconds_text(v, locale)),
        (translate(locale, "Video-seconds for the server per day"), config.server_daily_seconds,
         effective.server_daily_seconds, lambda v: seconds_text(v, locale)),
    ]  # fmt: skip
    lines = []
    for label, override, value, show in rows:
        # 0 switches a limit off (see policy.Limits)
        shown = show(value) if value else translate(locale, "no limit")
        origin = translate(locale, "server setting") if override is not None else translate(locale, "default")
        lines.append(
            translate(locale, "{label}: **{value}** ({origin})", label=label, value=shown, origin=origin)
        )
    return lines


def in_flight_line(config: GuildConfig, max_in_flight: int, locale: str | None = None) -> str:
    """This server's bound on its videos with Grok at once, and the bot owner's over all servers."""
    everyone = (
        translate(locale, "{count} for all servers", count=format_number(max_in_flight, locale))
        if max_in_flight
        else translate(locale, "no limit for all servers")
    )
    if config.max_in_flight:
        return translate(
            locale,
            "Videos with Grok at once: **{count}** (server setting; {everyone})",
            count=format_number(config.max_in_flight, locale),
            everyone=everyone,
        )
    return translate(
        locale, "Videos with Grok at once: **{everyone}** (default, MAX_IN_FLIGHT)", everyone=everyone
    )


class ListableChannel(app_commands.Transformer):
    """A channel an admin can put on the allowed list: text, announcement or forum (whose posts are
    threads). Declared as a transformer because a `TextChannel | ForumChannel` annotation also offers media
    channels, which Discord's published API description does not list among a channel option's types."""

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.channel

    @property
    def channel_types(self) -> list[discord.ChannelType]:
        return [discord.ChannelType.text, discord.ChannelType.news, discord.ChannelType.forum]

    async def transform(
        self, interaction: discord.Interaction, value: discord.abc.Snowflake
    ) -> discord.abc.Snowflake:
        return value


Listable = app_commands.Transform[discord.abc.Snowflake, ListableChannel]
#: Blocked words as an admin types them: several, separated by commas.
WordList = app_commands.Range[str, 1, 1000]


@dataclass(frozen=True, slots=True)
class UsageRow:
    member_id: int
    model: str
    videos: int
    seconds: int
    cost: float | None


def usage_lines(
    rows: Sequence[UsageRow], currency: str, locale: str | None = None
) -> tuple[list[str], list[str], str]:
    """(member lines, per-model lines, total line) for the report; members ordered by video-seconds."""
    by_member: dict[int, list[UsageRow]] = {}
    by_model: dict[str, list[UsageRow]] = {}
    for row in rows:
        by_member.setdefault(row.member_id, []).append(row)
        by_model.setdefault(row.model, []).append(row)

    def summary(group: Sequence[UsageRow]) -> str:
        videos, seconds = sum(r.videos for r in group), sum(r.seconds for r in group)
        spent = money(total_cost([r.cost for r in group]), currency, locale)
        return f"{videos_text(videos, locale)} · {seconds_text(seconds, locale)} · {spent}"

    ranked = sorted(by_member.items(), key=lambda item: -sum(r.seconds for r in item[1]))
    members = []
    for member_id, group in ranked[:TOP_MEMBERS]:
        detail = "; ".join(f"{r.model}: {summary([r])}" for r in group)
        members.append(f"<@{member_id}> · {summary(group)}\n-# {embeds.clip(detail, _MEMBER_LINE_LIMIT)}")
    if len(ranked) > TOP_MEMBERS:
        more = len(ranked) - TOP_MEMBERS
        count = format_number(more, locale)
        members.append(
            translate(locale, "…and {count} more member", count=count)
            if more == 1
            else translate(locale, "…and {count} more members", count=count)
        )
    heaviest = sorted(by_model.items(), key=lambda item: -sum(r.seconds for r in item[1]))
    models = [f"{model}: {summary(group)}" for model, group in heaviest]
    return members, models, summary(rows)


def content_rules_text(config: GuildConfig, locale: str | None = None) -> str:
    words = len(config.blocked_words)
    listed = (
        translate(
            locale,
            "{count} of {max} (/videoadmin blocked-words list)",
            count=format_number(words, locale),
            max=format_number(MAX_BLOCKED_WORDS, locale),
        )
        if words
        else translate(locale, "none")
    )
    age = (
        translate(locale, "on: only in age-restricted channels")
        if config.age_restricted_only
        else translate(locale, "off")
    )
    return "\n".join(
        [
            translate(locale, "Blocked words: {listed}", listed=listed),
            translate(locale, "Age-restricted channels only: {age}", age=age),
        ]
    )


def word_change_embed(adding: bool, change: WordChange, locale: str | None = None) -> discord.Embed:
    """What add or remove did, the words spoilered (the list is not meant to be read by accident)."""
    lines = []
    if change.changed:
        words = spoilered(change.changed)
        lines.append(
            translate(locale, "Blocked words added: {words}.", words=words)
            if adding
            else translate(locale, "Blocked words removed: {words}.", words=words)
        )
    if change.unchanged:
        words = spoilered(change.unchanged)
        lines.append(
            translate(locale, "Already blocked: {words}.", words=words)
            if adding
            else translate(locale, "Not on the list: {words}.", words=words)
        )
    lines += [f"• {embeds.plain(localise_str(p, locale))}" for p in change.problems]
    count, most = format_number(len(change.words), locale), format_number(MAX_BLOCKED_WORDS, locale)
    lines.append(
        translate(locale, "The list has {count} word (at most {max}).", count=count, max=most)
        if len(change.words) == 1
        else translate(locale, "The list has {count} words (at most {max}).", count=count, max=most)
    )
    unchanged = translate(locale, "Blocked words unchanged")
    if change.problems and not change.changed:
        return embeds.refusal_embed(unchanged, lines[:-1], lines[-1])
    if not change.changed:
        title = unchanged
    elif adding:
        title = translate(locale, "Blocked words added")
    else:
        title = translate(locale, "Blocked words removed")
    return embeds.info_embed(f"⚙️ {title}", "\n".join(lines))


def spoilered(words: Sequence[str]) -> str:
    return ", ".join(f"||{w}||" for w in words)


#: One private message of the list stays well inside an embed description's 4,096 characters.
_PAGE_CHARS = 3900


def word_pages(words: Sequence[str]) -> list[str]:
    """The words spoilered, split into pages that each fit one embed (200 words of 50 characters: 3)."""
    pages, page = [], ""
    for word in words:
        item = f"||{word}||"
        if page and len(page) + 2 + len(item) > _PAGE_CHARS:
            pages.append(page)
            page = ""
        page = f"{page}, {item}" if page else item
    return [*pages, page] if page else pages


class AdminCog(commands.Cog):
    videoadmin = app_commands.Group(
        name="videoadmin",
        description="Control video making on this server (Manage Server)",
        guild_only=True,
        # Discord hides the group from others, but server settings can override that: `interaction_check`.
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: GrokVideoBot) -> None:
        self.bot = bot
        # Read-change-write of a server's row spans awaits; two admins clicking at once must not lose one
        # of the two changes. The bot is the database's only writer, so one process-wide lock suffices.
        self._settings_lock = asyncio.Lock()

    # ---- shared plumbing ---------------------------------------------------------------------------

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Only server managers may run /videoadmin. discord.py calls a cog's interaction_check before each of
        its app commands, so no subcommand can be added without it; the group's default permissions only
        hide it, and server settings can show it to anyone. The error stops the subcommand before it runs,
        and BotTree.on_error refuses privately, in the member's language, naming the permission."""
        if interaction.guild_id is None or not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    async def _update(self, guild_id: int, change: Callable[[GuildConfig], GuildConfig]) -> GuildConfig:
        async with self._settings_lock:
            config = change(await self.bot.store.guild_config(guild_id))
            await self.bot.store.save_guild_config(config)
        return config

    async def _done(self, interaction: discord.Interaction, title: str, text: str) -> None:
        await embeds.send_private(interaction, embeds.info_embed(f"⚙️ {title}", text))

    @staticmethod
    def _channels_text(config: GuildConfig, locale: str | None = None) -> str:
        if not config.allowed_channels:
            return translate(locale, "every channel")
        return embeds.clip(", ".join(f"<#{c}>" for c in config.allowed_channels), embeds.FIELD_VALUE_LIMIT)

    # ---- channels ----------------------------------------------------------------------------------

    @videoadmin.command(
        name="channel-allow", description="Allow video making in a channel (and its threads or forum posts)"
    )
    @app_commands.describe(channel="Once any channel is listed, videos can only be made in listed channels")
    async def channel_allow(self, interaction: discord.Interaction, channel: Listable) -> None:
        assert interaction.guild_id is not None

        def add(config: GuildConfig) -> GuildConfig:
            # Checked under the lock, so two admins adding at once cannot pass the cap together.
            listed = config.allowed_channels
            if channel.id in listed or len(listed) >= MAX_ALLOWED_CHANNELS:
                return config
            return config.with_changes(allowed_channels=(*listed, channel.id))

        locale = str(interaction.locale)
        config = await self._update(interaction.guild_id, add)
        if channel.id not in config.allowed_channels:
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "Too many channels"),
                    [
                        translate(
                            locale,
                            "At most {max} channels can be listed.",
                            max=format_number(MAX_ALLOWED_CHANNELS, locale),
                        )
                    ],
                    translate(
                        locale,
                        "Remove one with /videoadmin channel-remove, or clear the list with channels-clear.",
                    ),
                ),
            )
            return
        await self._done(
            interaction,
            translate(locale, "Channel allowed"),
            translate(
                locale, "Videos can now be made in: {channels}.", channels=self._channels_text(config, locale)
            )
            + "\n"
            + translate(locale, "Managers can still make videos anywhere."),
        )

    @videoadmin.command(name="channel-remove", description="Remove a channel from the allowed list")
    @app_commands.describe(channel="The channel to take off the list")
    async def channel_remove(self, interaction: discord.Interaction, channel: Listable) -> None:
        assert interaction.guild_id is not None

        def remove(config: GuildConfig) -> GuildConfig:
            kept = tuple(c for c in config.allowed_channels if c != channel.id)
            return config.with_changes(allowed_channels=kept)

        locale = str(interaction.locale)
        config = await self._update(interaction.guild_id, remove)
        text = translate(
            locale, "Videos can be made in: {channels}.", channels=self._channels_text(config, locale)
        )
        if not config.allowed_channels:
            text += "\n" + translate(locale, "The list is empty, so every channel is allowed.")
        await self._done(interaction, translate(locale, "Channel removed"), text)

    @videoadmin.command(name="channels-clear", description="Allow video making in every channel again")
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._update(interaction.guild_id, lambda c: c.with_changes(allowed_channels=()))
        locale = str(interaction.locale)
        await self._done(
            interaction,
            translate(locale, "Channel list cleared"),
            translate(locale, "Videos can be made in every channel again."),
        )

    # ---- role --------------------------------------------------------------------------------------

    @videoadmin.command(name="role", description="Require a role to make videos (leave empty to remove)")
    @app_commands.describe(role="Members need this role; leave empty so everyone can make videos")
    async def role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None
        # Everyone has @everyone (a restriction that is none), and a bot's own role can't be given to
        # members (a restriction nobody could meet).
        locale = str(interaction.locale)
        if role is not None and (role.is_default() or role.is_bot_managed()):
            why = (
                translate(locale, "Everyone has @everyone, so it can't be the role members need.")
                if role.is_default()
                else translate(
                    locale, "{role} belongs to a bot, so it can't be the role members need.", role=role.name
                )
            )
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    translate(locale, "Pick another role"),
                    [why],
                    translate(locale, "Run /videoadmin role without a role to let everyone make videos."),
                ),
            )
            return
        role_id = None if role is None else role.id
        await self._update(interaction.guild_id, lambda c: c.with_changes(required_role_id=role_id))
        if role is None:
            await self._done(
                interaction,
                translate(locale, "Role requirement removed"),
                translate(locale, "Every member can make videos."),
            )
        else:
            await self._done(
                interaction,
                translate(locale, "Role required"),
                translate(
                    locale,
                    "Only members with {role} can make videos now. Managers can always make videos.",
                    role=role.mention,
                ),
            )

    # ---- limits ------------------------------------------------------------------------------------

    @videoadmin.command(name="limits", description="Set this server's fair-use limits (0 = no limit)")
    @app_commands.describe(
        max_active="Videos a member may have in progress at once (0 = no limit)",
        max_in_flight="This server's videos with Grok at once; more wait in line (0 = only the bot's limit)",
        cooldown="Seconds a member waits between two videos (0 = none)",
        member_daily="Video-seconds a member may request per day (0 = no limit)",
        server_daily="Video-seconds the whole server may request per day (0 = no limit)",
        reset="Go back to the bot owner's defaults first (other options given are then applied)",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        max_active: app_commands.Range[int, 0, 100] | None = None,
        cooldown: app_commands.Range[int, 0, 7 * 24 * 3600] | None = None,
        member_daily: app_commands.Range[int, 0, 10_000_000] | None = None,
        server_daily: app_commands.Range[int, 0, 10_000_000] | None = None,
        max_in_flight: app_commands.Range[int, 0, 1000] | None = None,
        reset: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        changes: dict[str, object] = {}
        if reset:
            changes = dict.fromkeys(
                ("max_active", "cooldown_seconds", "member_daily_seconds", "server_daily_seconds",
                 "max_in_flight")
            )  # fmt: skip
        given = {
            "max_active": max_active,
            "cooldown_seconds": None if cooldown is None else float(cooldown),
            "member_daily_seconds": member_daily,
            "server_daily_seconds": server_daily,
            "max_in_flight": max_in_flight,
        }
        changes.update({k: v for k, v in given.items() if v is not None})
        config = await self._update(interaction.guild_id, lambda c: c.with_changes(**changes))
        locale = str(interaction.locale)
        if not changes:
            title = translate(locale, "Limits (unchanged)")
        elif reset:
            title = translate(locale, "Limits reset to the defaults")
        else:
            title = translate(locale, "Limits updated")
        text = "\n".join(limit_lines(config, self.bot.settings.default_limits, locale))
        line = in_flight_line(config, self.bot.settings.max_in_flight, locale)
        self.bot.poller.wake()  # a higher bound may let waiting requests go now
        managers = translate(locale, "Managers are not limited.")
        await self._done(interaction, title, f"{text}\n{line}\n\n{managers}")

    # ---- models ------------------------------------------------------------------------------------

    @videoadmin.command(name="models", description="Choose which models members may use")
    @app_commands.describe(allow="Model ids separated by commas or spaces, or all")
    async def models(self, interaction: discord.Interaction, allow: app_commands.Range[str, 1, 1000]) -> None:
        assert interaction.guild_id is not None
        locale = str(interaction.locale)
        known = {model_id.lower(): model_id for model_id in self.bot.catalogue.models}
        asked = [word for word in _MODEL_SPLIT.split(allow.strip()) if word]
        chosen: tuple[str, ...] | None
        if [word.lower() for word in asked] == ["all"]:
            chosen = None
        else:
            unknown = [word for word in asked if word.lower() not in known]
            if unknown or not asked:
                shown = ", ".join(embeds.clip(word, 30) for word in unknown[:5])
                if len(unknown) == 1:
                    title = translate(locale, "Unknown model")
                    problem = translate(locale, "There is no model called {names}.", names=shown)
                else:
                    title = translate(locale, "Unknown models")
                    problem = (
                        translate(locale, "There are no models called {names}.", names=shown)
                        if unknown
                        else translate(locale, "Name at least one model.")
                    )
                hint = translate(
                    locale, "Known models: {models}, or all.", models=", ".join(self.bot.catalogue.models)
                )
                await embeds.send_private(interaction, embeds.refusal_embed(title, [problem], hint))
                return
            picked = {known[word.lower()] for word in asked}
            chosen = tuple(m for m in self.bot.catalogue.models if m in picked)  # catalogue order
        await self._update(interaction.guild_id, lambda c: c.with_changes(allowed_models=chosen))
        listed = translate(locale, "every model") if chosen is None else ", ".join(chosen)
        await self._done(
            interaction,
            translate(locale, "Models updated"),
            translate(locale, "Members can use: {models}.", models=listed),
        )

    @models.autocomplete("allow")
    async def models_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        """Completes the last word of a comma list, so several models can be picked one at a time."""
        head, _, last = current.rpartition(",")
        prefix = f"{head.strip()}, " if head.strip() else ""
        already = {w.lower() for w in _MODEL_SPLIT.split(head) if w}
        options = [m for m in self.bot.catalogue.models if m.lower() not in already]
        matches = [m for m in options if m.lower().startswith(last.strip().lower())] or options
        choices = [] if head.strip() else [app_commands.Choice(name="all", value="all")]
        for model_id in matches:
            value = f"{prefix}{model_id}"
            if len(value) <= 100:  # Discord's cap on a choice's name and value
                choices.append(app_commands.Choice(name=value, value=value))
        return choices[:25]

    # ---- pause -------------------------------------------------------------------------------------

    @videoadmin.command(name="pause", description="Stop new videos on this server (running ones finish)")
    async def pause(self, interaction: discord.Interaction) -> None:
        await self._set_paused(interaction, paused=True)

    @videoadmin.command(name="resume", description="Let members make videos again")
    async def resume(self, interaction: discord.Interaction) -> None:
        await self._set_paused(interaction, paused=False)

    async def _set_paused(self, interaction: discord.Interaction, *, paused: bool) -> None:
        assert interaction.guild_id is not None
        await self._update(interaction.guild_id, lambda c: c.with_changes(paused=paused))
        locale = str(interaction.locale)
        if paused:
            await self._done(
                interaction,
                translate(locale, "Video making paused"),
                translate(
                    locale,
                    "Members can't start new videos until you run /videoadmin resume. Videos already in "
                    "progress still finish and are posted. Managers can still make videos.",
                ),
            )
        else:
            await self._done(
                interaction,
                translate(locale, "Video making resumed"),
                translate(locale, "Members can make videos again."),
            )

    # ---- content rules -----------------------------------------------------------------------------

    blocked = app_commands.Group(
        name="blocked-words", description="Words members' prompts may not contain", parent=videoadmin
    )

    @blocked.command(name="add", description="Block words in prompts: whole words, any case or accents")
    @app_commands.describe(words="One or more words or short phrases, separated by commas")
    async def blocked_add(self, interaction: discord.Interaction, words: WordList) -> None:
        await self._change_words(interaction, words, add_words, adding=True)

    @blocked.command(name="remove", description="Allow blocked words again")
    @app_commands.describe(words="The words to take off the list, separated by commas")
    async def blocked_remove(self, interaction: discord.Interaction, words: WordList) -> None:
        await self._change_words(interaction, words, remove_words, adding=False)

    async def _change_words(
        self,
        interaction: discord.Interaction,
        raw: str,
        change: Callable[[tuple[str, ...], list[str]], WordChange],
        *,
        adding: bool,
    ) -> None:
        assert interaction.guild_id is not None
        asked = split_words(raw)
        outcome: list[WordChange] = []

        def apply(config: GuildConfig) -> GuildConfig:  # under the lock: two admins can't pass the cap
            outcome.append(change(config.blocked_words, asked))
            return config.with_changes(blocked_words=outcome[0].words)

        await self._update(interaction.guild_id, apply)
        await embeds.send_private(interaction, word_change_embed(adding, outcome[0], str(interaction.locale)))

    @blocked.command(name="list", description="Show the blocked words (hidden behind spoilers)")
    async def blocked_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        locale = str(interaction.locale)
        words = (await self.bot.store.guild_config(interaction.guild_id)).blocked_words
        if not words:
            await self._done(
                interaction,
                translate(locale, "No blocked words"),
                translate(locale, "Prompts are not checked for any words."),
            )
            return
        pages = word_pages(words)
        count = format_number(len(words), locale)
        heading = (
            translate(locale, "{count} blocked word", count=count)
            if len(words) == 1
            else translate(locale, "{count} blocked words", count=count)
        )
        for n, page in enumerate(pages, 1):
            of = f" ({n}/{len(pages)})" if len(pages) > 1 else ""
            title = f"🚫 {heading}{of}"
            await embeds.send_private(interaction, embeds.info_embed(title, page))

    @videoadmin.command(
        name="age-restricted-only", description="Make videos only in age-restricted (NSFW) channels"
    )
    @app_commands.describe(enabled="On: only age-restricted channels and their threads; off: any channel")
    async def age_restricted_only(self, interaction: discord.Interaction, enabled: bool) -> None:
        assert interaction.guild is not None
        await self._update(interaction.guild.id, lambda c: c.with_changes(age_restricted_only=enabled))
        locale = str(interaction.locale)
        if not enabled:
            await self._done(
                interaction,
                translate(locale, "Any channel again"),
                translate(locale, "Videos are no longer limited to age-restricted channels."),
            )
            return
        places = [c.mention for c in age_restricted_channels(interaction.guild)]
        where = (
            embeds.clip(", ".join(places), 1000)
            if places
            else translate(
                locale,
                "none yet: mark one age-restricted in its settings (Edit Channel → Age-Restricted Channel)",
            )
        )
        await self._done(
            interaction,
            translate(locale, "Age-restricted channels only"),
            translate(
                locale,
                "Members can make videos only in age-restricted channels and their threads: {channels}.",
                channels=where,
            )
            + "\n"
            + translate(locale, "Managers can still make videos anywhere."),
        )

    # ---- config ------------------------------------------------------------------------------------

    @videoadmin.command(name="config", description="Show this server's video settings")
    async def config(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        locale = str(interaction.locale)
        config = await self.bot.store.guild_config(interaction.guild_id)
        settings = self.bot.settings
        status = (
            "⏸️ " + translate(locale, "Paused: members can't start videos")
            if config.paused
            else "▶️ " + translate(locale, "Members can make videos")
        )
        embed = embeds.info_embed("⚙️ " + translate(locale, "Video settings for this server"), status)
        role = (
            translate(locale, "none (every member)")
            if config.required_role_id is None
            else f"<@&{config.required_role_id}>"
        )
        embed.add_field(
            name=translate(locale, "Channels"), value=self._channels_text(config, locale), inline=False
        )
        embed.add_field(name=translate(locale, "Required role"), value=role, inline=False)
        embed.add_field(
            name=translate(locale, "Content rules"), value=content_rules_text(config, locale), inline=False
        )
        limits = "\n".join(
            [
                *limit_lines(config, settings.default_limits, locale),
                in_flight_line(config, settings.max_in_flight, locale),
            ]
        )
        embed.add_field(
            name=translate(locale, "Limits"),
            value=embeds.clip(limits, embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
        waiting, waiting_here, with_grok, with_grok_here = await self.bot.store.line_counts(
            interaction.guild_id
        )
        bound = (
            format_number(settings.max_in_flight, locale)
            if settings.max_in_flight
            else translate(locale, "no limit")
        )
        line = "\n".join(
            [
                translate(
                    locale,
                    "Waiting: **{here}** from this server, **{everywhere}** in the whole line",
                    here=format_number(waiting_here, locale),
                    everywhere=format_number(waiting, locale),
                ),
                translate(
                    locale,
                    "With Grok now: **{here}** from this server, **{everywhere}** in all "
                    "(MAX_IN_FLIGHT: {bound})",
                    here=format_number(with_grok_here, locale),
                    everywhere=format_number(with_grok, locale),
                    bound=bound,
                ),
            ]
        )
        embed.add_field(name=translate(locale, "The line"), value=line, inline=False)
        models = (
            translate(locale, "all: {models}", models=", ".join(self.bot.catalogue.models))
            if config.allowed_models is None
            else ", ".join(config.allowed_models)
        )
        embed.add_field(
            name=translate(locale, "Models"),
            value=embeds.clip(models, embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
        embed.add_field(
            name=translate(locale, "Prices ({currency}, set by the bot owner)", currency=settings.currency),
            value=embeds.clip("\n".join(self._price_lines(locale)), embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
        embed.set_footer(text=translate(locale, "Managers (Manage Server) are never limited or restricted."))
        await embeds.send_private(interaction, embed)

    def _price_lines(self, locale: str | None = None) -> list[str]:
        prices, currency = self.bot.settings.price_table, self.bot.settings.currency
        lines = []
        for model_id, spec in self.bot.catalogue.models.items():
            price = prices.get(model_id)
            if price is None:
                shown = translate(locale, "not set")
            elif spec.billing == "per_call":
                shown = translate(locale, "{price} per video", price=money(price, currency, locale))
            else:
                shown = translate(locale, "{price} per video-second", price=money(price, currency, locale))
            lines.append(f"{model_id}: {shown}")
        return lines

    # ---- usage -------------------------------------------------------------------------------------

    @videoadmin.command(name="usage", description="Who made how many videos, with estimated costs")
    @app_commands.describe(period="Which days to count (default: today)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(self, interaction: discord.Interaction, period: str = "today") -> None:
        assert interaction.guild_id is not None
        # A busy server's history can take a moment to sum; answer within Discord's 3 seconds, privately.
        await interaction.response.defer(ephemeral=True, thinking=True)
        locale = str(interaction.locale)
        days, since_of = _PERIODS.get(period, _PERIODS["today"])
        raw = await self.bot.store.usage_report(interaction.guild_id, since_of(time.time()))
        prices, currency = self.bot.settings.price_table, self.bot.settings.currency
        rows = []
        for member_id, model, videos, seconds in raw:
            spec = self.bot.catalogue.get(model)
            # A model the owner removed has no known billing unit: no estimate rather than a wrong one.
            amount = None if spec is None else cost(prices, model, spec.billing, videos, seconds)
            rows.append(UsageRow(member_id, model, videos, seconds, amount))
        if days is None:
            title = translate(locale, "Usage today (since 00:00 UTC)")
            empty = translate(locale, "No videos were made today (since 00:00 UTC).")
        else:
            title = translate(locale, "Usage in the last {days} days", days=format_number(days, locale))
            empty = translate(
                locale, "No videos were made in the last {days} days.", days=format_number(days, locale)
            )
        if not rows:
            await self._done(interaction, title, empty)
            return
        members, models, total = usage_lines(rows, currency, locale)
        embed = embeds.info_embed(f"📊 {title}", "\n".join(members))
        embed.add_field(
            name=translate(locale, "By model"),
            value=embeds.clip("\n".join(models), embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
        embed.add_field(name=translate(locale, "Total"), value=total, inline=False)
        unpriced = sorted({r.model for r in rows if r.cost is None})
        if unpriced:
            spec = self.bot.catalogue.get(unpriced[0])
            unit = (
                translate(locale, "video")
                if spec is not None and spec.billing == "per_call"
                else translate(locale, "video-second")
            )
            note = translate(
                locale,
                "No price is set for {models}, so the cost shows n/a and is left out of the totals. The "
                "bot owner sets prices with PRICES in the bot's settings, e.g. PRICES={example}=0.10 "
                "(per {unit}, in {currency}).",
                models=", ".join(unpriced),
                example=unpriced[0],
                unit=unit,
                currency=currency,
            )
            embed.add_field(
                name=translate(locale, "Costs"),
                value=embeds.clip(note, embeds.FIELD_VALUE_LIMIT),
                inline=False,
            )
        embed.set_footer(
            text=translate(
                locale, "Costs are estimates from the owner's prices; refused requests don't count."
            )
        )
        await embeds.send_private(interaction, embed)


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(AdminCog(bot))
