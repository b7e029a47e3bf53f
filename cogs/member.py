"""`/videos`: a member's own view: recent videos, one task's status (re-posting an undelivered one), quota."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.policy import discord_time, next_reset
from bot.core.store import TO_DELIVER, State, Task
from bot.discord import embeds
from bot.discord.views import details_embed

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

MINE_LIMIT = 10
_STATE_ICONS = {
    State.DELIVERED: "✅", State.FAILED: "❌", State.EXPIRED: "⏱️", State.LOST: "⚠️", State.REJECTED: "🚫",
}  # fmt: skip


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
        assert interaction.guild_id is not None
        config = await self.bot.store.guild_config(interaction.guild_id)
        limits = config.limits(self.bot.settings.default_limits)
        usage = await self.bot.store.usage(interaction.user.id, interaction.guild_id)
        now = time.time()
        lines = []
        if interaction.permissions.manage_guild:
            lines.append("You manage this server: limits don't apply to you.")

        def allowance(used: int, cap: int) -> str:
            return f"{max(0, cap - used)} s of {cap} s left" if cap else "no daily limit"

        active = (
            f"{usage.active} of {limits.max_active}" if limits.max_active else f"{usage.active} (no limit)"
        )
        lines.append(f"**In progress:** {active}")
        if (
            limits.cooldown_seconds
            and usage.last_submitted_at
            and usage.last_submitted_at + limits.cooldown_seconds > now
        ):
            lines.append(
                f"**Next video possible:** {discord_time(usage.last_submitted_at + limits.cooldown_seconds)}"
            )
        else:
            lines.append("**Next video possible:** now")
        lines.append(f"**You today:** {allowance(usage.member_seconds_today, limits.member_daily_seconds)}")
        lines.append(
            f"**Server today:** {allowance(usage.server_seconds_today, limits.server_daily_seconds)}"
        )
        lines.append(f"**Daily allowances reset** {discord_time(next_reset(now))} (00:00 UTC)")
        await embeds.send_private(interaction, embeds.info_embed("📊 Your quota", "\n".join(lines)))


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(MemberCog(bot))
