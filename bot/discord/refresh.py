"""Reference images made current again before a request is sent a second time (the Regenerate button).

Discord's attachment links are signed (`ex`: expiry in hex unix seconds, `is`, `hm`) and stop working after
about a day, so a task's stored image links are dead a week later. Before a Regenerate goes out, every Discord
CDN link of the request (cdn.discordapp.com, media.discordapp.net, or the host of a Discord the bot is
pointed at with DISCORD_API_BASE_URL) is replaced by a current one; any other link is sent as it is:

- a reply-mode or "Animate with Grok" task: the message whose images were used is read again (its id is the
  task's `origin_message_id`, its channel is in the link's path `/attachments/<channel>/<attachment>/<name>`)
  and each link becomes that message's current link of the same attachment id;
- a /video task (its attachments belong to no message): Discord's `POST /attachments/refresh-urls`;
- a Regenerate task: the task it regenerated (its `origin_message_id`), back to the first one.

Links are refreshed whatever their `ex` says: the provider fetches the images after the create call, maybe
minutes later, and an image whose message was deleted is gone from Discord before its link expires. If any
image is gone (the message deleted, the attachment removed, the refresh answering nothing for it), the member
is told and nothing is spent.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from urllib.parse import urlsplit

import discord

from bot.core.policy import Refused
from bot.core.request import VideoRequest
from bot.core.store import Task, TaskStore
from bot.i18n import msg

log = logging.getLogger(__name__)

DISCORD_CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})
#: The sources whose images are a message's attachments (cogs/video.py: reply mode, the message menu).
_FROM_A_MESSAGE = ("reply", "context")
#: /attachments/<channel>/<attachment id>/<name> (ephemeral-attachments/<application>/… for a command's
#: files); the media proxy's links start with /media on the emulator's single host.
_ATTACHMENT_PATH = re.compile(r"(?:/media)?/(?:ephemeral-)?attachments/(\d+)/(\d+)/[^/]+")
#: Links per refresh request (Discord's limit).
_REFRESH_BATCH = 50

IMAGES_GONE = Refused(
    msg("Can't make this video again"),
    [msg("The images of this video are no longer on Discord, so it can't be made again.")],
    msg("Post them again and use /video or reply mode."),
)
UNREADABLE = Refused(
    msg("Can't make this video again"),
    [msg("I can no longer read the message this video's images came from.")],
    msg("Post them again and use /video or reply mode."),
)
DISCORD_UNREACHABLE = Refused(
    msg("Can't make this video again right now"),
    [msg("Discord did not let me read this video's images just now.")],
    msg("Please try again in a minute."),
)


def cdn_hosts(api_base_url: str | None) -> frozenset[str]:
    """Discord's CDN hosts, plus the host (and port) of a Discord the bot is pointed at instead, which then
    serves the attachments too (the tests' emulator)."""
    extra = urlsplit(api_base_url).netloc.lower() if api_base_url else ""
    return DISCORD_CDN_HOSTS | {extra} if extra else DISCORD_CDN_HOSTS


def attachment_link(url: str, hosts: frozenset[str]) -> tuple[int, int] | None:
    """(channel or application id, attachment id) of a Discord attachment link; None for any other link."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in hosts:
        return None
    return _path_ids(parts.path)


def _path_ids(path: str) -> tuple[int, int] | None:
    match = _ATTACHMENT_PATH.fullmatch(path)
    return (int(match[1]), int(match[2])) if match else None


async def refreshed_request(
    client: discord.Client, store: TaskStore, task: Task, hosts: frozenset[str]
) -> VideoRequest | Refused:
    """The task's request with current links for its Discord images, or why it cannot be made again."""
    links = {url: link for url in task.request.image_urls if (link := attachment_link(url, hosts))}
    if not links:
        return task.request
    first = await _first_task(store, task)
    try:
        if first.source in _FROM_A_MESSAGE and first.origin_message_id is not None:
            current = await _from_message(client, links, first.origin_message_id)
        else:
            current = await _from_refresh(client, links)
    except discord.NotFound:
        current = {}
    except discord.Forbidden:
        return UNREADABLE
    except discord.HTTPException as exc:
        log.info("task %s: the images' links could not be refreshed: %s", task.id, exc)
        return DISCORD_UNREACHABLE
    if any(url not in current for url in links):
        log.info(
            "task %s: %d of %d images are gone from Discord", task.id, len(links) - len(current), len(links)
        )
        return IMAGES_GONE
    urls = tuple(current.get(url, url) for url in task.request.image_urls)
    return dataclasses.replace(task.request, image_urls=urls)


async def _first_task(store: TaskStore, task: Task) -> Task:
    """The task a chain of Regenerates started from (a Regenerate task's origin_message_id is the task it
    regenerated, always an earlier one)."""
    while task.source == "regenerate" and task.origin_message_id is not None:
        earlier = await store.get(task.origin_message_id)
        if earlier is None or earlier.id >= task.id:
            break
        task = earlier
    return task


async def _from_message(
    client: discord.Client, links: dict[str, tuple[int, int]], message_id: int
) -> dict[str, str]:
    """Each link's current form, read from the message its attachment is on (by attachment id)."""
    channel_id = next(iter(links.values()))[0]
    message = await client.get_partial_messageable(channel_id).fetch_message(message_id)
    now = {attachment.id: attachment.url for attachment in message.attachments}
    return {url: now[attachment] for url, (_, attachment) in links.items() if attachment in now}


async def _from_refresh(client: discord.Client, links: dict[str, tuple[int, int]]) -> dict[str, str]:
    """Each link's current form from Discord's attachment-refresh endpoint (matched by attachment id); a link
    it answers nothing for is gone."""
    urls = list(links)
    fresh: dict[int, str] = {}
    for start in range(0, len(urls), _REFRESH_BATCH):
        route = discord.http.Route("POST", "/attachments/refresh-urls")
        batch = urls[start : start + _REFRESH_BATCH]
        fresh.update(_refreshed(await client.http.request(route, json={"attachment_urls": batch})))
    return {url: fresh[attachment] for url, (_, attachment) in links.items() if attachment in fresh}


def _refreshed(answer: object) -> dict[int, str]:
    """{attachment id: refreshed link} from `{"refreshed_urls": [{"original": …, "refreshed": …}]}`."""
    items = answer.get("refreshed_urls") if isinstance(answer, dict) else None
    pairs = [item for item in items or [] if isinstance(item, dict)] if isinstance(items, list) else []
    fresh: dict[int, str] = {}
    for item in pairs:
        original, refreshed = item.get("original"), item.get("refreshed")
        ids = _path_ids(urlsplit(original).path) if isinstance(original, str) else None
        if ids is not None and isinstance(refreshed, str):
            fresh[ids[1]] = refreshed
    return fresh
