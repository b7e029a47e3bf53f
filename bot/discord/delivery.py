"""Posting outcomes in Discord, exactly once: the video (shrunk or linked if too big) or the reason it failed.

Exactly once, across crashes and answers lost on the way back:
- every post carries a nonce made from the task (`_nonce`), which discord.py sends with `enforce_nonce`: a
  second send of it within Discord's window (discord.py's own retries, or our next attempt) gets the message
  already made instead of a new one. The status message has its own nonce, so a 5xx on it is retried safely.
- before the first post we record when and where we are about to post (`delivery_started_at`, kept from
  the first attempt, and `delivered_channel_id`). A later attempt first reads everything posted there since
  then, oldest first (up to HISTORY_SCAN_CAP messages), and adopts our outcome post if it is there: ours,
  mentioning the requester and carrying the task's footer marker, never the status message, even when its
  id was never learned (Discord does not return a nonce on messages read back, so that cannot be used).

Nothing here holds a poller worker for long: status edits are queued per channel (status_edits.py), and a
video over the upload limit is shrunk by a background job that wakes the poller when `<stem>-fit.mp4` is
ready (docs/architecture.md, "The poller and delivery").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import discord

from bot.core import metrics
from bot.core.links import public_link
from bot.core.scheduler import delivery_backoff, estimate_seconds
from bot.core.store import TO_DELIVER, State, Task, TaskStore
from bot.core.transcode import SHRINK_MAX_SECONDS, Shrinker
from bot.discord import embeds
from bot.discord.status_edits import StatusEdits, message_in
from bot.discord.views import cancel_view, result_view
from bot.i18n import translate

log = logging.getLogger(__name__)

#: After this many failed attempts (channel gone AND DMs closed) we stop retrying on our own; the member
#: is told on their next command and can ask for the video again.
MAX_DELIVERY_ATTEMPTS = 8
#: At most this many messages are read when looking for a post made before a crash (logged if reached).
HISTORY_SCAN_CAP = 5000
#: The search starts this long before `delivery_started_at` (our clock against Discord's snowflakes).
HISTORY_SCAN_MARGIN_SECONDS = 60.0
#: Tries of the status message on a Discord 5xx (its nonce makes a message Discord accepted come back).
STATUS_POST_TRIES = 3
ESTIMATE_CACHE_SECONDS = 300.0
#: Discord's upload limit where no server's boosts raise it (DMs, a server that cannot be read).
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
#: A task whose video is being shrunk is leased this long: the shrink's own bound plus room for the store.
SHRINK_LEASE_SECONDS = SHRINK_MAX_SECONDS + 60.0


class Undeliverable(Exception):
    """The outcome cannot be posted in the channel (gone, or no permission)."""


class _Shrinking(Exception):
    """The video is being shrunk for this upload limit in the background: post it once that ends."""


class DiscordDelivery:
    def __init__(
        self,
        bot: discord.Client,
        store: TaskStore,
        *,
        poll_interval: float,
        status_edit_seconds: float,
        shrink_concurrency: int = 1,
        wake: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        max_in_flight: int = 0,
    ) -> None:
        self._bot = bot
        self._max_in_flight = max_in_flight  # MAX_IN_FLIGHT: whose line a waiting request's place is in
        self._store = store
        self._poll_interval = poll_interval
        self._status_edit_seconds = status_edit_seconds
        self._wake = wake
        self._clock = clock
        self._last_status: dict[int, tuple[float, str]] = {}
        self._ratios: dict[str, tuple[float, list[float]]] = {}
        self._edits = StatusEdits(bot)
        self._shrinker = Shrinker(shrink_concurrency)
        self._shrinks: dict[int, asyncio.Task[None]] = {}  # task id → its running background shrink
        self._unshrinkable: dict[int, int] = {}  # task id → the largest upload limit a shrink failed to meet

    async def close(self) -> None:
        """Stop the status-edit drains and the background shrinks. A shrink is redone after a restart: its
        task is made due at once rather than when its long lease runs out."""
        await self._edits.close()
        shrinking = list(self._shrinks)
        shrinks = list(self._shrinks.values())
        for job in shrinks:
            job.cancel()
        await asyncio.gather(*shrinks, return_exceptions=True)
        try:
            await self._store.release(shrinking)
        except Exception as exc:  # the lease still brings them back, only later
            log.warning("could not hand back %d shrinking task(s) at shutdown: %s", len(shrinking), exc)

    # ---- status message ----------------------------------------------------------------------------

    async def estimate(self, task: Task) -> float:
        cached = self._ratios.get(task.request.model)
        if cached is None or self._clock() - cached[0] > ESTIMATE_CACHE_SECONDS:
            cached = (self._clock(), await self._store.generation_ratios(task.request.model))
            self._ratios[task.request.model] = cached
        return estimate_seconds(task.billed_seconds, len(task.request.image_urls), cached[1])

    async def status_view(self, task: Task) -> discord.Embed:
        position = None
        if task.state is State.WAITING:
            position = await self._store.line_position(task, self._max_in_flight)
        return embeds.status_embed(task, self._clock(), await self.estimate(task), position)

    async def post_status(self, task: Task, reply_to: int | None) -> None:
        """The channel message the task edits while the video is made (the pipeline's StatusBoard)."""
        channel = self._bot.get_channel(task.channel_id)
        if channel is None:  # a thread the cache does not hold (archived, or created while we were away)
            with contextlib.suppress(discord.HTTPException):
                channel = await self._bot.fetch_channel(task.channel_id)
        if not isinstance(channel, discord.abc.Messageable):
            return
        embed = await self.status_view(task)
        # A request waiting in the line can be taken out of it (views.CancelButton).
        extra: dict[str, Any] = {"view": cancel_view(task)} if task.state is State.WAITING else {}
        if reply_to is not None:
            # A plain message if the member's message is gone by now: they still get the status.
            reference = channel.get_partial_message(reply_to).to_reference(fail_if_not_exists=False)
            extra |= {"reference": reference, "mention_author": False}
        for attempt in range(1, STATUS_POST_TRIES + 1):
            try:
                status = await channel.send(embed=embed, nonce=_nonce(task, "s"), **extra)
                break
            except DISCORD_TROUBLE as exc:
                # A 5xx may come after Discord made the message: the same nonce brings that one back.
                code = getattr(exc, "status", 503)  # unreachable: worth another try, like a 5xx
                if code < 500 or attempt == STATUS_POST_TRIES:
                    # The task runs anyway; delivery will find a way (or DM) when the video is ready.
                    log.warning("task %s: could not post the status message: %s", task.id, _describe(exc))
                    return
                await asyncio.sleep(0.25 * attempt)
        await self.attach_status(task.id, status.id)

    async def attach_status(self, task_id: int, message_id: int) -> None:
        """Remember the status message; if the task moved on while it was being posted, catch up."""
        task = await self._store.set_status_message(task_id, message_id)
        if task is None or task.state in (State.QUEUED, State.SUBMITTING):
            return
        if task.state is State.DELIVERED and task.delivered_message_id and task.delivered_channel_id:
            posted = message_in(self._bot, task.delivered_channel_id, task.delivered_message_id)
            if posted is not None:
                await self._finish_status(task, posted)
        else:
            await self.show_progress(task, force=True)

    async def show_progress(self, task: Task, *, force: bool = False) -> None:
        """Queue an edit of the status message if what it shows changed, at most every STATUS_EDIT_SECONDS;
        returns at once (the channel's drain sends it, newest state only)."""
        if task.status_message_id is None:
            return
        embed = await self.status_view(task)
        # The elapsed time in a field name changes every second; only the state and the bar count as news.
        signature = "|".join([embed.title or "", *(f.value or "" for f in embed.fields)])
        last = self._last_status.get(task.id)
        now = self._clock()
        if (
            not force
            and last is not None
            and (last[1] == signature or now - last[0] < self._status_edit_seconds)
        ):
            return
        self._last_status[task.id] = (now, signature)
        self._edits.want(task.channel_id, task.status_message_id, embed)

    # ---- outcome -----------------------------------------------------------------------------------

    async def deliver(self, task: Task) -> None:
        if task.state not in TO_DELIVER:
            return
        now = self._clock()
        # Was it already posted by an earlier life of this process?
        if task.delivery_started_at is not None and task.delivered_channel_id is not None:
            found = await self._find_earlier_post(task)
            if found is not None:
                log.info("task %s: found the post from before a restart; not posting again", task.id)
                await self._mark_delivered(task, found, _outcome_of(task, found))
                return
        try:
            message = await self._post_in_channel(task)
        except Undeliverable as exc:
            log.info("task %s: cannot post in channel %s (%s); trying a DM", task.id, task.channel_id, exc)
            try:
                message = await self._post_in_dm(task)
            except (Undeliverable, *DISCORD_TROUBLE) as dm_exc:
                await self._give_up_for_now(task, f"channel: {exc}; DM: {dm_exc}")
                return
            except _Shrinking:
                await self._hold_while_shrinking(task)
                return
        except _Shrinking:
            await self._hold_while_shrinking(task)
            return
        except DISCORD_TROUBLE as exc:
            # Discord hiccup (5xx, rate limits beyond discord.py's own retries) or unreachable (an outage, no
            # network): one line, and try again later.
            metrics.DISCORD_POST_FAILURES.inc()
            log.warning("task %s: posting failed (%s); retrying later", task.id, _describe(exc))
            await self._store.transition(
                task.id,
                task.state,
                delivery_attempts=task.delivery_attempts + 1,
                last_error=_describe(exc)[:500],
                next_poll_at=now + delivery_backoff(self._poll_interval, task.delivery_attempts),
            )
            return
        await self._mark_delivered(task, message, _outcome_of(task, message))

    async def _mark_delivered(self, task: Task, message: discord.Message, outcome: str) -> None:
        delivered = await self._store.transition(
            task.id,
            TO_DELIVER,
            State.DELIVERED,
            outcome=outcome,
            delivered_message_id=message.id,
            delivered_channel_id=message.channel.id,
            delivered_at=self._clock(),
            next_poll_at=None,
            notify_requester=0,
        )
        if delivered is None:
            return
        self._unshrinkable.pop(task.id, None)
        if task.video_path:
            _fit_path(Path(task.video_path)).unlink(missing_ok=True)
            if outcome == "video":
                # Discord keeps the copy now; the owner's disk need not.
                Path(task.video_path).unlink(missing_ok=True)
        await self._finish_status(delivered, message)

    async def _finish_status(self, task: Task, message: discord.Message | discord.PartialMessage) -> None:
        if task.status_message_id is None or task.status_message_id == message.id:
            return
        embed = await self.status_view(task)
        if task.outcome in ("video", "link"):
            embed.title = translate(task.locale, "🎬 Done")
        else:
            embed.title = embeds.failure_title(task)
            embed.colour = embeds.RED
        embed.add_field(name=translate(task.locale, "Result"), value=message.jump_url, inline=False)
        # Replaces a progress edit still queued for the message: nothing stale lands after it.
        self._edits.want(task.channel_id, task.status_message_id, embed, final=True)
        self._last_status.pop(task.id, None)

    async def _give_up_for_now(self, task: Task, why: str) -> None:
        metrics.DISCORD_POST_FAILURES.inc()
        attempts = task.delivery_attempts + 1
        retry = attempts < MAX_DELIVERY_ATTEMPTS
        log.warning(
            "task %s: could not deliver anywhere (%s); %s",
            task.id,
            why,
            "will retry" if retry else "stopped retrying; the member is told on their next command",
        )
        await self._store.transition(
            task.id,
            task.state,
            delivery_attempts=attempts,
            notify_requester=1,
            last_error=why[:500],
            next_poll_at=self._clock() + delivery_backoff(self._poll_interval * 4, attempts)
            if retry
            else None,
        )

    async def _find_earlier_post(self, task: Task) -> discord.Message | None:
        """Our outcome post among everything posted in the channel since the delivery started, if any."""
        assert task.delivered_channel_id is not None and task.delivery_started_at is not None
        channel = self._bot.get_channel(task.delivered_channel_id)
        if channel is None:
            try:
                channel = await self._bot.fetch_channel(task.delivered_channel_id)
            except discord.HTTPException:
                return None
        if not isinstance(channel, discord.abc.Messageable):
            return None
        since = datetime.fromtimestamp(task.delivery_started_at - HISTORY_SCAN_MARGIN_SECONDS, UTC)
        after = discord.Object(id=discord.utils.time_snowflake(since))
        read = 0
        try:
            async for message in channel.history(limit=HISTORY_SCAN_CAP, after=after, oldest_first=True):
                read += 1
                if self._is_outcome_post(task, message):
                    return message
        except DISCORD_TROUBLE as exc:
            # Posting again is safe within Discord's nonce window; past it, this could post a second time.
            why = _describe(exc)
            log.warning("task %s: could not read the channel for an earlier post (%s); posting", task.id, why)
        if read >= HISTORY_SCAN_CAP:
            log.warning(
                "task %s: no earlier post in the %d messages read since the delivery started; "
                "posting (an earlier post may be further on)",
                task.id,
                read,
            )
        return None

    def _is_outcome_post(self, task: Task, message: discord.Message) -> bool:
        """Our video or outcome for this task; never its status message (which mentions nobody)."""
        if self._bot.user is None or message.author.id != self._bot.user.id:
            return False
        if message.id == task.status_message_id:
            return False
        marked = any(embeds.footer_task_id(e.footer.text) == task.id for e in message.embeds)
        return marked and message.content.startswith(f"<@{task.requester_id}>")

    async def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self._bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self._bot.fetch_channel(channel_id)
            except (discord.NotFound, discord.Forbidden) as exc:
                raise Undeliverable(f"channel {channel_id} is gone or hidden ({exc.status})") from None
        if not isinstance(channel, discord.abc.Messageable):
            raise Undeliverable(f"channel {channel_id} cannot hold messages")
        return channel

    async def _post_in_channel(self, task: Task) -> discord.Message:
        channel = await self._channel(task.channel_id)
        limit = await self._upload_limit(channel) if task.state is State.DOWNLOADED else DEFAULT_UPLOAD_LIMIT
        try:
            return await self._send(channel, task, limit, in_dm=False)
        except (discord.NotFound, discord.Forbidden) as exc:
            raise Undeliverable(f"{exc.status} {exc.code}") from None

    async def _upload_limit(self, channel: discord.abc.Messageable) -> int:
        """The upload limit of the channel's server (its boosts), read from Discord when this process does not
        cache the server (another process's shard); Discord's default if that cannot be read."""
        # A channel fetched from an uncached server holds an unavailable stub of it, boosts unknown.
        guild = getattr(channel, "guild", None)
        if isinstance(guild, discord.Guild) and not guild.unavailable:
            return guild.filesize_limit
        if guild is not None:
            with contextlib.suppress(*DISCORD_TROUBLE):
                return (await self._bot.fetch_guild(guild.id, with_counts=False)).filesize_limit
        return DEFAULT_UPLOAD_LIMIT

    async def _post_in_dm(self, task: Task) -> discord.Message:
        try:
            user = self._bot.get_user(task.requester_id) or await self._bot.fetch_user(task.requester_id)
            dm = user.dm_channel or await user.create_dm()
        except discord.HTTPException as exc:
            raise Undeliverable(f"DM could not be opened ({exc.status})") from None
        try:
            return await self._send(dm, task, DEFAULT_UPLOAD_LIMIT, in_dm=True)
        except discord.Forbidden as exc:
            raise Undeliverable(f"DMs closed ({exc.code})") from None

    async def _send(
        self, channel: discord.abc.Messageable, task: Task, size_limit: int, *, in_dm: bool
    ) -> discord.Message:
        # Raises _Shrinking (nothing recorded, nothing posted) while the video is being made to fit.
        file_path = self._fit_file(task, size_limit) if task.state is State.DOWNLOADED else None
        # Record where we are about to post BEFORE posting: a crash after the post is then recoverable.
        # The first attempt's start is kept: the search after a crash covers every attempt's post.
        started = task.delivery_started_at or self._clock()
        await self._store.transition(
            task.id, task.state, delivery_started_at=started, delivered_channel_id=_channel_id(channel)
        )
        nonce = _nonce(task, "d" if in_dm else "c")
        mention = f"<@{task.requester_id}>"
        allowed = discord.AllowedMentions(
            everyone=False, roles=False, replied_user=False, users=[discord.Object(task.requester_id)]
        )
        # Written in the task's recorded language: the same after any restart.
        locale = task.locale
        prefix = (
            translate(locale, "I couldn't post in the channel you asked from, so here it is.")
            if in_dm
            else ""
        )
        ready = " ".join(filter(None, (mention, prefix, translate(locale, "Your video is ready!"))))
        if task.state is not State.DOWNLOADED:
            content = " ".join(
                filter(None, (mention, prefix, translate(locale, "Sorry, your video could not be made.")))
            )
            return await self._post(
                channel,
                nonce=nonce,
                content=content,
                embed=embeds.failure_embed(task),
                allowed_mentions=allowed,
                view=result_view(task),
            )

        if file_path is not None:
            try:
                return await self._post(
                    channel,
                    nonce=nonce,
                    content=ready,
                    embed=embeds.result_embed(task),
                    file=discord.File(file_path, filename=f"grok-video-{task.id}.mp4"),
                    allowed_mentions=allowed,
                    view=result_view(task),
                )
            except discord.HTTPException as exc:
                if exc.status != 413:
                    raise
                log.warning("task %s: upload refused as too large (%s); posting the link", task.id, exc.code)
        link = public_link(task.video_url)  # never the API key, even if the provider signed the link with it
        note = (
            translate(
                locale,
                "The video is too large to upload here, so here is the download link: {link}\n"
                "It is temporary: save the video soon.",
                link=link,
            )
            if link
            else translate(
                locale,
                "The video is too large to upload here, and its download link carries the bot's API key, "
                "so it cannot be shown. An admin can raise the server's upload limit (boosts) and ask again.",
            )
        )
        return await self._post(
            channel,
            nonce=nonce,
            content=ready,
            embed=embeds.result_embed(task, note=note),
            allowed_mentions=allowed,
            view=result_view(task),
        )

    async def _post(self, channel: discord.abc.Messageable, **message: Any) -> discord.Message:
        """One send of an outcome (the poller's post stage bounds them: POST_CONCURRENCY)."""
        return await channel.send(**message)

    def _fit_file(self, task: Task, size_limit: int) -> Path | None:
        """The file to attach: the original if it fits, else its shrunk copy, else None (post the link).

        Raises _Shrinking when the copy is still being made, or has just been started in the background.
        """
        if not task.video_path or not Path(task.video_path).exists():
            return None
        original = Path(task.video_path)
        size = original.stat().st_size
        if size <= size_limit:
            return original
        if task.id in self._shrinks:
            raise _Shrinking
        shrunk = _fit_path(original)
        if shrunk.exists() and shrunk.stat().st_size <= size_limit:
            return shrunk
        if size_limit <= self._unshrinkable.get(task.id, 0):
            return None  # a shrink to this limit (or a more generous one) already failed
        log.info("task %s: %d bytes over the %d upload limit; shrinking", task.id, size, size_limit)
        duration = task.actual_duration or float(task.request.duration or 10)
        self._shrinks[task.id] = asyncio.create_task(self._shrink(task, original, size_limit, duration))
        raise _Shrinking

    async def _shrink(self, task: Task, original: Path, size_limit: int, duration: float) -> None:
        """The background job: shrink, then make the task due now and wake the poller to post it."""
        try:
            fitted = await self._shrinker.shrink(original, _fit_path(original), size_limit, duration)
        except Exception:
            log.exception("task %s: shrinking failed; posting the link", task.id)
            fitted = False
        finally:
            self._shrinks.pop(task.id, None)  # also when cancelled (the bot closing): redone after a restart
        if not fitted:
            self._unshrinkable[task.id] = max(size_limit, self._unshrinkable.get(task.id, 0))
        try:
            await self._store.transition(task.id, task.state, next_poll_at=self._clock())
        except Exception:  # the store failing: the lease brings the task back anyway
            log.exception("task %s: could not make it due after its shrink", task.id)
        if self._wake is not None:
            self._wake()

    async def _hold_while_shrinking(self, task: Task) -> None:
        """Lease the task for the shrink's length; the job makes it due again when it ends."""
        await self._store.transition(task.id, task.state, next_poll_at=self._clock() + SHRINK_LEASE_SECONDS)


def _fit_path(original: Path) -> Path:
    """Where the shrunk copy of a downloaded video goes."""
    return original.with_name(f"{original.stem}-fit.mp4")


def _nonce(task: Task, kind: str) -> str:
    """The same for every attempt at one post of a task (Discord allows 25 characters): "s" the status
    message, "c" the outcome in the channel, "d" the outcome by DM."""
    return f"gv{task.id}{kind}"


#: What a call to Discord can fail with besides a bug: an HTTP error answer, or no answer at all.
DISCORD_TROUBLE = (discord.HTTPException, aiohttp.ClientError, TimeoutError)


def _describe(exc: BaseException) -> str:
    """One line for the log or last_error: the HTTP error as discord.py words it, else the kind of failure."""
    if isinstance(exc, discord.HTTPException):
        return str(exc)
    return f"Discord unreachable: {type(exc).__name__}: {exc}".rstrip(": ")


def _channel_id(channel: discord.abc.Messageable) -> int | None:
    return getattr(channel, "id", None)


def _outcome_of(task: Task, message: discord.Message) -> str:
    if task.state is State.DOWNLOADED:
        return "video" if message.attachments else "link"
    return task.state.value
