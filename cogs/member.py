"""`/videos`: a member's own view: recent videos, one task's status (re-posting an undelivered one), quota;
and `/videohelp`: how to make videos, the models as loaded, the member's quota and the server's rules.

`/videohelp` is a top-level command on purpose: typing "/video" in Discord's slash menu lists it right next
to /video, where members look; as `/videos help` it would be hidden until someone opened /videos."""

from __future__ import annotations

import time
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
from bot.discord.views import details_embed

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


def task_line(task: Task) -> str:
    icon = _STATE_ICONS.get(task.state, "⏳")
    state = task.outcome if task.state is State.DELIVERED and task.outcome else task.state.value
    link = message_link(task.guild_id, task.delivered_channel_id, task.delivered_message_id)
    where = f" · [message]({link})" if link else ""
    prompt = embeds.clip(task.request.prompt, 60).replace("\n", " ")
    when = discord_time(task.created_at)
    return f"{icon} **#{task.id}** · {state} · {task.request.model} · {when}{where}\n-# {prompt}"


class MemberCog(commands.Cog):
    videos = app_commands.Group(name="videos", description="Your Grok videos", guild_only=True)

    def __init__(self, bot: GrokVideoBot) -> None:
        self.bot = bot

    @videos.command(name="mine", description="Your recent videos on this server")
    async def mine(self, interaction: discord.Interaction) -> None:
        tasks = await self.bot.store.tasks_for_member(interaction.user.id, interaction.guild_id, MINE_LIMIT)
        if not tasks:
            text = "You haven't made any videos here yet. Try /video!"
        else:
            text = "\n".join(task_line(t) for t in tasks)
        await embeds.send_private(interaction, embeds.info_embed("🎬 Your recent videos", text))

    @videos.command(
        name="status", description="Where one of your videos is; re-posts it here if it was never delivered"
    )
    @app_commands.describe(task="The task number (shown as #12 in messages)")
    async def status(self, interaction: discord.Interaction, task: app_commands.Range[int, 1]) -> None:
        found = await self.bot.store.get(task)
        is_admin = interaction.permissions.manage_guild
        if (
            found is None
            or found.guild_id != interaction.guild_id
            or (found.requester_id != interaction.user.id and not is_admin)
        ):
            await embeds.send_private(
                interaction,
                embeds.refusal_embed(
                    "No such video", [f"You have no task #{task} on this server."], "See /videos mine."
                ),
            )
            return
        note = ""
        if found.state in TO_DELIVER and (found.next_poll_at is None or found.notify_requester):
            note = await self._repost_here(interaction, found)
        embed = details_embed(found)
        if note:
            embed.add_field(name="Delivery", value=note, inline=False)
        link = message_link(found.guild_id, found.delivered_channel_id, found.delivered_message_id)
        if link:
            embed.add_field(name="Message", value=link, inline=False)
        await embeds.send_private(interaction, embed)

    async def _repost_here(self, interaction: discord.Interaction, task: Task) -> str:
        """An outcome that could not be posted anywhere is re-aimed at this channel and retried now.

        The earlier target stays recorded, so delivery still looks there first for a post it made before a
        crash: asking again can never produce a second copy.
        """
        if interaction.channel_id is None or not interaction.app_permissions.attach_files:
            return "I can't post here; try a channel where I can send files."
        moved = await self.bot.store.transition(
            task.id, TO_DELIVER, channel_id=interaction.channel_id, delivery_attempts=0, notify_requester=0,
            next_poll_at=time.time(),
        )  # fmt: skip
        if not moved:
            return "It is on its way already."
        self.bot.poller.wake()
        return "I couldn't deliver it before; I'm posting it in this channel now."

    @videos.command(name="quota", description="How much you can still make today, and when it resets")
    async def quota(self, interaction: discord.Interaction) -> None:
        lines = await self._quota_lines(interaction)
        await embeds.send_private(interaction, embeds.info_embed("📊 Your quota", "\n".join(lines)))

    async def _quota_lines(self, interaction: discord.Interaction) -> list[str]:
        assert interaction.guild_id is not None
        config = await self.bot.store.guild_config(interaction.guild_id)
        usage = await self.bot.store.usage(interaction.user.id, interaction.guild_id)
        limits = config.limits(self.bot.settings.default_limits)
        lines = quota_lines(limits, usage, time.time(), manages=interaction.permissions.manage_guild)
        return lines + await self._line_lines(interaction.user.id, interaction.guild_id)

    async def _line_lines(self, member_id: int, guild_id: int) -> list[str]:
        """The member's requests waiting in the line, with their places, and the line's bound."""
        store, max_in_flight = self.bot.store, self.bot.settings.max_in_flight
        mine = await store.waiting(LISTED_IN_LINE, member_id, guild_id)
        places = [f"#{await store.line_position(t, max_in_flight)} (task #{t.id})" for t in mine]
        bound = f"at most {max_in_flight} at once" if max_in_flight else "no limit at once"
        return [
            f"**In line:** {', '.join(places) if places else 'none'}",
            f"**Videos with Grok:** {bound} (MAX_IN_FLIGHT)",
        ]

    # ---- /videohelp --------------------------------------------------------------------------------

    @app_commands.command(name="videohelp", description="How to make videos here: models, your quota, rules")
    @app_commands.guild_only()
    async def videohelp(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        config = await self.bot.store.guild_config(interaction.guild_id)
        me = self.bot.user.mention if self.bot.user else "the bot"
        embed = help_embed(self.bot.catalogue, config, me, reply_mode=self.bot.settings.reply_mode)
        quota = "\n".join(await self._quota_lines(interaction))
        embed.add_field(name="Your quota", value=embeds.clip(quota, embeds.FIELD_VALUE_LIMIT), inline=False)
        embed.add_field(name="This server's rules", value=rules_text(config), inline=False)
        await embeds.send_private(interaction, embed)


def quota_lines(limits: Limits, usage: Usage, now: float, *, manages: bool) -> list[str]:
    """What /videos quota and /videohelp show: in progress, when the next video is possible, the daily
    allowances left and when they reset."""
    lines = ["You manage this server: limits don't apply to you."] if manages else []

    def allowance(used: int, cap: int) -> str:
        return f"{max(0, cap - used)} s of {cap} s left" if cap else "no daily limit"

    active = f"{usage.active} of {limits.max_active}" if limits.max_active else f"{usage.active} (no limit)"
    lines.append(f"**In progress:** {active}")
    ready_at = (usage.last_submitted_at or 0) + limits.cooldown_seconds
    if limits.cooldown_seconds and usage.last_submitted_at and ready_at > now:
        lines.append(f"**Next video possible:** {discord_time(ready_at)}")
    else:
        lines.append("**Next video possible:** now")
    lines.append(f"**You today:** {allowance(usage.member_seconds_today, limits.member_daily_seconds)}")
    lines.append(f"**Server today:** {allowance(usage.server_seconds_today, limits.server_daily_seconds)}")
    lines.append(f"**Daily allowances reset** {discord_time(next_reset(now))} (00:00 UTC)")
    return lines


def model_line(spec: ModelSpec) -> str:
    durations = spec.durations
    if len(durations) == 1:
        length = f"{durations[0]} s"
    elif list(durations) == list(range(durations[0], durations[-1] + 1)):
        length = f"{durations[0]}–{durations[-1]} s"
    else:
        length = "/".join(map(str, durations)) + " s"
    images = f"up to {spec.max_images} image{'s' if spec.max_images != 1 else ''}"
    if not spec.max_images:
        images = "text only"
    ratios, sizes = ", ".join(spec.aspect_ratios), "/".join(spec.resolutions)
    return f"**{spec.label}** (`{spec.id}`): {length} · {ratios} · {sizes} · {images}"


def fitted(items: list[str], limit: int, more: str, sep: str = "\n") -> str:
    """As many whole items as fit in `limit` characters, then "…and N `more`" for the rest."""
    items = [embeds.clip(item, limit // 2) for item in items]
    shown: list[str] = []
    used = 0
    for n, item in enumerate(items):
        reserve = len(f"{sep}…and {len(items)} {more}") if n < len(items) - 1 else 0
        if used + len(sep) + len(item) + reserve > limit:
            return sep.join(shown) + f"{sep}…and {len(items) - n} {more}"
        shown.append(item)
        used += len(sep) + len(item)
    return sep.join(shown)


def help_embed(catalogue: Catalogue, config: GuildConfig, me: str, *, reply_mode: bool) -> discord.Embed:
    """How to make a video each way, and the models members can use here as the catalogue has them."""
    ways = [
        "**/video**: type a prompt, pick the model, length, shape and resolution, attach images if you like.",
        "**Animate with Grok**: on a message with images, open its menu (right-click or long-press) → "
        "Apps → Animate with Grok, and describe what should happen.",
    ]
    if reply_mode:
        ways.insert(
            1,
            f"**Reply mode**: reply to a message with images (or attach some) and mention {me} with your "
            f"prompt, e.g. `the cat waves --duration {flag_examples(catalogue)['duration']}`.",
        )
    ways.append("Your video is posted in the channel and you are mentioned. See **/videos mine** for yours.")
    embed = embeds.info_embed("🎬 Making videos with Grok", "\n".join(f"• {w}" for w in ways))
    usable = [
        spec
        for spec in catalogue.models.values()
        if config.allowed_models is None or spec.id in config.allowed_models
    ]
    models = fitted([model_line(s) for s in usable], embeds.FIELD_VALUE_LIMIT, "more models (see /video)")
    embed.add_field(name="Models", value=models or "None is allowed on this server.", inline=False)
    return embed


def rules_text(config: GuildConfig) -> str:
    channels = (
        fitted([f"<#{c}>" for c in config.allowed_channels], 500, "more", sep=", ")
        if config.allowed_channels
        else "every channel"
    )
    lines = [
        "⏸️ **Paused**: no new videos for now." if config.paused else "▶️ Video making is on.",
        f"**Channels:** {channels}",
        f"**Role needed:** {'none' if config.required_role_id is None else f'<@&{config.required_role_id}>'}",
        f"**Blocked words:** {len(config.blocked_words)}",
        f"**Age-restricted channels only:** {'yes' if config.age_restricted_only else 'no'}",
    ]
    return embeds.clip("\n".join(lines), embeds.FIELD_VALUE_LIMIT)


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(MemberCog(bot))
