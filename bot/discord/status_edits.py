"""Status-message edits, coalesced per channel, so Discord's per-channel rate limit never holds up polling.

`want()` records the newest embed a status message should show and returns at once. One drain coroutine per
channel (started on demand, ending when its channel has nothing left) performs the edits one at a time,
oldest message first, each with the newest embed wanted for it: several updates of one message before its
edit make one edit. discord.py sleeps inside an edit on a 429 bucket; only that channel's drain waits.

A message's final edit (`want(..., final=True)`, the "Done" after delivery) replaces whatever progress edit
was pending for it, and progress wanted afterwards while it is still pending is ignored, so no stale progress
edit can land after it. An edit already in flight when the final one is wanted lands first (one edit in
flight per channel, in order).

A channel this process does not cache (a guild on another process's shard: any process may deliver any task)
is edited through its id alone (`message_in`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import aiohttp
import discord

log = logging.getLogger(__name__)


def message_in(bot: discord.Client, channel_id: int, message_id: int) -> discord.PartialMessage | None:
    """A message to edit or delete, in the cached channel, else in the channel by its id alone (a guild on
    another shard is not in this process's cache); None in a cached channel that holds no messages."""
    channel = bot.get_channel(channel_id) or bot.get_partial_messageable(channel_id)
    if not isinstance(channel, discord.abc.Messageable):
        return None
    return channel.get_partial_message(message_id)


@dataclass(slots=True)
class _Wanted:
    embed: discord.Embed
    final: bool


class StatusEdits:
    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot
        #: channel id → status message id → what it should show next (insertion order: oldest first).
        self._pending: dict[int, dict[int, _Wanted]] = {}
        self._drains: dict[int, asyncio.Task[None]] = {}

    def want(self, channel_id: int, message_id: int, embed: discord.Embed, *, final: bool = False) -> None:
        """Show `embed` on the message soon; replaces any edit of it not yet sent."""
        pending = self._pending.setdefault(channel_id, {})
        queued = pending.get(message_id)
        if queued is not None and queued.final and not final:
            return  # the final state is on its way: a progress update must not overtake it
        pending[message_id] = _Wanted(embed, final)
        if channel_id not in self._drains:
            self._drains[channel_id] = asyncio.create_task(
                self._drain(channel_id), name=f"status-edits-{channel_id}"
            )

    async def close(self) -> None:
        """Cancel the drains (pending edits are dropped: they are only progress) and wait for them to end."""
        drains = list(self._drains.values())
        for drain in drains:
            drain.cancel()
        for drain in drains:
            with contextlib.suppress(asyncio.CancelledError):
                await drain
        self._pending.clear()

    async def _drain(self, channel_id: int) -> None:
        try:
            while pending := self._pending.get(channel_id):
                message_id = next(iter(pending))
                wanted = pending.pop(message_id)
                await self._edit(channel_id, message_id, wanted.embed)
        finally:
            # No await between the empty check above and here: a want() after it starts a new drain.
            if not self._pending.get(channel_id):
                self._pending.pop(channel_id, None)
            self._drains.pop(channel_id, None)

    async def _edit(self, channel_id: int, message_id: int, embed: discord.Embed) -> None:
        message = message_in(self._bot, channel_id, message_id)
        if message is None:
            return
        try:
            await message.edit(embed=embed)
        except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
            # Best effort: an error answer, or Discord unreachable (the next change edits it again).
            log.debug("status message %s: edit failed: %s", message_id, exc)
        except Exception:
            # Best effort, but never a dead drain with edits left behind: log and go on with the next.
            log.exception("status message %s: edit failed", message_id)
