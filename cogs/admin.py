"""`/videoadmin`: what a server's managers control: where and by whom videos are made, limits, models,
a pause switch, and a usage report with estimated costs.

Every setting lives in the `guild_settings` row (store.guild_config / save_guild_config), which the video
cog reads on every request: a change applies to the next /video at once and survives restarts. Every answer
is private: a settings change is nobody else's business, and a refusal must not embarrass anyone.
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
    format_money,
    remove_words,
    split_words,
    total_cost,
)
from bot.discord import embeds
from bot.discord.requests import age_restricted_channels

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
_PERIODS: dict[str, tuple[str, Callable[[float], float]]] = {
    "today": ("today (since 00:00 UTC)", day_start),
    "7d": ("in the last 7 days", lambda now: now - 7 * DAY),
    "30d": ("in the last 30 days", lambda now: now - 30 * DAY),
}
PERIOD_CHOICES = [
    app_commands.Choice(name="today", value="today"),
    app_commands.Choice(name="7 days", value="7d"),
    app_commands.Choice(name="30 days", value="30d"),
]


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def limit_lines(config: GuildConfig, defaults: Limits) -> list[str]:
    """The effective limits, each marked as this server's choice or the bot owner's default."""
    effective = config.limits(defaults)
    rows: list[tuple[str, float | None, float, Callable[[float], str]]] = [
        ("Videos in progress per member", config.max_active, effective.max_active, lambda v: f"{int(v)}"),
        ("Cooldown between a member's videos", config.cooldown_seconds, effective.cooldown_seconds,
         duration_text),
        ("Video-seconds per member per day", config.member_daily_seconds, effective.member_daily_seconds,
         lambda v: f"{int(v):,} s"),
        ("Video-seconds for the server per day", config.server_daily_seconds,
         effective.server_daily_seconds, lambda v: f"{int(v):,} s"),
    ]  # fmt: skip
    lines = []
    for label, override, value, show in rows:
        shown = show(value) if value else "no limit"  # 0 switches a limit off (see policy.Limits)
        origin = "server setting" if override is not None else "default"
        lines.append(f"{label}: **{shown}** ({origin})")
    return lines


def in_flight_line(config: GuildConfig, max_in_flight: int) -> str:
    """This server's bound on its videos with Grok at once, and the bot owner's over all servers."""
    everyone = f"{max_in_flight} for all servers" if max_in_flight else "no limit for all servers"
    if config.max_in_flight:
        return f"Videos with Grok at once: **{config.max_in_flight}** (server setting; {everyone})"
    return f"Videos with Grok at once: **{everyone}** (default, MAX_IN_FLIGHT)"


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


def usage_lines(rows: Sequence[UsageRow], currency: str) -> tuple[list[str], list[str], str]:
    """(member lines, per-model lines, total line) for the report; members ordered by video-seconds."""
    by_member: dict[int, list[UsageRow]] = {}
    by_model: dict[str, list[UsageRow]] = {}
    for row in rows:
        by_member.setdefault(row.member_id, []).append(row)
        by_model.setdefault(row.model, []).append(row)

    def summary(group: Sequence[UsageRow]) -> str:
        videos, seconds = sum(r.videos for r in group), sum(r.seconds for r in group)
        money = format_money(total_cost([r.cost for r in group]), currency)
        return f"{plural(videos, 'video')} · {seconds:,} s · {money}"

    ranked = sorted(by_member.items(), key=lambda item: -sum(r.seconds for r in item[1]))
    members = []
    for member_id, group in ranked[:TOP_MEMBERS]:
        detail = "; ".join(f"{r.model}: {summary([r])}" for r in group)
        members.append(f"<@{member_id}> · {summary(group)}\n-# {embeds.clip(detail, _MEMBER_LINE_LIMIT)}")
    if len(ranked) > TOP_MEMBERS:
        members.append(f"…and {plural(len(ranked) - TOP_MEMBERS, 'more member')}")
    heaviest = sorted(by_model.items(), key=lambda item: -sum(r.seconds for r in item[1]))
    models = [f"{model}: {summary(group)}" for model, group in heaviest]
    return members, models, summary(rows)


def content_rules_text(config: GuildConfig) -> str:
    words = len(config.blocked_words)
    listed = f"{words} of {MAX_BLOCKED_WORDS} (/videoadmin blocked-words list)" if words else "none"
    age = "on: only in age-restricted channels" if config.age_restricted_only else "off"
    return f"Blocked words: {listed}\nAge-restricted channels only: {age}"


def word_change_embed(title: str, change: WordChange) -> discord.Embed:
    """What add or remove did, the words spoilered (the list is not meant to be read by accident)."""
    lines = []
    if change.changed:
        lines.append(f"{title}: {spoilered(change.changed)}.")
    if change.unchanged:
        verb = "Already blocked" if "added" in title else "Not on the list"
        lines.append(f"{verb}: {spoilered(change.unchanged)}.")
    lines += [f"• {embeds.plain(p)}" for p in change.problems]
    lines.append(f"The list has {plural(len(change.words), 'word')} (at most {MAX_BLOCKED_WORDS}).")
    if change.problems and not change.changed:
        return embeds.refusal_embed("Blocked words unchanged", lines[:-1], lines[-1])
    return embeds.info_embed(f"⚙️ {title if change.changed else 'Blocked words unchanged'}", "\n".join(lines))


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
        its app commands; the group's default permissions only hide it, and server settings can show it to
        anyone. The error stops the subcommand before it runs, and BotTree.on_error refuses privately,
        naming the permission."""
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
    def _channels_text(config: GuildConfig) -> str:
        if not config.allowed_channels:
            return "every channel"
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

        config = await self._update(interaction.guild_id, add)
        if channel.id not in config.allowed_channels:
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    "Too many channels",
                    [f"At most {MAX_ALLOWED_CHANNELS} channels can be listed."],
                    "Remove one with /videoadmin channel-remove, or clear the list with channels-clear.",
                ),
            )
            return
        await self._done(
            interaction,
            "Channel allowed",
            f"Videos can now be made in: {self._channels_text(config)}.\n"
            "Managers can still make videos anywhere.",
        )

    @videoadmin.command(name="channel-remove", description="Remove a channel from the allowed list")
    @app_commands.describe(channel="The channel to take off the list")
    async def channel_remove(self, interaction: discord.Interaction, channel: Listable) -> None:
        assert interaction.guild_id is not None

        def remove(config: GuildConfig) -> GuildConfig:
            kept = tuple(c for c in config.allowed_channels if c != channel.id)
            return config.with_changes(allowed_channels=kept)

        config = await self._update(interaction.guild_id, remove)
        note = "" if config.allowed_channels else "\nThe list is empty, so every channel is allowed."
        await self._done(
            interaction, "Channel removed", f"Videos can be made in: {self._channels_text(config)}.{note}"
        )

    @videoadmin.command(name="channels-clear", description="Allow video making in every channel again")
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await self._update(interaction.guild_id, lambda c: c.with_changes(allowed_channels=()))
        await self._done(interaction, "Channel list cleared", "Videos can be made in every channel again.")

    # ---- role --------------------------------------------------------------------------------------

    @videoadmin.command(name="role", description="Require a role to make videos (leave empty to remove)")
    @app_commands.describe(role="Members need this role; leave empty so everyone can make videos")
    async def role(self, interaction: discord.Interaction, role: discord.Role | None = None) -> None:
        assert interaction.guild_id is not None
        # Everyone has @everyone (a restriction that is none), and a bot's own role can't be given to
        # members (a restriction nobody could meet).
        if role is not None and (role.is_default() or role.is_bot_managed()):
            why = "Everyone has @everyone" if role.is_default() else f"{role.name} belongs to a bot"
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    "Pick another role",
                    [f"{why}, so it can't be the role members need."],
                    "Run /videoadmin role without a role to let everyone make videos.",
                ),
            )
            return
        role_id = None if role is None else role.id
        await self._update(interaction.guild_id, lambda c: c.with_changes(required_role_id=role_id))
        if role is None:
            await self._done(interaction, "Role requirement removed", "Every member can make videos.")
        else:
            await self._done(
                interaction,
                "Role required",
                f"Only members with {role.mention} can make videos now. Managers can always make videos.",
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
        if not changes:
            title = "Limits (unchanged)"
        elif reset:
            title = "Limits reset to the defaults"
        else:
            title = "Limits updated"
        text = "\n".join(limit_lines(config, self.bot.settings.default_limits))
        line = in_flight_line(config, self.bot.settings.max_in_flight)
        self.bot.poller.wake()  # a higher bound may let waiting requests go now
        await self._done(interaction, title, f"{text}\n{line}\n\nManagers are not limited.")

    # ---- models ------------------------------------------------------------------------------------

    @videoadmin.command(name="models", description="Choose which models members may use")
    @app_commands.describe(allow="Model ids separated by commas or spaces, or all")
    async def models(self, interaction: discord.Interaction, allow: app_commands.Range[str, 1, 1000]) -> None:
        assert interaction.guild_id is not None
        known = {model_id.lower(): model_id for model_id in self.bot.catalogue.models}
        asked = [word for word in _MODEL_SPLIT.split(allow.strip()) if word]
        chosen: tuple[str, ...] | None
        if [word.lower() for word in asked] == ["all"]:
            chosen = None
        else:
            unknown = [word for word in asked if word.lower() not in known]
            if unknown or not asked:
                shown = ", ".join(embeds.clip(word, 30) for word in unknown[:5])
                await embeds.send_private(
                    interaction,
                    embeds.refusal_embed(
                        "Unknown model" if len(unknown) == 1 else "Unknown models",
                        [
                            f"There is no model called {shown}."
                            if len(unknown) == 1
                            else f"There are no models called {shown}."
                            if unknown
                            else "Name at least one model."
                        ],
                        f"Known models: {', '.join(self.bot.catalogue.models)}, or all.",
                    ),
                )
                return
            picked = {known[word.lower()] for word in asked}
            chosen = tuple(m for m in self.bot.catalogue.models if m in picked)  # catalogue order
        await self._update(interaction.guild_id, lambda c: c.with_changes(allowed_models=chosen))
        listed = "every model" if chosen is None else ", ".join(chosen)
        await self._done(interaction, "Models updated", f"Members can use: {listed}.")

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
        if paused:
            await self._done(
                interaction,
                "Video making paused",
                "Members can't start new videos until you run /videoadmin resume. Videos already in "
                "progress still finish and are posted. Managers can still make videos.",
            )
        else:
            await self._done(interaction, "Video making resumed", "Members can make videos again.")

    # ---- content rules -----------------------------------------------------------------------------

    blocked = app_commands.Group(
        name="blocked-words", description="Words members' prompts may not contain", parent=videoadmin
    )

    @blocked.command(name="add", description="Block words in prompts: whole words, any case or accents")
    @app_commands.describe(words="One or more words or short phrases, separated by commas")
    async def blocked_add(self, interaction: discord.Interaction, words: WordList) -> None:
        await self._change_words(interaction, words, add_words, "Blocked words added")

    @blocked.command(name="remove", description="Allow blocked words again")
    @app_commands.describe(words="The words to take off the list, separated by commas")
    async def blocked_remove(self, interaction: discord.Interaction, words: WordList) -> None:
        await self._change_words(interaction, words, remove_words, "Blocked words removed")

    async def _change_words(
        self,
        interaction: discord.Interaction,
        raw: str,
        change: Callable[[tuple[str, ...], list[str]], WordChange],
        title: str,
    ) -> None:
        assert interaction.guild_id is not None
        asked = split_words(raw)
        outcome: list[WordChange] = []

        def apply(config: GuildConfig) -> GuildConfig:  # under the lock: two admins can't pass the cap
            outcome.append(change(config.blocked_words, asked))
            return config.with_changes(blocked_words=outcome[0].words)

        await self._update(interaction.guild_id, apply)
        await embeds.send_private(interaction, word_change_embed(title, outcome[0]))

    @blocked.command(name="list", description="Show the blocked words (hidden behind spoilers)")
    async def blocked_list(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        words = (await self.bot.store.guild_config(interaction.guild_id)).blocked_words
        if not words:
            await self._done(interaction, "No blocked words", "Prompts are not checked for any words.")
            return
        pages = word_pages(words)
        for n, page in enumerate(pages, 1):
            of = f" ({n}/{len(pages)})" if len(pages) > 1 else ""
            title = f"🚫 {plural(len(words), 'blocked word')}{of}"
            await embeds.send_private(interaction, embeds.info_embed(title, page))

    @videoadmin.command(
        name="age-restricted-only", description="Make videos only in age-restricted (NSFW) channels"
    )
    @app_commands.describe(enabled="On: only age-restricted channels and their threads; off: any channel")
    async def age_restricted_only(self, interaction: discord.Interaction, enabled: bool) -> None:
        assert interaction.guild is not None
        await self._update(interaction.guild.id, lambda c: c.with_changes(age_restricted_only=enabled))
        if not enabled:
            await self._done(
                interaction, "Any channel again", "Videos are no longer limited to age-restricted channels."
            )
            return
        places = [c.mention for c in age_restricted_channels(interaction.guild)]
        where = (
            embeds.clip(", ".join(places), 1000)
            if places
            else "none yet: mark one age-restricted in its settings (Edit Channel → Age-Restricted Channel)"
        )
        await self._done(
            interaction,
            "Age-restricted channels only",
            f"Members can make videos only in age-restricted channels and their threads: {where}.\n"
            "Managers can still make videos anywhere.",
        )

    # ---- config ------------------------------------------------------------------------------------

    @videoadmin.command(name="config", description="Show this server's video settings")
    async def config(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        config = await self.bot.store.guild_config(interaction.guild_id)
        settings = self.bot.settings
        status = "⏸️ Paused: members can't start videos" if config.paused else "▶️ Members can make videos"
        embed = embeds.info_embed("⚙️ Video settings for this server", status)
        role = "none (every member)" if config.required_role_id is None else f"<@&{config.required_role_id}>"
        embed.add_field(name="Channels", value=self._channels_text(config), inline=False)
        embed.add_field(name="Required role", value=role, inline=False)
        embed.add_field(name="Content rules", value=content_rules_text(config), inline=False)
        limits = "\n".join(
            [*limit_lines(config, settings.default_limits), in_flight_line(config, settings.max_in_flight)]
        )
        embed.add_field(name="Limits", value=embeds.clip(limits, embeds.FIELD_VALUE_LIMIT), inline=False)
        waiting, waiting_here, with_grok, with_grok_here = await self.bot.store.line_counts(
            interaction.guild_id
        )
        bound = f"{settings.max_in_flight}" if settings.max_in_flight else "no limit"
        line = (
            f"Waiting: **{waiting_here}** from this server, **{waiting}** in the whole line\n"
            f"With Grok now: **{with_grok_here}** from this server, **{with_grok}** in all "
            f"(MAX_IN_FLIGHT: {bound})"
        )
        embed.add_field(name="The line", value=line, inline=False)
        models = (
            f"all: {', '.join(self.bot.catalogue.models)}"
            if config.allowed_models is None
            else ", ".join(config.allowed_models)
        )
        embed.add_field(name="Models", value=embeds.clip(models, embeds.FIELD_VALUE_LIMIT), inline=False)
        embed.add_field(
            name=f"Prices ({settings.currency}, set by the bot owner)",
            value=embeds.clip("\n".join(self._price_lines()), embeds.FIELD_VALUE_LIMIT),
            inline=False,
        )
        embed.set_footer(text="Managers (Manage Server) are never limited or restricted.")
        await embeds.send_private(interaction, embed)

    def _price_lines(self) -> list[str]:
        prices, currency = self.bot.settings.price_table, self.bot.settings.currency
        lines = []
        for model_id, spec in self.bot.catalogue.models.items():
            unit = "video" if spec.billing == "per_call" else "video-second"
            price = prices.get(model_id)
            shown = "not set" if price is None else f"{format_money(price, currency)} per {unit}"
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
        label, since_of = _PERIODS.get(period, _PERIODS["today"])
        raw = await self.bot.store.usage_report(interaction.guild_id, since_of(time.time()))
        prices, currency = self.bot.settings.price_table, self.bot.settings.currency
        rows = []
        for member_id, model, videos, seconds in raw:
            spec = self.bot.catalogue.get(model)
            # A model the owner removed has no known billing unit: no estimate rather than a wrong one.
            amount = None if spec is None else cost(prices, model, spec.billing, videos, seconds)
            rows.append(UsageRow(member_id, model, videos, seconds, amount))
        if not rows:
            await self._done(interaction, f"Usage {label}", f"No videos were made {label}.")
            return
        members, models, total = usage_lines(rows, currency)
        embed = embeds.info_embed(f"📊 Usage {label}", "\n".join(members))
        embed.add_field(
            name="By model", value=embeds.clip("\n".join(models), embeds.FIELD_VALUE_LIMIT), inline=False
        )
        embed.add_field(name="Total", value=total, inline=False)
        unpriced = sorted({r.model for r in rows if r.cost is None})
        if unpriced:
            spec = self.bot.catalogue.get(unpriced[0])
            unit = "video" if spec is not None and spec.billing == "per_call" else "video-second"
            note = (
                f"No price is set for {', '.join(unpriced)}, so the cost shows n/a and is left out of the "
                "totals. The bot owner sets prices with PRICES in the bot's settings, e.g. "
                f"PRICES={unpriced[0]}=0.10 (per {unit}, in {currency})."
            )
            embed.add_field(name="Costs", value=embeds.clip(note, embeds.FIELD_VALUE_LIMIT), inline=False)
        embed.set_footer(text="Costs are estimates from the owner's prices; refused requests don't count.")
        await embeds.send_private(interaction, embed)


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(AdminCog(bot))
