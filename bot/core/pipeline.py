"""The one request pipeline: a member's request becomes an accepted task or a refusal, checked in one order.

Every entry point (/video, the "Animate with Grok" form, reply mode, the Regenerate button) only translates
Discord input into a `Submission` (the request plus its `Origin`), calls `Pipeline.submit`, and renders the
`Outcome`. The order, cheapest "no" first and nothing paid before every check passed:

    catalogue → access (paused, channel, age-restricted, role, model) → content (blocked words)
    → the bot's channel permissions
    → atomic fair-use admission + store write (in the line when the provider is full) → paid create call
    → status message → the answer

No Discord here: the status message goes through the `StatusBoard` port, which the Discord side implements.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from bot.core import grok, logs
from bot.core.catalogue import Catalogue, VideoRequest
from bot.core.member_input import ImageFile, image_problems
from bot.core.policy import (
    GuildConfig,
    Limits,
    Refused,
    Requester,
    check_access,
    check_admission,
    check_content,
    line_notice,
)
from bot.core.poll_timing import PollTimer
from bot.core.scheduler import PollPlan
from bot.core.store import NewTask, State, Task, TaskStore
from bot.i18n import format_duration, resolve_locale, translate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, and the facts about the member and the place that the checks need."""

    source: str  # slash | context | reply | regenerate
    guild_id: int | None
    channel_id: int
    requester_id: int
    parent_channel_id: int | None = None  # a thread's parent: allowing a channel allows its threads
    role_ids: frozenset[int] = frozenset()
    role_names: Mapping[int, str] = field(default_factory=dict)  # to name a required role in a refusal
    manages_server: bool = False
    #: What the bot lacks in the channel to post status messages and videos (names a member understands).
    missing_permissions: tuple[str, ...] = ()
    #: The message whose images were used (context menu, reply mode) or the task regenerated.
    origin_message_id: int | None = None
    #: Post the status message as a reply to this message (reply mode) instead of a plain channel message.
    reply_to: int | None = None
    #: The channel is age-restricted (NSFW); a thread is when its parent is.
    age_restricted: bool = False
    #: The server's age-restricted channels: where an age-restricted-only server makes videos.
    age_restricted_channels: tuple[int, ...] = ()
    #: The member's Discord locale (`zh-CN`, `de`; reply mode: the server's preferred locale), or None for
    #: DEFAULT_LOCALE: refusals are written in it, and the task records it for its public posts.
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    request: VideoRequest
    origin: Origin
    #: Attachments to judge (type, size) before anything is spent; their URLs are already in the request.
    images: tuple[ImageFile, ...] = ()
    #: What the surface could not understand (an unknown flag, a duration that is not a number).
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Accepted:
    task: Task
    #: Things the member should hear with the answer (e.g. a video the bot still owes them).
    notices: tuple[str, ...] = ()


Outcome = Accepted | Refused


@dataclass(frozen=True, slots=True)
class PipelineRules:
    """The owner's settings the checks need."""

    default_limits: Limits
    max_image_bytes: int
    bypass_role_id: int | None = None
    max_in_flight: int = 0  # MAX_IN_FLIGHT: videos with the provider at once, all servers (0 = no limit)


class StatusBoard(Protocol):
    """Posts the channel message a task edits while the video is made (bot/discord/delivery.py)."""

    async def post_status(self, task: Task, reply_to: int | None) -> None: ...


def not_in_a_server(locale: str | None = None) -> Refused:
    return Refused(
        translate(locale, "Not here"),
        [translate(locale, "I make videos in server channels only.")],
        translate(locale, "Try again in a server channel."),
    )


def explain_create_error(exc: grok.GrokError, locale: str | None = None) -> Refused:
    """A create call that failed, in words for the member (never the raw exception), in their language;
    the provider's own words stay as they came."""
    title = translate(locale, "Grok did not accept the request")
    tell_owner = translate(locale, "Please tell the server owner.")
    if isinstance(exc, grok.AuthenticationError):
        return Refused(title, [translate(locale, "The bot's Grok API key was refused.")], tell_owner)
    if isinstance(exc, grok.InsufficientBalanceError):
        return Refused(title, [translate(locale, "The bot's Grok account is out of credit.")], tell_owner)
    if isinstance(exc, grok.RateLimitedError):
        busy = [translate(locale, "Grok is busy right now.")]
        if not exc.retry_after:
            return Refused(title, busy, translate(locale, "Please try again in a minute."))
        if locale_is_english(locale):
            return Refused(title, busy, f"Please try again in {round(exc.retry_after)} seconds.")
        wait = format_duration(exc.retry_after, locale)
        return Refused(title, busy, translate(locale, "Please try again in {wait}.", wait=wait))
    if isinstance(exc, grok.BadRequestError):
        reason = exc.provider_message or translate(locale, "it gave no reason")
        return Refused(
            title,
            [translate(locale, "Grok refused it: {reason}", reason=reason)],
            translate(locale, "Check the prompt and images and try again."),
        )
    if isinstance(exc, grok.GrokTimeoutError):
        return Refused(
            title,
            [translate(locale, "Grok did not answer in time, so I can't track this video.")],
            translate(locale, "Please try again in a minute."),
        )
    return Refused(
        title,
        [translate(locale, "Grok is unavailable right now.")],
        translate(locale, "Please try again in a few minutes."),
    )


def locale_is_english(locale: str | None) -> bool:
    """The member reads the English source texts."""
    return resolve_locale(locale) == "en-US"


#: A create answered 429 without a Retry-After waits this long in the line before it is sent again.
RETRY_WITHOUT_RETRY_AFTER = 5.0


def lost_track(task: Task) -> Refused:
    locale = task.locale
    return Refused(
        translate(locale, "Something went wrong on my side"),
        [translate(locale, "I lost track of task #{task} while Grok was accepting it.", task=task.id)],
        translate(locale, "Please tell the server owner: the bot's log has the video service's task id."),
    )


def channel_refusal(missing: tuple[str, ...], locale: str | None = None) -> Refused | None:
    if not missing:
        return None
    return Refused(
        translate(locale, "I can't post videos in this channel"),
        [
            translate(
                locale, "I'm missing these permissions here: {permissions}.", permissions=", ".join(missing)
            )
        ],
        translate(locale, "Ask a server admin to grant them, or use another channel."),
    )


class Pipeline:
    def __init__(
        self,
        store: TaskStore,
        client: grok.GrokClient,
        catalogue: Catalogue,
        plan: PollPlan,
        rules: PipelineRules,
        status: StatusBoard,
        *,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
        timer: PollTimer | None = None,
        on_line_moved: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._client = client
        self._catalogue = catalogue
        self._plan = plan
        self._rules = rules
        self._status = status
        self._clock = clock
        self._on_queued = on_queued
        self._on_line_moved = on_line_moved  # the waiting requests' status messages show their new place
        # Shared with the poller (app.py) so the history is read and the schedules worked out once.
        self._timer = timer or PollTimer(store, plan, clock)

    async def submit(self, submission: Submission) -> Outcome:
        origin = submission.origin
        if origin.guild_id is None or not origin.channel_id:
            return not_in_a_server(origin.locale)
        if refusal := self.check(submission):
            return refusal
        config = await self._store.guild_config(origin.guild_id)
        is_admin = self._is_admin(origin)
        request = submission.request
        if refusal := self._place_refusal(config, origin, request.model, is_admin, request.prompt):
            return refusal
        limits = config.limits(self._rules.default_limits)
        admitted = await self._admit(submission, limits, bypass=is_admin)
        if isinstance(admitted, Refused):
            return admitted
        # In the line already (the provider is full, or others wait): the dispatcher sends it in its turn.
        created = admitted if admitted.state is State.WAITING else await self.send(admitted)
        if isinstance(created, Refused):
            return created
        await self._status.post_status(created, origin.reply_to)
        notices = await self.notices(origin.requester_id, origin.locale)
        if created.state is State.WAITING:
            self._wake()
            if self._on_line_moved is not None:
                self._on_line_moved()  # it may go ahead of others (an earlier turn): their places move
            position = await self._store.line_position(created, self._rules.max_in_flight)
            notices = (line_notice(position, created.next_poll_at, self._clock(), origin.locale), *notices)
        return Accepted(created, notices)

    async def precheck(self, origin: Origin, images: tuple[ImageFile, ...]) -> Refused | None:
        """What can be judged before the member has said what they want, in submit's order (the images,
        the server's rules but the model and the prompt, the bot's permissions): the form opens only after
        this."""
        if origin.guild_id is None or not origin.channel_id:
            return not_in_a_server(origin.locale)
        if problems := image_problems(list(images), self._rules.max_image_bytes):
            return Refused(translate(origin.locale, "I can't use those images"), problems)
        config = await self._store.guild_config(origin.guild_id)
        return self._place_refusal(config, origin, None, self._is_admin(origin))

    def _is_admin(self, origin: Origin) -> bool:
        """Manage Server, or the owner's bypass role: the server's rules and limits do not apply."""
        bypass_role = self._rules.bypass_role_id
        return origin.manages_server or (bypass_role is not None and bypass_role in origin.role_ids)

    @staticmethod
    def _place_refusal(
        config: GuildConfig, origin: Origin, model: str | None, is_admin: bool, prompt: str | None = None
    ) -> Refused | None:
        """The server's rules for this member here (the model's and the prompt's once chosen), then the bot's
        permissions."""
        assert origin.guild_id is not None
        who = Requester(
            origin.guild_id, origin.channel_id, origin.parent_channel_id, origin.role_ids, is_admin,
            origin.age_restricted, origin.age_restricted_channels,
        )  # fmt: skip
        locale = origin.locale
        access = check_access(config, who, model, origin.role_names, locale)
        content = None if prompt is None else check_content(config, prompt, is_admin=is_admin, locale=locale)
        return access or content or channel_refusal(origin.missing_permissions, locale)

    def check(self, submission: Submission) -> Refused | None:
        """The cheap, local 'no' before any money is spent: what the surface and the catalogue object to."""
        images = image_problems(list(submission.images), self._rules.max_image_bytes)
        problems = [*submission.problems, *images]
        request = submission.request
        if catalogue_problems := self._catalogue.validate(request):
            spec = self._catalogue.get(request.model)
            hint = f"{spec.label}: {spec.description}." if spec else None
            title = translate(submission.origin.locale, "That combination doesn't work")
            return Refused(title, problems + catalogue_problems, hint)
        if problems:
            return Refused(translate(submission.origin.locale, "That request doesn't work"), problems)
        return None

    async def notices(self, requester_id: int, locale: str | None = None) -> tuple[str, ...]:
        owed = await self._store.pending_notices(requester_id)
        return tuple(
            translate(
                locale,
                "📬 I still owe you task #{task}: I couldn't post it in its channel or send it by DM. "
                "I'll keep trying; make sure I can post there or DM you.",
                task=t.id,
            )
            for t in owed
        )

    async def _admit(self, submission: Submission, limits: Limits, *, bypass: bool) -> Task | Refused:
        """Fair use and the insert as one atomic step. The row is written BEFORE the paid call: a crash from
        here on leaves a row the poller turns into `lost` once the call can no longer be in flight."""
        request, origin = submission.request, submission.origin
        spec = self._catalogue.models[request.model]
        new = NewTask(
            source=origin.source,
            guild_id=origin.guild_id,
            channel_id=origin.channel_id,
            requester_id=origin.requester_id,
            origin_message_id=origin.origin_message_id,
            request=self._catalogue.resolve(request),
            billed_seconds=spec.billed_seconds(request.duration),
            locale=origin.locale,
        )
        return await self._store.create_task_if(
            new,
            lambda usage: check_admission(
                limits, usage, new.billed_seconds, self._clock(), bypass=bypass, locale=origin.locale
            ),
            self._clock() + self._plan.submit_grace,
            self._rules.max_in_flight,
        )

    def _wake(self) -> None:
        if self._on_queued is not None:
            self._on_queued()  # the poller may be asleep until its next known due time

    async def send(self, task: Task, *, refused_as: State = State.REJECTED) -> Task | Refused:
        """The paid call for a task in `submitting`, with the body built from the stored request. Never
        retried: a retried create can be billed twice. Returns the row as queued, or back in the line when
        the provider answered 429 (due at its Retry-After, keeping its turn), or the refusal in the member's
        words; the task is then `refused_as`: `rejected` when the member is answered at once, `failed` (to
        be posted) when the line's dispatcher sent it."""
        # When to poll first (where this model's tasks of this length tend to finish, once that is known),
        # worked out BEFORE the paid call, so nothing but the write of its id comes between it and the store.
        before = self._clock()
        first_poll_delay = await self._timer.next_poll_at(task, before) - before
        try:
            created = await self._client.create(self._catalogue.build_body(task.request))
        except grok.RateLimitedError as exc:
            return await self._back_in_line(task, exc)
        except grok.GrokError as exc:
            log.warning("task %s: create refused: %s", task.id, exc, extra=logs.task_fields(task))
            refusal = explain_create_error(exc, task.locale)
            now = self._clock()
            # Stored in English (the log's and the owner's language); the failure post translates it.
            stored = "; ".join(explain_create_error(exc).problems)
            await self._store.transition(
                task.id,
                State.SUBMITTING,
                refused_as,
                failure_reason=stored[:1000],
                finished_at=now,
                next_poll_at=None if refused_as is State.REJECTED else now,
            )
            if refused_as is not State.REJECTED:
                # To be posted. (A request sent at once had nobody waiting before it: no slot to hand on.)
                self._wake()
            return refusal
        now = self._clock()
        # From LOST too: if the call outlived its grace, the poller may have given the task up meanwhile;
        # the video is being made and paid for, so it is followed after all.
        queued = await self._store.transition(
            task.id,
            (State.SUBMITTING, State.LOST),
            State.QUEUED,
            api_id=created.id,
            provider_status=created.status,
            submitted_at=now,
            polled_at=now,  # not finished when it was accepted: the lower bound of when it finishes
            finished_at=None,
            failure_reason=None,
            next_poll_at=now + first_poll_delay,
        )
        if queued is None:  # already posted as lost: keep the provider's id where the owner can find it
            log.error(
                "task %s: the provider accepted it as %s after it was given up",
                task.id,
                created.id,
                extra=logs.task_fields(task),
            )
            return lost_track(task)
        log.info(
            "task %s: queued at the provider as %s (%s)",
            task.id,
            created.id,
            task.request.model,
            extra=logs.task_fields(task),
        )
        self._wake()
        return queued

    async def send_from_line(self, task: Task) -> Task | Refused:
        """The line's dispatcher sends a request it took from the line (the poller's line stage): a refusal
        is posted to the member like a failed video, since nobody is waiting for an answer."""
        return await self.send(task, refused_as=State.FAILED)

    async def _back_in_line(self, task: Task, exc: grok.RateLimitedError) -> Task | Refused:
        """A 429 on the create: the request waits in the line again, with its turn, until the provider's
        Retry-After (the request budget's pause, or RETRY_WITHOUT_RETRY_AFTER without one)."""
        wait = exc.retry_after or self._client.paused_for() or RETRY_WITHOUT_RETRY_AFTER
        back = await self._store.transition(
            task.id,
            State.SUBMITTING,
            State.WAITING,
            next_poll_at=self._clock() + wait,
            last_error=str(exc)[:500],
        )
        if back is None:  # given up as lost meanwhile (the call outlived its grace): already told
            return lost_track(task)
        log.info(
            "task %s: Grok is busy; back in line for %.0f s", task.id, wait, extra=logs.task_fields(task)
        )
        self._wake()
        return back
