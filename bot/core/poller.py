"""One background loop that moves every task forward, reading only the store (so it resumes after a restart).

The work runs in three stages, each with its own bound of workers: polling the provider (and recovering an
interrupted create), downloading a finished video (its link is temporary), and posting the outcome (through
Delivery, which bounds its own ffmpeg shrinks and uploads). Each tick claims, per stage, as many due tasks as
that stage has free workers (indexed on next_poll_at), so four slow video hosts or a long upload never hold
up another member's poll. A stage hands a task to the next through the store (due now, then a wake-up), so
a crash between two stages loses nothing. Claiming leases the task (TaskStore.claim_due): its next_poll_at
moves past the work's own time limit, so no one else picks it up while it is handled, and a crash leaves
it due again when the lease ends.
A provider 429 pauses every provider request for its Retry-After (the client's request budget,
bot/core/budget.py, like discord.py's global lock); meanwhile polls are not claimed and nothing is sent from
the line, while downloads and deliveries carry on.

A fourth stage serves the line: requests accepted while the provider was full wait in state `waiting`; each
tick moves the next ones, in the line's fair order, to `submitting` while the provider has room
(TaskStore.dispatch_next: one UPDATE each, so MAX_IN_FLIGHT and a server's own bound are never exceeded) and
sends them (Pipeline.send_from_line). Whenever the line moves, the waiting requests' status messages are
refreshed to show their new place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.core import grok, logs, metrics
from bot.core.policy import Refused
from bot.core.poll_timing import PollTimer
from bot.core.scheduler import PollPlan, error_backoff, is_overdue, plain_duration
from bot.core.store import POLLING, STORE_ERRORS, TO_DELIVER, State, Task, TaskStore

log = logging.getLogger(__name__)

#: The loop wakes at least this often even with nothing due (cheap: one indexed MIN() query).
IDLE_WAKE_SECONDS = 30.0
#: Posting an outcome: uploading it, a DM fallback, discord.py's own retries (a shrink runs apart, with its
#: own longer lease set by Delivery). Generous: a delivery cut short by a crash is retried (and adopts its
#: own earlier post) this long after it began.
DELIVERY_LEASE_SECONDS = 300.0
#: TASK_LEASE_SECONDS' default: no lease is longer (the holder renews them every third of it).
DEFAULT_TASK_LEASE_SECONDS = 60.0
#: Room beyond a step's own time limit for the store writes around it.
LEASE_MARGIN_SECONDS = 5.0
#: When the line moves, the status messages of this many requests at its head show their new place (the
#: rest catch up as they come forward).
LINE_REFRESH_LIMIT = 100
#: A failing store (disk full, read-only file, locked database) is retried after a growing pause, at most
#: this long.
MAX_STORE_BACKOFF_SECONDS = 30.0


def lease_seconds(
    plan: PollPlan, download_timeout: float, cap: float = DEFAULT_TASK_LEASE_SECONDS
) -> dict[State, float]:
    """How long a claimed task stays out of every other worker's reach, per state (docs/architecture.md).

    A poll: the poll request's own limit plus a margin (plan.submit_grace: GROK_TIMEOUT_SECONDS + 2 s, the
    same bound as a create call). A download: its timeout plus a margin. A delivery: a generous bound. None
    longer than `cap` (TASK_LEASE_SECONDS): the holder renews the leases of the work it still has in hand
    (Poller._renew_leases), so a lease only has to outlast the holder, not its slowest work, and a task
    held by a process that died is taken up by another (or the next start) within `cap`.
    """
    poll = plan.submit_grace
    leases = dict.fromkeys(State, poll)  # submitting, and terminal rows with a stray next_poll_at: quick
    leases[State.COMPLETED] = download_timeout + LEASE_MARGIN_SECONDS
    leases.update(dict.fromkeys(TO_DELIVER, DELIVERY_LEASE_SECONDS))
    return {state: min(seconds, cap) for state, seconds in leases.items()}


@dataclass(frozen=True, slots=True)
class Stage:
    """One kind of work with its own bound: the states it claims and how many of them at once."""

    name: str
    states: frozenset[State]
    limit: int


def stages(config: PollerConfig) -> tuple[Stage, ...]:
    """The line (sending waiting requests; not claimed by claim_due but by TaskStore.dispatch_next), poll
    (with the recovery of an interrupted create, and clearing a terminal row's stray due time), download,
    post."""
    line = frozenset({State.WAITING})
    download = frozenset({State.COMPLETED})
    post = frozenset(TO_DELIVER)
    poll = frozenset(State) - line - download - post
    return (
        Stage("line", line, config.poll_concurrency),
        Stage("poll", poll, config.poll_concurrency),
        Stage("download", download, config.download_concurrency),
        Stage("post", post, config.post_concurrency),
    )


def store_backoff(base_interval: float, failures: int) -> float:
    """The pause after `failures` store failures in a row: doubling from the poll interval, capped."""
    return min(MAX_STORE_BACKOFF_SECONDS, max(0.05, base_interval) * 2 ** min(failures, 16))


class Delivery(Protocol):
    """What the poller needs from the Discord side (bot/discord/delivery.py implements it)."""

    async def deliver(self, task: Task) -> None:
        """Post the task's outcome exactly once and mark it delivered, or schedule a retry."""

    async def show_progress(self, task: Task) -> None:
        """Refresh the task's status message if what it shows has changed (best effort)."""


@dataclass(frozen=True, slots=True)
class PollerConfig:
    plan: PollPlan
    video_dir: Path
    max_video_bytes: int
    poll_concurrency: int = 16  # POLL_CONCURRENCY
    download_concurrency: int = 3  # DOWNLOAD_CONCURRENCY
    post_concurrency: int = 4  # POST_CONCURRENCY
    download_timeout: float = 300.0  # DOWNLOAD_TIMEOUT_SECONDS
    stall_seconds: float = 30.0  # DOWNLOAD_STALL_SECONDS
    max_in_flight: int = 0  # MAX_IN_FLIGHT: videos with the provider at once, all servers (0 = no limit)
    task_lease: float = DEFAULT_TASK_LEASE_SECONDS  # TASK_LEASE_SECONDS


class Poller:
    def __init__(
        self,
        store: TaskStore,
        client: grok.GrokClient,
        delivery: Delivery,
        config: PollerConfig,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        timer: PollTimer | None = None,
        send: Callable[[Task], Awaitable[Task | Refused]] | None = None,
    ) -> None:
        self._store = store
        #: Sends a request taken from the line (Pipeline.send_from_line); without it the line is not served.
        self._send = send
        self._line_dirty = False
        self._line_refresh: asyncio.Task[None] | None = None
        self._client = client
        self._delivery = delivery
        self._config = config
        self._clock = clock
        self._rng = rng or random.Random()
        self._timer = timer or PollTimer(store, config.plan, clock, self._rng)
        self._wake = asyncio.Event()
        self._leases = lease_seconds(config.plan, config.download_timeout, config.task_lease)
        self._stages = stages(config)
        self._line_stage = self._stages[0]
        #: Workers started and not yet ended, per stage (counted here: a done-callback comes too late).
        self._busy = dict.fromkeys(self._stages, 0)
        #: Tasks a worker of this process is still handling. A lease can run out under slow work (a delivery
        #: that shrinks and uploads twice outlasts DELIVERY_LEASE_SECONDS): claiming such a task again only
        #: renews its lease; a second worker must never start on it (it would post the video twice).
        self._working: set[int] = set()
        #: The tasks in hand with their lease: the state they were taken in, the lease's end as written, and
        #: when it was written. _renew_leases keeps them from other processes while the work lasts.
        self._leased: dict[int, tuple[State, float, float]] = {}
        self._renewer: asyncio.Task[None] | None = None
        self._store_failures = 0  # store failures in a row; the first and the recovery are logged
        self._store_failing_since: float | None = None
        self._workers: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.heartbeat = metrics.Heartbeat()  # beats once per loop iteration: /healthz tells a stalled loop

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._run(), name="grok-poller")
            self._renewer = asyncio.create_task(self._renew_leases(), name="grok-lease-renewal")

    async def stop(self) -> None:
        """Stop the loop and cancel the work in hand. Its tasks are due again at once, not when their leases
        run out, so the next start takes them up (a delivery cut short adopts its own earlier post)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        in_hand = set(self._working)
        if self._line_refresh is not None:
            self._line_refresh.cancel()
        for worker in list(self._workers):
            worker.cancel()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)
        try:
            await self._store.release(in_hand)
        except Exception as exc:  # a failing store: the leases still bring the tasks back, only later
            log.warning("could not hand back %d task(s) at shutdown: %s", len(in_hand), exc)

    def wake(self) -> None:
        """Something became due now (a new task, a retry): don't wait for the next scheduled tick."""
        self._wake.set()

    def line_moved(self) -> None:
        """A request joined, left or came back to the line: refresh the waiting requests' status messages
        (in the background, one refresh at a time; moves meanwhile make one more)."""
        self._line_dirty = True
        if self._line_refresh is None or self._line_refresh.done():
            self._line_refresh = asyncio.create_task(self._refresh_line(), name="grok-line-refresh")

    async def _refresh_line(self) -> None:
        while self._line_dirty:
            self._line_dirty = False
            try:
                for task in await self._store.waiting(LINE_REFRESH_LIMIT):
                    await self._delivery.show_progress(task)
            except Exception:  # best effort: the next move refreshes them again
                log.exception("could not refresh the line's status messages")

    async def _renew_leases(self) -> None:
        """Extend the lease of each task in hand (a claimed one, or a create sent from the line) once a third
        of it has passed, to a whole lease from now: while this process lives and works on a task, no other
        takes it (a create still in flight is never reported lost by another process); if it dies, its
        tasks are due again within their lease (TASK_LEASE_SECONDS at most). Compare and set on the lease
        as written: a worker that set its own next time (a retry, a shrink's longer lease, a parked
        delivery) or moved the task on wins, and the task is no longer renewed."""
        period = max(0.05, min(self._leases.values()) / 3)
        while True:
            await asyncio.sleep(period)
            now = self._clock()
            for task_id, (state, until, since) in list(self._leased.items()):
                if now - since < self._leases[state] / 3 or task_id not in self._leased:
                    continue
                renewed_until = now + self._leases[state]
                try:
                    renewed = await self._store.renew_lease(task_id, state, until, renewed_until)
                except (
                    Exception
                ) as exc:  # the store failing: the lease may run out; the loop logs the episode
                    log.debug("task %s: lease not renewed: %s", task_id, exc)
                    break
                if task_id in self._leased:
                    if renewed:
                        self._leased[task_id] = (state, renewed_until, now)
                    else:
                        del self._leased[task_id]

    async def _run(self) -> None:
        while True:
            # Cleared BEFORE the tick: a wake() that arrives while we work must not be lost.
            self._wake.clear()
            try:
                await self.tick()
                delay = await self._seconds_until_next()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The loop must outlive any bug or database trouble; the tasks stay in the store. A failing
                # store is not hammered: the pause grows, and wakes are ignored until it ends.
                pause = self._store_failed(exc)
                self.heartbeat.beat(pause)
                await asyncio.sleep(pause)
                continue
            self._store_ok()
            self.heartbeat.beat(delay)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races the wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _claimable(self, stage: Stage) -> dict[State, float]:
        """The states of `stage` a tick may claim now, with their leases: none when the stage is full, and
        no polls while the provider pauses us."""
        if self._busy[stage] >= stage.limit:
            return {}
        paused = self._client.paused_for() > 0
        if stage is self._line_stage and (paused or self._send is None):
            return {}
        return {state: self._leases[state] for state in stage.states if not (paused and state in POLLING)}

    async def _seconds_until_next(self) -> float:
        """Until the next task a free worker may claim is due (a leased task's time is its lease's end), the
        end of a provider pause, or a wake (a new task, a retry, a worker that ended): never a fixed
        interval, and never a task whose stage is full (the first of its workers to end wakes the loop)."""
        claimable = [state for stage in self._stages for state in self._claimable(stage)]
        if not claimable:
            return IDLE_WAKE_SECONDS
        wait = IDLE_WAKE_SECONDS
        waiting_after = None
        if State.WAITING in claimable:
            # A request due now that was not sent waits for room (a slot that frees wakes the loop); only
            # the end of a Retry-After is a time to look again.
            claimable.remove(State.WAITING)
            waiting_after = self._clock()
        next_at = self.heartbeat.due_at = await self._store.next_due_at(claimable, waiting_after)
        if paused := self._client.paused_for():
            wait = min(wait, paused)
        if next_at is not None:
            wait = min(wait, max(0.0, next_at - self._clock()))
        return wait

    async def tick(self, now: float | None = None) -> int:
        """Claim (lease), per stage, as many tasks due at `now` (default: the clock) as the stage has free
        workers and start handling them; returns how many were started."""
        moment = self._clock() if now is None else now
        wanted = {stage: self._claimable(stage) for stage in self._stages}
        line = self._line_stage
        claimed = await self._store.claim_due(
            [
                (stage.limit - self._busy[stage], states)
                for stage, states in wanted.items()
                if stage is not line
            ],
            now=moment,
        )
        metrics.poller_lag(self.heartbeat, moment, claimed)
        taken = await self._take_from_line(moment) if wanted[line] else []
        started = 0
        for task, stage in [*((t, line) for t in taken), *((t, self._stage_of(t)) for t in claimed)]:
            if task.id in self._working:
                if task.id in self._leased and task.next_poll_at is not None:
                    # Claimed again while still in hand (its lease ran out): no second worker, but the
                    # lease just written is the one to renew from now on.
                    self._leased[task.id] = (task.state, task.next_poll_at, moment)
                continue
            self._working.add(task.id)
            if task.next_poll_at is not None:  # a claim's lease, or a create's (dispatch_next's send_by)
                self._leased[task.id] = (task.state, task.next_poll_at, moment)
            self._busy[stage] += 1
            started += 1
            worker = asyncio.create_task(self._handle_guarded(task, stage), name=f"task-{task.id}")
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return started

    def _stage_of(self, task: Task) -> Stage:
        return next(stage for stage in self._stages[1:] if task.state in stage.states)

    async def _take_from_line(self, now: float) -> list[Task]:
        """The next requests of the line, in its fair order, moved to `submitting` while the provider has room
        and the stage has free workers (each move atomic with the count it depends on)."""
        taken: list[Task] = []
        send_by = now + self._config.plan.submit_grace
        while len(taken) < self._line_stage.limit - self._busy[self._line_stage]:
            task = await self._store.dispatch_next(self._config.max_in_flight, send_by, now)
            if task is None:
                break
            taken.append(task)
        return taken

    def _store_failed(self, exc: Exception) -> float:
        """Note a failure (of the store, or a bug) and return the pause before the next try. One log line
        when an episode starts, one when it ends (_store_ok), never one per task per tick."""
        self._store_failures += 1
        if self._store_failing_since is None:
            self._store_failing_since = self._clock()
            if isinstance(exc, STORE_ERRORS):
                log.error("the task store is failing (%s); backing off until it works again", exc)
            else:
                log.exception("poller tick failed; backing off until it works again")
        return store_backoff(self._config.plan.base_interval, self._store_failures)

    def _store_ok(self) -> None:
        if self._store_failing_since is not None:
            lasted = plain_duration(max(1.0, self._clock() - self._store_failing_since))
            failures = self._store_failures
            log.warning("the task store works again, after %d failed tries over %s", failures, lasted)
        self._store_failures = 0
        self._store_failing_since = None

    async def _handle_guarded(self, task: Task, stage: Stage) -> None:
        logs.bind_task(task)  # this worker's own context: every line logged while handling it names the task
        try:
            if stage is self._line_stage:
                await self._send_from_line(task)
            else:
                await self.handle(task)
        except asyncio.CancelledError:
            raise
        except STORE_ERRORS as exc:
            # The store failed under this task: its lease brings it back; the loop backs off and logs once.
            self._store_failed(exc)
        except Exception:
            log.exception("task %s: unexpected error while handling state %s", task.id, task.state)
            # Try again later rather than spin; the task is never dropped.
            await self._store.transition(
                task.id, task.state, next_poll_at=self._clock() + max(5.0, self._config.plan.base_interval)
            )
        finally:
            self._working.discard(task.id)
            self._leased.pop(task.id, None)
            self._busy[stage] -= 1
            self.wake()

    # ---- one task ----------------------------------------------------------------------------------

    async def handle(self, task: Task) -> None:
        if task.state is State.SUBMITTING:
            await self._recover_submitting(task)
        elif task.state in POLLING:
            await self._poll(task)
        elif task.state is State.COMPLETED:
            await self._download(task)
        elif task.state in TO_DELIVER:
            await self._delivery.deliver(task)
        else:  # terminal states never have a next_poll_at; clear a stray one
            await self._store.transition(task.id, task.state, next_poll_at=None)

    async def _finish(
        self,
        task: Task,
        expected: State | Iterable[State],
        state: State,
        *,
        reason: str | None = None,
        **changes: Any,
    ) -> Task | None:
        """This stage's part is over: move the task into an outcome to post (`state`, one of TO_DELIVER),
        due at once for the post stage. `reason` is the failure reason the member reads.

        Returns the row handed over, or None when another worker moved the task first (and delivers it).
        """
        if reason is not None:
            changes["failure_reason"] = reason
        return await self._hand_on(task, expected, state, **changes)

    async def _hand_on(
        self, task: Task, expected: State | Iterable[State], state: State, **changes: Any
    ) -> Task | None:
        """Move the task to `state`, due now, and wake the loop: the stage that handles `state` claims it
        as soon as it has a free worker (a crash in between leaves it due, so nothing is lost)."""
        moved = await self._store.transition(task.id, expected, state, next_poll_at=self._clock(), **changes)
        if moved is not None:
            self.wake()
        return moved

    async def _send_from_line(self, task: Task) -> None:
        """The paid call for a request taken from the line; its status message and the line's follow."""
        assert self._send is not None
        sent = await self._send(task)
        if isinstance(sent, Task):
            await self._delivery.show_progress(sent)
        self.line_moved()

    async def _recover_submitting(self, task: Task) -> None:
        now = self._clock()
        grace = self._config.plan.submit_grace
        if now - task.created_at < grace:
            await self._store.transition(task.id, State.SUBMITTING, next_poll_at=task.created_at + grace)
            return
        reason = (
            "The bot restarted while sending your request, so it can't tell whether the video was started. "
            "Please try again."
        )
        if await self._finish(task, State.SUBMITTING, State.LOST, reason=reason, finished_at=now):
            log.warning("task %s: lost (the process died during the create call)", task.id)

    async def _poll(self, task: Task) -> None:
        now = self._clock()
        plan = self._config.plan
        if is_overdue(plan, task.submitted_at or task.created_at, now):
            within = plain_duration(plan.task_timeout)
            reason = f"The video service did not finish your video within {within}, so I stopped waiting."
            await self._finish(task, POLLING, State.EXPIRED, reason=reason, finished_at=now)
            return
        result = await self._ask_provider(task, now)
        if result is not None:
            await self._record_answer(task, result, now)

    async def _ask_provider(self, task: Task, now: float) -> grok.TaskResult | None:
        """The provider's answer, or None when the call failed and that was dealt with (retry scheduled)."""
        plan = self._config.plan
        assert task.api_id is not None
        try:
            return await self._client.result(task.api_id)
        except grok.RateLimitedError as exc:
            wait = (
                exc.retry_after
                if exc.retry_after is not None
                else error_backoff(plan, task.error_streak, self._rng)
            )
            # The client has paused every provider request (or this poll was never sent, being inside a
            # pause); this task looks again once it ends.
            await self._note_error(task, str(exc), now + wait)
        except grok.TaskNotFoundError:
            reason = "The video service no longer knows this task."
            await self._finish(task, POLLING, State.FAILED, reason=reason, finished_at=now)
        except grok.GrokError as exc:
            # Outages, timeouts, malformed answers, even a rotated key: keep the task and back off.
            # TASK_TIMEOUT_SECONDS bounds how long this can go on.
            level = logging.ERROR if isinstance(exc, grok.AuthenticationError) else logging.WARNING
            log.log(level, "task %s: poll failed: %s", task.id, exc)
            await self._note_error(task, str(exc))
        return None

    async def _record_answer(self, task: Task, result: grok.TaskResult, now: float) -> None:
        """Store what the provider said and act on it: post a failure, download a video, or wait."""
        polled = {
            "provider_status": result.provider_status,
            "poll_attempts": task.poll_attempts + 1,
            "error_streak": 0,
        }
        if result.status == "failed":
            reason = result.error or "The video service did not give a reason."
            await self._finish(task, POLLING, State.FAILED, reason=reason, finished_at=now, **polled)
        elif result.status == "completed":
            # Handed to the download stage at once: the link is temporary.
            await self._hand_on(
                task,
                POLLING,
                State.COMPLETED,
                finished_at=now,
                video_url=result.video_url,
                actual_duration=result.actual_duration,
                **polled,
            )
        else:
            await self._keep_waiting(task, result, now, polled)

    async def _keep_waiting(
        self, task: Task, result: grok.TaskResult, now: float, polled: dict[str, Any]
    ) -> None:
        """Queued, processing, or a status word nobody documented: poll again when the learned schedule says
        (the usual interval without enough history).

        An unknown word does not fail the task: it may be a new in-between step (moderation, upscaling) of a
        video that is being made and paid for, and TASK_TIMEOUT_SECONDS still bounds the wait. It is kept in
        last_error and logged when it first appears, not at every poll.
        """
        note = None
        if result.status == "unknown":
            note = (
                f"the video service reports a status I don't know ({result.provider_status}); still waiting"
            )
            if note != task.last_error:  # new since the last poll (the create may have said it already)
                log.warning("task %s: %s", task.id, note)
        state = State.PROCESSING if result.status == "processing" else task.state
        next_at = await self._timer.next_poll_at(task, now)
        if waiting := await self._store.transition(
            task.id, POLLING, state, last_error=note, next_poll_at=next_at, polled_at=now, **polled
        ):
            await self._delivery.show_progress(waiting)

    async def _note_error(self, task: Task, message: str, retry_at: float | None = None) -> None:
        """Record a passing error; look again at `retry_at`, by default after a backoff that grows with
        each error in a row."""
        if retry_at is None:
            retry_at = self._clock() + error_backoff(self._config.plan, task.error_streak + 1, self._rng)
        await self._store.transition(
            task.id,
            task.state,
            last_error=message[:500],
            error_streak=task.error_streak + 1,
            next_poll_at=retry_at,
        )

    async def _download(self, task: Task) -> None:
        assert task.video_url is not None
        dest = self._config.video_dir / f"task-{task.id}.mp4"
        try:
            size = await self._client.download(
                task.video_url,
                dest,
                max_bytes=self._config.max_video_bytes,
                timeout=self._config.download_timeout,
                stall_seconds=self._config.stall_seconds,
            )
        except grok.VideoTooLargeError:
            # Too big to keep or attach anyway: deliver the provider's link with a warning instead.
            log.warning("task %s: video over MAX_VIDEO_MB; delivering the link", task.id)
            await self._finish(task, State.COMPLETED, State.DOWNLOADED)
        except grok.LinkExpiredError:
            reason = "The video was made, but its download link expired before I could fetch it."
            await self._finish(task, State.COMPLETED, State.FAILED, reason=reason)
        except grok.DownloadError as exc:
            await self._download_failed(task, exc)
        else:
            await self._finish(
                task,
                State.COMPLETED,
                State.DOWNLOADED,
                video_path=str(dest),
                video_bytes=size,
                error_streak=0,
                last_error=None,
            )

    async def _download_failed(self, task: Task, exc: grok.DownloadError) -> None:
        """Try again, with backoff, until the task's deadline (TASK_TIMEOUT_SECONDS from submission, as for
        polling); the last try falls on the deadline. Past it, or when another try cannot help (a 400, a
        link that is not a link), the member is told."""
        now = self._clock()
        plan = self._config.plan
        started = task.submitted_at or task.created_at
        if exc.retryable and not is_overdue(plan, started, now):
            log.warning("task %s: download failed: %s", task.id, exc)
            retry_at = now + error_backoff(plan, task.error_streak + 1, self._rng)
            await self._note_error(task, str(exc), min(retry_at, started + plan.task_timeout))
            return
        log.warning("task %s: download failed; giving up: %s", task.id, exc)
        why = f"the file host kept failing ({exc})" if exc.retryable else str(exc)
        reason = f"The video was made, but I couldn't download it: {why}."
        await self._finish(task, State.COMPLETED, State.FAILED, reason=reason, last_error=str(exc)[:500])
