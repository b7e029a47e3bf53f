"""Discord input into the pipeline's plain values, and the pipeline's outcome back into a message.

Every entry point uses these, so an interaction and a message become the same `Origin` and every outcome
reads the same wherever it came from.
"""

from __future__ import annotations

import dataclasses
import logging

import discord

from bot.core.member_input import ImageFile
from bot.core.pipeline import Accepted, Origin, Outcome
from bot.core.policy import Refused
from bot.discord import embeds
from bot.i18n import Msg, localise_str, msg

log = logging.getLogger(__name__)

#: The bot needs these in a channel to post status messages and videos (see the README's invite link).
REQUIRED_CHANNEL_PERMISSIONS = discord.Permissions(
    view_channel=True, send_messages=True, embed_links=True, attach_files=True, read_message_history=True
)
#: In a thread or a forum post, posting is Send Messages in Threads; Send Messages plays no part there.
REQUIRED_THREAD_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)

#: The name each needed permission has in Discord's settings, for the refusal that lists what is missing
#: (each a `Msg`: the catalogues hold the names Discord's settings show in each language).
_PERMISSION_NAMES: dict[str, Msg] = {
    "view_channel": msg("View Channel"),
    "send_messages": msg("Send Messages"),
    "send_messages_in_threads": msg("Send Messages in Threads"),
    "embed_links": msg("Embed Links"),
    "attach_files": msg("Attach Files"),
    "read_message_history": msg("Read Message History"),
}

#: What Discord (and discord.py's Thread.permissions_for) deny in a thread along with Send Messages in
#: Threads, although they are the parent channel's to give.
_DENIED_WITH_POSTING = discord.Permissions(embed_links=True, attach_files=True)


def missing_permissions(permissions: discord.Permissions, *, in_thread: bool = False) -> tuple[str, ...]:
    """The required permissions the bot lacks, named as Discord's settings name them. In a thread (a forum
    post is one), `permissions` are the thread's as `thread_permissions` gives them."""
    required = REQUIRED_THREAD_PERMISSIONS if in_thread else REQUIRED_CHANNEL_PERMISSIONS
    return tuple(
        label
        for flag, label in _PERMISSION_NAMES.items()
        if getattr(required, flag) and not getattr(permissions, flag)
    )


def thread_permissions(thread: discord.Thread, reported: discord.Permissions) -> discord.Permissions:
    """`reported` (Discord's app_permissions, or Thread.permissions_for) with Embed Links and Attach Files
    read from the parent channel's overwrites when Send Messages in Threads is missing: both are denied
    implicitly then, and a refusal naming them would send the admin to the wrong setting. With the parent
    not cached they are not reported: the refusal names posting alone."""
    if reported.send_messages_in_threads:
        return reported
    parent, me = thread.parent, thread.guild.me
    if parent is None or me is None:
        granted = _DENIED_WITH_POSTING
    else:
        granted = discord.abc.GuildChannel.permissions_for(parent, me) & _DENIED_WITH_POSTING
    return reported | granted


def image_file(attachment: discord.Attachment) -> ImageFile:
    return ImageFile(attachment.filename, attachment.url, attachment.size, attachment.content_type)


def age_restricted(channel: object) -> bool:
    """Whether Discord marks the channel age-restricted (NSFW); a thread follows its parent (discord.py's
    Thread.is_nsfw reads the parent; an uncached parent counts as not age-restricted)."""
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw()) if callable(is_nsfw) else False


def age_restricted_channels(guild: discord.Guild) -> list[discord.TextChannel | discord.ForumChannel]:
    """The server's age-restricted channels that hold messages or posts, in the server's order."""
    places: list[discord.TextChannel | discord.ForumChannel] = [*guild.text_channels, *guild.forums]
    return sorted((c for c in places if c.is_nsfw()), key=lambda c: c.position)


def _place(
    source: str,
    guild: discord.Guild | None,
    channel: object,
    member: discord.Member | discord.User,
    manages_server: bool,
    bot_permissions: discord.Permissions,
    origin_message_id: int | None,
    reply_to: int | None,
) -> Origin:
    roles = getattr(member, "roles", ())
    return Origin(
        source=source,
        guild_id=guild.id if guild is not None else None,
        channel_id=getattr(channel, "id", 0),
        requester_id=member.id,
        parent_channel_id=getattr(channel, "parent_id", None),
        role_ids=frozenset(r.id for r in roles),
        role_names={r.id: r.name for r in guild.roles} if guild is not None else {},
        manages_server=manages_server,
        missing_permissions=(
            missing_permissions(thread_permissions(channel, bot_permissions), in_thread=True)
            if isinstance(channel, discord.Thread)
            else missing_permissions(bot_permissions)
        ),
        origin_message_id=origin_message_id,
        reply_to=reply_to,
        age_restricted=age_restricted(channel),
        age_restricted_channels=(
            tuple(c.id for c in age_restricted_channels(guild)) if guild is not None else ()
        ),
    )


def origin_of_interaction(
    interaction: discord.Interaction, source: str, *, origin_message_id: int | None = None
) -> Origin:
    origin = _place(
        source,
        interaction.guild,
        interaction.channel,
        interaction.user,
        interaction.permissions.manage_guild,
        interaction.app_permissions,
        origin_message_id,
        None,
    )
    # The member's own client language: refusals, and the task's public posts (recorded with the task).
    return dataclasses.replace(origin, locale=str(interaction.locale))


def origin_of_message(message: discord.Message, *, images_from: discord.Message) -> Origin | None:
    """Reply mode: the status message answers the member's message; images came from `images_from`.
    None for anything but a server member's message in a server channel or thread (not ours to answer)."""
    author, channel, guild = message.author, message.channel, message.guild
    if guild is None or not isinstance(author, discord.Member):
        return None
    if not isinstance(channel, discord.abc.GuildChannel | discord.Thread):
        return None
    try:
        permissions = channel.permissions_for(guild.me)
    except discord.ClientException:  # a thread whose parent channel is not cached
        permissions = discord.Permissions.none()
    manages = author.guild_permissions.manage_guild
    origin = _place("reply", guild, channel, author, manages, permissions, images_from.id, message.id)
    # A message carries no locale: the server's own language (Community servers choose one).
    return dataclasses.replace(origin, locale=str(guild.preferred_locale) if guild.preferred_locale else None)


def interaction_locale(interaction: discord.Interaction) -> str:
    """The member's Discord language (`zh-CN`, `de`…): what their answers are written in."""
    return str(interaction.locale)


def message_locale(message: discord.Message) -> str | None:
    """A message carries no language of its author: the server's preferred one, else DEFAULT_LOCALE (None)."""
    guild = message.guild
    return str(guild.preferred_locale) if guild is not None and guild.preferred_locale else None


def refusal_embed(refusal: Refused, locale: str | None = None) -> discord.Embed:
    return embeds.refusal_embed(refusal.title, refusal.problems, refusal.hint, locale=locale)


def outcome_embed(outcome: Outcome, locale: str | None = None) -> discord.Embed:
    """The answer to a submission in `locale`'s language (a Discord locale code; None: DEFAULT_LOCALE)."""
    if isinstance(outcome, Refused):
        return refusal_embed(outcome, locale)
    task = outcome.task
    lines = [
        msg("Task **#{task}** is queued ({options}).", task=task.id, options=embeds.options_line(task)),
        msg("I'll post the video in this channel and mention you when it's ready."),
        *outcome.notices,
    ]
    text = "\n".join(localise_str(line, locale) for line in lines)
    title = localise_str(msg("On it!"), locale)
    return embeds.info_embed(f"🎬 {title}", text)


async def answer_interaction(interaction: discord.Interaction, outcome: Outcome) -> None:
    """Privately, whether or not the interaction was deferred, in the member's language."""
    await embeds.send_private(interaction, outcome_embed(outcome, interaction_locale(interaction)))


async def answer_message(message: discord.Message, outcome: Outcome) -> None:
    """Reply mode has no private answer: a refusal is a short reply; an acceptance is the status reply."""
    if isinstance(outcome, Accepted):
        return
    try:
        embed = refusal_embed(outcome, message_locale(message))
        await message.reply(embed=embed, mention_author=False)
    except discord.HTTPException as exc:
        log.info("could not reply with a refusal in %s: %s", message.channel.id, exc)
