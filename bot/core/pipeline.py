"""From a validated request to a task the poller owns: store first, then the paid create call.

No Discord here: cogs translate interactions and messages into a `Submission` and the outcome back
into messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.core import grok
from bot.core.catalogue import Catalogue, VideoRequest
from bot.core.policy import Limits, Refused, check_admission
from bot.core.scheduler import PollPlan, next_poll_delay
from bot.core.store import NewTask, State, Task, TaskStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Submission:
    request: VideoRequest
    source: str  # slash | context | reply | regenerate
    guild_id: int | None
    channel_id: int
    requester_id: int
    origin_message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    task: Task


def explain_create_error(exc: grok.GrokError) -> Refused:
    """A create call that failed, in words for the member (never the raw exception)."""
    title = "Grok did not accept the request"
    if isinstance(exc, grok.AuthenticationError):
        return Refused(title, ["The bot's Grok API key was refused."], "Please tell the server owner.")
    if isinstance(exc, grok.InsufficientBalanceError):
        return Refused(title, ["The bot's Grok account is out of credit."], "Please tell the server owner.")
    if isinstance(exc, grok.RateLimitedError):
        wait = f"in {round(exc.retry_after)} seconds" if exc.retry_after else "in a minute"
        return Refused(title, ["Grok is busy right now."], f"Please try again {wait}.")
    if isinstance(exc, grok.BadRequestError):
        reason = exc.provider_message or "it gave no reason"
        return Refused(title, [f"Grok refused it: {reason}"], "Check the prompt and images and try again.")
    if isinstance(exc, grok.GrokTimeoutError):
        return Refused(
            title,
            ["Grok did not answer in time, so I can't track this video."],
            "Please try again in a minute.",
        )
    return Refused(title, ["Grok is unavailable right now."], "Please try again in a few minutes.")


class Submitter:
    def __init__(
        self,
        store: TaskStore,
        client: grok.GrokClient,
        catalogue: Catalogue,
        plan: PollPlan,
        clock: Callable[[], float] = time.time,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._on_queued = on_queued
        self._store = store
        self._client = client
        self._catalogue = catalogue
        self._plan = plan
        self._clock = clock

    def check(self, request: VideoRequest) -> Refused | None:
        """Validate against the model's constraints: the cheap, local 'no' before any money is spent."""
        problems = self._catalogue.validate(request)
        if not problems:
            return None
        spec = self._catalogue.get(request.model)
        hint = f"{spec.label}: {spec.description}." if spec else None
        return Refused("That combination doesn't work", problems, hint)

    async def submit(
        self, submission: Submission, limits: Limits | None = None, *, bypass: bool = False
    ) -> Accepted | Refused:
        """Check, store, then pay. With `limits`, the fair-use check and the insert are one atomic step."""
        request = submission.request
        if refusal := self.check(request):
            return refusal
        body = self._catalogue.build_body(request)
        spec = self._catalogue.models[request.model]
        new = NewTask(
            source=submission.source,
            guild_id=submission.guild_id,
            channel_id=submission.channel_id,
            requester_id=submission.requester_id,
            origin_message_id=submission.origin_message_id,
            model=spec.id,
            prompt=body["prompt"],
            duration=body.get("duration", spec.default_duration),
            aspect_ratio=body["aspect_ratio"],
            resolution=body["resolution"],
            image_urls=tuple(body.get("image_urls", ())),
            billed_seconds=spec.billed_seconds(request.duration),
        )
        # Written BEFORE the paid call: a crash from here on leaves a row the poller turns into `lost`
        # once the call can no longer be in flight.
        recheck_at = self._clock() + self._plan.submit_grace
        if limits is None:
            task = await self._store.create_task(new, recheck_at)
        else:
            admitted = await self._store.create_task_if(
                new,
                lambda usage: check_admission(
                    limits, usage, new.billed_seconds, self._clock(), bypass=bypass
                ),
                recheck_at,
            )
            if isinstance(admitted, Refused):
                return admitted
            task = admitted
        try:
            created = await self._client.create(body)
        except grok.GrokError as exc:
            log.warning("task %s: create refused: %s", task.id, exc)
            refusal = explain_create_error(exc)
            await self._store.transition(
                task.id,
                State.SUBMITTING,
                State.REJECTED,
                failure_reason="; ".join(refusal.problems)[:1000],
                finished_at=self._clock(),
                next_poll_at=None,
            )
            return refusal
        now = self._clock()
        await self._store.transition(
            task.id,
            State.SUBMITTING,
            State.QUEUED,
            api_id=created.id,
            provider_status=created.status,
            submitted_at=now,
            next_poll_at=now + next_poll_delay(self._plan),
        )
        log.info("task %s: queued at the provider as %s (%s)", task.id, created.id, spec.id)
        if self._on_queued is not None:
            self._on_queued()  # the poller may be asleep until its next known due time
        fresh = await self._store.get(task.id)
        assert fresh is not None
        return Accepted(fresh)
