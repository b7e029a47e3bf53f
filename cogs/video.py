"""What members use: /video, the "Animate with Grok" message menu, and reply mode (mention the bot).

Each entry point only translates Discord input into a `Submission` and renders the pipeline's outcome
(bot/core/pipeline.py runs every check, in one order, before any money is spent). The /video command and
the form are built from the catalogue as loaded (MODELS_FILE included), so the models, durations, ratios,
resolutions and image slots members see are the ones the bot accepts.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.catalogue import MAX_PROMPT_CHARS, Catalogue, ModelSpec
from bot.core.member_input import ImageFile, parse_duration, parse_reply, request_from
from bot.core.pipeline import Submission
from bot.core.policy import Refused
from bot.discord import embeds
from bot.discord.requests import (
    answer_interaction,
    answer_message,
    image_file,
    interaction_locale,
    origin_of_interaction,
    origin_of_message,
)
from bot.i18n import localise_str, msg

if TYPE_CHECKING:
    from bot.discord.app import GrokVideoBot

log = logging.getLogger(__name__)

#: Discord shows at most 25 choices; beyond that an option takes free text (the catalogue still checks it).
MAX_CHOICES = 25
NO_IMAGES = Refused(
    msg("No images to animate"),
    [msg("That message has no image attachments.")],
    msg("Use this on a message with pictures, or use /video for a video from text."),
)
NO_IMAGES_IN_REPLY = Refused(
    msg("No images to animate"),
    [msg("Reply to a message with images (or attach some) when you mention me.")],
    msg("For a video from text alone, use /video."),
)


def duration_choice(spec: ModelSpec, seconds: int) -> str:
    """A duration's name in /video's suggestions: the default (or the only length) says so, with its model."""
    if seconds != spec.default_duration:
        return msg("{seconds} seconds", seconds=seconds)
    if len(spec.durations) > 1:
        return msg("{seconds} seconds (default, {model})", seconds=seconds, model=spec.id)
    return msg("{seconds} seconds (always, {model})", seconds=seconds, model=spec.id)


def image_slots(catalogue: Catalogue) -> list[str]:
    """The attachment options' names: as many as the most generous model takes (image, image2, …)."""
    return ["image" if n == 1 else f"image{n}" for n in range(1, catalogue.max_images() + 1)]


def _video_parameters(catalogue: Catalogue) -> inspect.Signature:
    """The /video callback's signature: discord.py reads the options' types and limits from it."""
    low, high = catalogue.duration_bounds()
    keyword = inspect.Parameter.KEYWORD_ONLY

    def optional(name: str, kind: Any) -> inspect.Parameter:
        return inspect.Parameter(name, keyword, annotation=Optional[kind], default=None)  # noqa: UP045

    return inspect.Signature(
        [
            inspect.Parameter(
                "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
            ),
            inspect.Parameter("prompt", keyword, annotation=app_commands.Range[str, 1, MAX_PROMPT_CHARS]),
            optional("model", str),
            optional("duration", app_commands.Range[int, low, high]),
            optional("aspect_ratio", str),
            optional("resolution", str),
            *(optional(name, discord.Attachment) for name in image_slots(catalogue)),
        ]
    )


def _video_texts(catalogue: Catalogue) -> tuple[dict[str, str], dict[str, list[app_commands.Choice[str]]]]:
    """The options' descriptions and choices, naming the catalogue's defaults and values."""
    default = catalogue.models[catalogue.default_model]
    slots = image_slots(catalogue)
    descriptions = {
        "prompt": "What should happen: subject, action, camera movement, style",
        "model": f"Which Grok model (default: {default.label})",
        "duration": "Length in seconds (the choices depend on the model)",
        "aspect_ratio": f"Shape of the video (default {default.default_aspect_ratio})",
        "resolution": f"Resolution (default {default.default_resolution})",
        **{
            slot: "Another reference image" if n else "A reference image to animate"
            for n, slot in enumerate(slots)
        },
    }
    choices = {
        "model": [
            app_commands.Choice(name=f"{m.label} ({m.description})"[:100], value=m.id)
            for m in catalogue.models.values()
        ]
    }
    for name, values in ("aspect_ratio", catalogue.aspect_ratios()), ("resolution", catalogue.resolutions()):
        if len(values) <= MAX_CHOICES:
            choices[name] = [app_commands.Choice(name=v, value=v) for v in values]
    return descriptions, choices


def build_video_command(
    catalogue: Catalogue, on_video: Any, on_duration: Any
) -> app_commands.Command[Any, ..., None]:
    """/video with its options derived from the catalogue: model choices, the duration range, the union of
    aspect ratios and resolutions, and one attachment slot per image the most generous model takes."""

    async def video(interaction: discord.Interaction, **options: Any) -> None:
        await on_video(interaction, options)

    video.__signature__ = _video_parameters(catalogue)  # type: ignore[attr-defined]
    descriptions, choices = _video_texts(catalogue)
    callback = app_commands.choices(**choices)(app_commands.describe(**descriptions)(video))
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="video",
        description="Make a short video with Grok from a prompt (and images).",
        callback=callback,
    )
    app_commands.guild_only(command)  # also sets the contexts Discord reads today (dm_permission is legacy)
    command.autocomplete("duration")(on_duration)
    return command


# ---- the "Animate with Grok" form ------------------------------------------------------------------------
# A form lives in this process's memory while a member fills it in; after a restart Discord still delivers
# its submission, which discord.py drops as unknown. So the form's custom_id carries what the request needs
# besides the typed values (the channel and the message whose images to animate, plus a nonce), and
# VideoCog.on_form_from_before answers a submission no form in memory took: it makes the video from the
# message as it is now, or answers privately with what the member typed.

FORM_ID = re.compile(r"grokvideo:animate:(\d+):(\d+):[0-9a-f]+")
FORM_LOST = msg("I couldn't make a video from that form")


def form_custom_id(target: discord.Message) -> str:
    return f"grokvideo:animate:{target.channel.id}:{target.id}:{os.urandom(4).hex()}"


def form_values(data: Mapping[str, Any] | None) -> dict[str, str | None]:
    """The submitted values by input custom_id (a select's first choice), read from the interaction's data,
    so a submission is read the same way whether or not its form is still in memory."""
    values: dict[str, str | None] = {}
    pending = list((data or {}).get("components", []))
    while pending:
        component = pending.pop()
        pending.extend(component.get("components", []))
        if "component" in component:
            pending.append(component["component"])
        if "custom_id" in component:
            chosen = component.get("values") or [component.get("value")]
            values[component["custom_id"]] = chosen[0] or None
    return values


def echo_refusal(values: Mapping[str, str | None]) -> Refused:
    """The form cannot be acted on: say why, and give back what the member typed so nothing is lost."""
    options = "".join(f"\n{name}: {value}" for name, value in values.items() if value and name != "prompt")
    prompt = (values.get("prompt") or "").replace("```", "'" * 3)
    typed = f"```\n{prompt}\n```{options}"
    return Refused(
        FORM_LOST,
        [msg("The message you picked is gone, or has no images any more.")],
        msg("Here is what you typed, to use on another message or with /video:\n{typed}", typed=typed),
    )


async def submit_form(
    bot: GrokVideoBot,
    interaction: discord.Interaction,
    target_id: int,
    images: list[ImageFile],
    values: Mapping[str, str | None],
) -> None:
    """One submitted form (already acknowledged, privately) through the pipeline."""
    duration, problem = parse_duration(values.get("duration"))
    fields = {
        "model": values.get("model"),
        "prompt": values.get("prompt") or "",
        "duration": duration,
        "aspect_ratio": values.get("aspect_ratio"),
        "resolution": values.get("resolution"),
    }
    request = request_from(fields, images, bot.catalogue.default_model)
    origin = origin_of_interaction(interaction, "context", origin_message_id=target_id)
    submission = Submission(request, origin, tuple(images), (problem,) if problem else ())
    await answer_interaction(interaction, await bot.pipeline.submit(submission))


class AnimateModal(discord.ui.Modal, title="Animate with Grok"):
    """The form, in the language of the member who opened it (`locale`: their Discord locale code)."""

    def __init__(
        self, bot: GrokVideoBot, target: discord.Message, images: list[ImageFile], locale: str | None = None
    ) -> None:
        def say(text: str) -> str:
            return localise_str(text, locale)

        super().__init__(timeout=900, custom_id=form_custom_id(target), title=say(msg("Animate with Grok")))
        self.locale = locale
        self.bot = bot
        self.target = target
        self.images = images
        catalogue = bot.catalogue
        default = catalogue.models[catalogue.default_model]
        self.prompt: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            max_length=MAX_PROMPT_CHARS,
            placeholder=say(msg("What should happen? Subject, action, camera movement, style…")),
        )
        self.model: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="model",
            options=[
                discord.SelectOption(
                    label=m.label, value=m.id, description=m.description[:100], default=m.id == default.id
                )
                for m in catalogue.models.values()
            ],
        )
        self.duration: discord.ui.TextInput[AnimateModal] = discord.ui.TextInput(
            custom_id="duration",
            required=False,
            max_length=4,
            placeholder=say(msg("{seconds} (leave empty for the default)", seconds=default.default_duration)),
        )
        self.aspect_ratio: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="aspect_ratio",
            required=False,
            placeholder=say(msg("{value} (default)", value=default.default_aspect_ratio)),
            options=[discord.SelectOption(label=r, value=r) for r in catalogue.aspect_ratios()[:MAX_CHOICES]],
        )
        self.resolution: discord.ui.Select[AnimateModal] = discord.ui.Select(
            custom_id="resolution",
            required=False,
            placeholder=say(msg("{value} (default)", value=default.default_resolution)),
            options=[discord.SelectOption(label=r, value=r) for r in catalogue.resolutions()[:MAX_CHOICES]],
        )
        self.add_item(discord.ui.Label(text=say(msg("Prompt")), component=self.prompt))
        self.add_item(discord.ui.Label(text=say(msg("Model")), component=self.model))
        self.add_item(discord.ui.Label(text=say(msg("Duration (seconds)")), component=self.duration))
        self.add_item(discord.ui.Label(text=say(msg("Aspect ratio")), component=self.aspect_ratio))
        self.add_item(discord.ui.Label(text=say(msg("Resolution")), component=self.resolution))

    async def on_error(self, interaction: discord.Interaction, error: Exception, /) -> None:  # type: ignore[override]  # Modal narrows it
        log.error("the Animate with Grok form failed", exc_info=error)
        await embeds.send_private(interaction, embeds.oops_embed(interaction_locale(interaction)))

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await submit_form(self.bot, interaction, self.target.id, self.images, form_values(interaction.data))


class VideoCog(commands.Cog):
    def __init__(self, bot: GrokVideoBot) -> None:
        self.bot = bot
        self.video_command = build_video_command(bot.catalogue, self.video, self.duration_autocomplete)
        self.animate_menu = app_commands.ContextMenu(name="Animate with Grok", callback=self.animate)
        app_commands.guild_only(self.animate_menu)
        self.bot.tree.add_command(self.video_command)
        self.bot.tree.add_command(self.animate_menu)
        #: The forms open in this process, by custom_id: discord.py holds each until it is submitted or
        #: times out, then it leaves this map too. A submission of any other form is one from before.
        self.open_forms: weakref.WeakValueDictionary[str, AnimateModal] = weakref.WeakValueDictionary()

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.video_command.name)
        self.bot.tree.remove_command(self.animate_menu.name, type=self.animate_menu.type)

    # ---- /video ------------------------------------------------------------------------------------

    async def video(self, interaction: discord.Interaction, options: dict[str, Any]) -> None:
        # Acknowledge first, privately: the create call can take longer than Discord's 3 seconds, and a
        # refusal must stay private (ephemerality is fixed at defer time).
        await interaction.response.defer(ephemeral=True, thinking=True)
        slots = image_slots(self.bot.catalogue)
        images = tuple(image_file(a) for name in slots if (a := options.get(name)) is not None)
        request = request_from(options, images, self.bot.catalogue.default_model)
        submission = Submission(request, origin_of_interaction(interaction, "slash"), images)
        await answer_interaction(interaction, await self.bot.pipeline.submit(submission))

    async def duration_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        spec = self.bot.catalogue.spec_or_default(getattr(interaction.namespace, "model", None))
        values = [d for d in spec.durations if str(d).startswith(current.strip())] or list(spec.durations)
        locale = interaction_locale(interaction)
        return [
            app_commands.Choice(name=localise_str(duration_choice(spec, d), locale), value=d)
            for d in values[:MAX_CHOICES]
        ]

    # ---- message context menu ----------------------------------------------------------------------

    async def animate(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Opens the form; the images are judged first so nobody types a prompt for nothing."""
        images = [image_file(a) for a in message.attachments]
        if not images:
            await answer_interaction(interaction, NO_IMAGES)
            return
        origin = origin_of_interaction(interaction, "context", origin_message_id=message.id)
        if refusal := await self.bot.pipeline.precheck(origin, tuple(images)):
            await answer_interaction(interaction, refusal)
            return
        form = AnimateModal(self.bot, message, images, interaction_locale(interaction))
        self.open_forms[form.custom_id] = form
        await interaction.response.send_modal(form)

    @commands.Cog.listener("on_interaction")
    async def on_form_from_before(self, interaction: discord.Interaction) -> None:
        """A form submitted after a restart (or after it timed out): no form in memory answers it, so answer
        it here, from what the submission carries."""
        if interaction.type is not discord.InteractionType.modal_submit or interaction.data is None:
            return
        custom_id = str(interaction.data.get("custom_id", ""))
        match = FORM_ID.fullmatch(custom_id)
        if match is None or custom_id in self.open_forms:
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            values = form_values(interaction.data)
            channel_id, target_id = int(match[1]), int(match[2])
            # The form was opened on a message of the channel it is submitted in: never read another one.
            same_place = channel_id == interaction.channel_id
            images = await self._images_now(channel_id, target_id, interaction.guild_id) if same_place else []
            if not images:
                await answer_interaction(interaction, echo_refusal(values))
                return
            await submit_form(self.bot, interaction, target_id, images, values)
        except Exception:
            log.exception("a form submitted from before a restart failed")
            await embeds.send_private(interaction, embeds.oops_embed(interaction_locale(interaction)))

    async def _images_now(self, channel_id: int, message_id: int, guild_id: int | None) -> list[ImageFile]:
        """The images of the form's message as it is now; none if it is gone or can't be read."""
        channel = self.bot.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            message = await channel.fetch_message(message_id)
        except discord.HTTPException as exc:
            log.info("the message of a form from before a restart can't be read: %s", exc)
            return []
        return [image_file(a) for a in message.attachments]

    # ---- reply mode --------------------------------------------------------------------------------

    @commands.Cog.listener("on_message")
    async def on_mention(self, message: discord.Message) -> None:
        me = self.bot.user
        if not self.bot.settings.reply_mode or me is None or message.author.bot or message.guild is None:
            return
        mention = re.compile(rf"<@!?{me.id}>")
        if not mention.search(message.content):
            return
        images_from = await self._images_message(message)
        origin = origin_of_message(message, images_from=images_from)
        if origin is None:
            return  # not a server member's message in a server channel: not ours to answer
        images = [image_file(a) for a in images_from.attachments]
        if not images:
            await answer_message(message, NO_IMAGES_IN_REPLY)
            return
        parsed = parse_reply(mention.sub(" ", message.content), self.bot.catalogue)
        duration, problem = parse_duration(parsed.options.get("duration"))
        fields = {**parsed.options, "prompt": parsed.prompt, "duration": duration}
        request = request_from(fields, images, self.bot.catalogue.default_model)
        problems = (*parsed.problems, *([problem] if problem else []))
        outcome = await self.bot.pipeline.submit(Submission(request, origin, tuple(images), problems))
        await answer_message(message, outcome)

    @staticmethod
    async def _images_message(message: discord.Message) -> discord.Message:
        """The message whose images to animate: this one if it has attachments, else the one it replies to."""
        if message.attachments or message.reference is None or message.reference.message_id is None:
            return message
        referenced = message.reference.resolved
        if isinstance(referenced, discord.Message):
            return referenced
        try:
            return await message.channel.fetch_message(message.reference.message_id)
        except discord.HTTPException:
            return message


async def setup(bot: GrokVideoBot) -> None:
    await bot.add_cog(VideoCog(bot))
