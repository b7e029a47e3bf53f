"""What members use: /video, the "Animate with Grok" message menu, and reply mode (mention the bot).

Every path ends the same way (`_start`): check the request and the channel BEFORE any API call, refuse
privately with what would work, otherwise submit, post the status message and acknowledge privately.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.catalogue import MAX_PROMPT_CHARS, Catalogue, VideoRequest
from bot.core.pipeline import Accepted, Submission
from bot.core.policy import Limits, Refused, Requester, check_access
from bot.discord import embeds
from cogs.video_input import ImageFile, image_problems, missing_permissions, parse_duration, parse_reply

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

log = logging.getLogger(__name__)

DEFAULT_MODEL = "grok_video3"
_CONTRACT = Catalogue.default()
ALL_RATIOS = sorted(
    {r for m in _CONTRACT.models.values() for r in m.aspect_ratios},
    key=["16:9", "9:16", "1:1", "3:2", "2:3"].index,
)
ALL_RESOLUTIONS = sorted({r for m in _CONTRACT.models.values() for r in m.resolutions})
MODEL_CHOICES = [
    app_commands.Choice(name=f"{m.label} ({m.description})"[:100], value=m.id)
    for m in _CONTRACT.models.values()
]


class AnimateModal(discord.ui.Modal, title="Animate with Grok"):
    def __init__(self, cog: VideoCog, target: discord.Message, images: list[ImageFile]) -> None:
        super().__init__(timeout=900)
        self.cog = cog
        self.target = target
        self.images = images
        catalogue = cog.bot.catalogue
        self.prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            max_length=MAX_PROMPT_CHARS,
            placeholder="What should happen? Subject, action, camera movement, style…",
        )
        self.model: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="model",
            options=[
                discord.SelectOption(
                    label=m.label, value=m.id, description=m.description[:100], default=m.id == DEFAULT_MODEL
                )
                for m in catalogue.models.values()
            ],
        )
        self.duration: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="duration", required=False, max_length=4, placeholder="10 (leave empty for the default)"
        )
        self.aspect_ratio: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="aspect_ratio",
            required=False,
            placeholder="16:9 (default)",
            options=[discord.SelectOption(label=r, value=r) for r in ALL_RATIOS],
        )
        self.resolution: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="resolution",
            required=False,
            placeholder="720p (default)",
            options=[discord.SelectOption(label=r, value=r) for r in ALL_RESOLUTIONS],
        )
        self.add_item(discord.ui.Label(text="Prompt", component=self.prompt))
        self.add_item(discord.ui.Label(text="Model", component=self.model))
        self.add_item(discord.ui.Label(text="Duration (seconds)", component=self.duration))
        self.add_item(discord.ui.Label(text="Aspect ratio", component=self.aspect_ratio))
        self.add_item(discord.ui.Label(text="Resolution", component=self.resolution))

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]  # Modal narrows it
        log.error("the Animate with Grok form failed", exc_info=error)
        await embeds.send_private(interaction, embeds.OOPS)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        duration, problem = parse_duration(self.duration.value)
        request = VideoRequest(
            model=(self.model.values or [DEFAULT_MODEL])[0],
            prompt=self.prompt.value,
            duration=duration,
            aspect_ratio=next(iter(self.aspect_ratio.values), None),
            resolution=next(iter(self.resolution.values), None),
            image_urls=tuple(i.url for i in self.images),
        )
        await self.cog.start_from_interaction(
            interaction,
            request,
            self.images,
            source="context",
            origin=self.target.id,
            extra=[problem] if problem else [],
        )


class VideoCog(commands.Cog):
    def __init__(self, bot: GrokVideoBot) -> None:
        self.bot = bot
        self.animate_menu = app_commands.ContextMenu(name="Animate with Grok", callback=self.animate)
        self.animate_menu.guild_only = True
        self.bot.tree.add_command(self.animate_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.animate_menu.name, type=self.animate_menu.type)

    # ---- /video ------------------------------------------------------------------------------------

    @app_commands.command(
        name="video", description="Make a short video with Grok from a prompt (and images)."
    )
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What should happen: subject, action, camera movement, style",
        model="Which Grok model (default: Grok Video 3)",
        duration="Length in seconds (the choices depend on the model)",
        aspect_ratio="Shape of the video (default 16:9)",
        resolution="Resolution (default 720p)",
        image="A reference image to animate",
        image2="Another reference image",
        image3="Another reference image",
        image4="Another reference image",
        image5="Another reference image",
        image6="Another reference image",
        image7="Another reference image",
    )
    @app_commands.choices(
        model=MODEL_CHOICES,
        aspect_ratio=[app_commands.Choice(name=r, value=r) for r in ALL_RATIOS],
        resolution=[app_commands.Choice(name=r, value=r) for r in ALL_RESOLUTIONS],
    )
    async def video(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        model: str = DEFAULT_MODEL,
        duration: app_commands.Range[int, 1, 600] | None = None,
        aspect_ratio: str | None = None,
        resolution: str | None = None,
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        image6: discord.Attachment | None = None,
        image7: discord.Attachment | None = None,
    ) -> None:
        # Acknowledge first, privately: the create call can take longer than Discord's 3 seconds, and a
        # refusal must stay private (ephemerality is fixed at defer time).
        await interaction.response.defer(ephemeral=True, thinking=True)
        attachments = [a for a in (image, image2, image3, image4, image5, image6, image7) if a is not None]
        images = [ImageFile.of(a) for a in attachments]
        request = VideoRequest(
            model=model,
            prompt=prompt,
            duration=duration,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            image_urls=tuple(i.url for i in images),
        )
        await self.start_from_interaction(interaction, request, images, source="slash")

    @video.autocomplete("duration")
    async def duration_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        chosen = getattr(interaction.namespace, "model", None) or DEFAULT_MODEL
        spec = self.bot.catalogue.get(chosen) or self.bot.catalogue.models[DEFAULT_MODEL]
        values = [d for d in spec.durations if str(d).startswith(current.strip())] or list(spec.durations)
        default = f" (default, {spec.id})" if len(spec.durations) > 1 else f" (always, {spec.id})"
        return [
            app_commands.Choice(name=f"{d} seconds{default if d == spec.default_duration else ''}", value=d)
            for d in values[:25]
        ]

    # ---- message context menu ----------------------------------------------------------------------

    async def animate(self, interaction: discord.Interaction, message: discord.Message) -> None:
        images = [ImageFile.of(a) for a in message.attachments]
        if not images:
            await interaction.response.send_message(
                embed=embeds.refusal_embed(
                    "No images to animate",
                    ["That message has no image attachments."],
                    "Use this on a message with pictures, or use /video for a video from text.",
                ),
                ephemeral=True,
            )
            return
        refusal = self.channel_refusal(interaction.app_permissions, interaction.guild is not None)
        if refusal is None and (problems := image_problems(images, self.bot.settings.max_image_bytes)):
            refusal = Refused("I can't use those images", problems)
        if refusal is not None:
            await interaction.response.send_message(embed=_refusal(refusal), ephemeral=True)
            return
        await interaction.response.send_modal(AnimateModal(self, message, images))

    # ---- reply mode --------------------------------------------------------------------------------

    @commands.Cog.listener("on_message")
    async def on_mention(self, message: discord.Message) -> None:
        me = self.bot.user
        if not self.bot.settings.reply_mode or me is None or message.author.bot or message.guild is None:
            return
        mention = re.compile(rf"<@!?{me.id}>")
        if not mention.search(message.content):
            return
        images = [ImageFile.of(a) for a in message.attachments]
        origin = message
        if not images and message.reference is not None and message.reference.message_id is not None:
            referenced = message.reference.resolved
            if not isinstance(referenced, discord.Message):
                try:
                    referenced = await message.channel.fetch_message(message.reference.message_id)
                except discord.HTTPException:
                    referenced = None
            if isinstance(referenced, discord.Message):
                images = [ImageFile.of(a) for a in referenced.attachments]
                origin = referenced
        parsed = parse_reply(mention.sub(" ", message.content))
        if not images:
            await self._reply_refusal(
                message,
                Refused(
                    "No images to animate",
                    ["Reply to a message with images (or attach some) when you mention me."],
                    "For a video from text alone, use /video.",
                ),
            )
            return
        duration, problem = parse_duration(parsed.options.get("duration"))
        request = VideoRequest(
            model=parsed.options.get("model", DEFAULT_MODEL),
            prompt=parsed.prompt,
            duration=duration,
            aspect_ratio=parsed.options.get("aspect_ratio"),
            resolution=parsed.options.get("resolution"),
            image_urls=tuple(i.url for i in images),
        )
        if not isinstance(message.channel, discord.abc.GuildChannel) or not isinstance(
            message.author, discord.Member
        ):
            return  # guild messages always carry both; anything else is not ours to answer
        permissions = message.channel.permissions_for(message.guild.me)
        refusal = self.refusal_for(request, images, [*parsed.problems, *([problem] if problem else [])])
        refusal = self.channel_refusal(permissions, True) or refusal
        access, limits, bypass = await self.policy_for(
            message.author, message.author.guild_permissions, message.channel, request.model
        )
        refusal = refusal or access
        if refusal is not None:
            await self._reply_refusal(message, refusal)
            return
        outcome = await self.bot.submitter.submit(
            Submission(request, "reply", message.guild.id, message.channel.id, message.author.id, origin.id),
            limits,
            bypass=bypass,
        )
        if isinstance(outcome, Refused):
            await self._reply_refusal(message, outcome)
            return
        await self._post_status(outcome, reference=message)

    async def _reply_refusal(self, message: discord.Message, refusal: Refused) -> None:
        try:
            await message.reply(embed=_refusal(refusal), mention_author=False)
        except discord.HTTPException as exc:
            log.info("could not reply with a refusal in %s: %s", message.channel.id, exc)

    # ---- the common path ---------------------------------------------------------------------------

    def refusal_for(self, request: VideoRequest, images: list[ImageFile], extra: list[str]) -> Refused | None:
        problems = [*extra, *image_problems(images, self.bot.settings.max_image_bytes)]
        catalogue_refusal = self.bot.submitter.check(request)
        if catalogue_refusal is not None:
            return Refused(
                catalogue_refusal.title, problems + catalogue_refusal.problems, catalogue_refusal.hint
            )
        if problems:
            return Refused("That request doesn't work", problems)
        return None

    @staticmethod
    def channel_refusal(permissions: discord.Permissions, in_guild: bool) -> Refused | None:
        if not in_guild:
            return Refused(
                "Not here", ["I make videos in server channels only."], "Try again in a server channel."
            )
        missing = missing_permissions(permissions)
        if missing:
            return Refused(
                "I can't post videos in this channel",
                [f"I'm missing these permissions here: {', '.join(missing)}."],
                "Ask a server admin to grant them, or use another channel.",
            )
        return None

    async def start_from_interaction(
        self,
        interaction: discord.Interaction,
        request: VideoRequest,
        images: list[ImageFile],
        *,
        source: str,
        origin: int | None = None,
        extra: list[str] | None = None,
    ) -> None:
        """After a private defer: refuse, or submit + status message + private acknowledgement."""
        refusal = self.channel_refusal(interaction.app_permissions, interaction.guild is not None)
        refusal = refusal or self.refusal_for(request, images, extra or [])
        if refusal is not None:
            await interaction.followup.send(embed=_refusal(refusal), ephemeral=True)
            return
        assert interaction.channel is not None and interaction.channel_id is not None
        access, limits, bypass = await self.policy_for(
            interaction.user, interaction.permissions, interaction.channel, request.model
        )
        if access is not None:
            await interaction.followup.send(embed=_refusal(access), ephemeral=True)
            return
        outcome = await self.bot.submitter.submit(
            Submission(
                request, source, interaction.guild_id, interaction.channel_id, interaction.user.id, origin
            ),
            limits,
            bypass=bypass,
        )
        if isinstance(outcome, Refused):
            await interaction.followup.send(embed=_refusal(outcome), ephemeral=True)
            return
        await self._post_status(outcome)
        task = outcome.task
        lines = [
            f"Task **#{task.id}** is queued ({embeds.options_line(task)}).",
            "I'll post the video in this channel and mention you when it's ready.",
        ]
        lines += await self.notices_for(interaction.user.id)
        await interaction.followup.send(
            embed=embeds.info_embed("🎬 On it!", "\n".join(lines)), ephemeral=True
        )

    async def policy_for(
        self,
        member: discord.Member | discord.User,
        permissions: discord.Permissions,
        channel: object,
        model: str,
    ) -> tuple[Refused | None, Limits, bool]:
        """The server's rules for this member here: a refusal (or None), their limits, and admin bypass."""
        guild = getattr(member, "guild", None)
        assert guild is not None
        config = await self.bot.store.guild_config(guild.id)
        roles = frozenset(r.id for r in getattr(member, "roles", ()))
        bypass_role = self.bot.settings.bypass_role_id
        is_admin = permissions.manage_guild or (bypass_role is not None and bypass_role in roles)
        who = Requester(
            guild.id, getattr(channel, "id", 0), getattr(channel, "parent_id", None), roles, is_admin
        )
        refusal = check_access(config, who, model, {r.id: r.name for r in guild.roles})
        return refusal, config.limits(self.bot.settings.default_limits), is_admin

    async def notices_for(self, user_id: int) -> list[str]:
        owed = await self.bot.store.pending_notices(user_id)
        return [
            f"📬 I still owe you task #{t.id}: I couldn't post it in its channel or send it by DM. "
            "I'll keep trying; make sure I can post there or DM you."
            for t in owed
        ]

    async def _post_status(self, outcome: Accepted, reference: discord.Message | None = None) -> None:
        task = outcome.task
        channel = self.bot.get_channel(task.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return
        try:
            embed = await self.bot.delivery.status_view(task)
            if reference is not None:
                status = await reference.reply(embed=embed, mention_author=False)
            else:
                status = await channel.send(embed=embed)
        except discord.HTTPException as exc:
            # The task runs anyway; delivery will find a way (or DM) when the video is ready.
            log.warning("task %s: could not post the status message: %s", task.id, exc)
            return
        await self.bot.delivery.attach_status(task.id, status.id)


def _refusal(refusal: Refused) -> discord.Embed:
    return embeds.refusal_embed(refusal.title, refusal.problems, refusal.hint)


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
