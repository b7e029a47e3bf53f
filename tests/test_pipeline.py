"""The request pipeline without Discord: a real TaskStore on a SQLite file, a real GrokClient speaking HTTP to the
loopback stand-in, the real Catalogue. Only the Discord port (StatusBoard) is a recording double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.core.catalogue import Catalogue, VideoRequest
from bot.core.grok import GrokClient
from bot.core.member_input import ImageFile
from bot.core.pipeline import (
    Accepted,
    Origin,
    Pipeline,
    PipelineRules,
    Submission,
    not_in_a_server,
)
from bot.core.policy import GuildConfig, Limits, Refused
from bot.core.scheduler import PollPlan
from bot.core.store import State, Task, TaskStore
from tests.conftest import GROK_KEY
from tests.fakes.grok_api import FakeGrokAPI, TaskScript

GUILD, CHANNEL, MEMBER = 1001, 2002, 3003
CREATORS = 77  # the role a server may require
BYPASS = 88  # the owner's BYPASS_ROLE_ID
NO_LIMITS = Limits(max_active=0, cooldown_seconds=0, member_daily_seconds=0, server_daily_seconds=0)
MAX_IMAGE_BYTES = 1_000_000
START = 1_700_000_000.0  # 22:13:20 UTC: the steps below stay inside this UTC day
PLAN = PollPlan(base_interval=30.0, task_timeout=600.0, submit_grace=12.0)
PNG_URL = "https://cdn.example/cat.png"


class Clock:
    """The one clock the store and the pipeline share, moved by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingBoard:
    """The StatusBoard port as the Discord side would see it: every status post, in order."""

    def __init__(self) -> None:
        self.posted: list[tuple[Task, int | None]] = []

    async def post_status(self, task: Task, reply_to: int | None) -> None:
        self.posted.append((task, reply_to))


@dataclass
class Rig:
    store: TaskStore
    api: FakeGrokAPI
    clock: Clock
    board: RecordingBoard
    make: Callable[..., Pipeline]
    queued_wakeups: list[int] = field(default_factory=list)

    def creates(self) -> list[Any]:
        return [r for r in self.api.requests if r.endpoint == "create"]

    async def rows(self) -> list[tuple[Any, ...]]:
        async with self.store.db.execute("SELECT id, state FROM tasks ORDER BY id") as cursor:
            return [tuple(r) for r in await cursor.fetchall()]


@pytest.fixture
async def rig(tmp_path: Path, grok_api: FakeGrokAPI) -> AsyncIterator[Rig]:
    grok_api.default_script = TaskScript(complete_after=None)  # nothing polls here; keep tasks queued
    clock = Clock()
    store = await TaskStore.open(tmp_path / "db" / "pipeline.sqlite3", clock)
    client = GrokClient(base_url=grok_api.base_url, api_key=GROK_KEY, total_timeout=5.0)
    board = RecordingBoard()
    wakeups: list[int] = []

    def make(limits: Limits = NO_LIMITS, bypass_role_id: int | None = BYPASS) -> Pipeline:
        rules = PipelineRules(limits, MAX_IMAGE_BYTES, bypass_role_id)
        return Pipeline(
            store, client, Catalogue.default(), PLAN, rules, board,
            clock=clock, on_queued=lambda: wakeups.append(1),
        )  # fmt: skip

    yield Rig(store, grok_api, clock, board, make, wakeups)
    await client.close()
    await store.close()


def origin(**changes: Any) -> Origin:
    values: dict[str, Any] = dict(source="slash", guild_id=GUILD, channel_id=CHANNEL, requester_id=MEMBER)
    values.update(changes)
    return Origin(**values)


def submission(
    model: str = "grok_video3",
    prompt: str = "a red fox running through snow",
    *,
    where: Origin | None = None,
    images: tuple[ImageFile, ...] = (),
    problems: tuple[str, ...] = (),
    **options: Any,
) -> Submission:
    request = VideoRequest(model=model, prompt=prompt, **options)
    return Submission(request, where or origin(), images, problems)


def refused(outcome: object) -> Refused:
    assert isinstance(outcome, Refused), outcome
    return outcome


def accepted(outcome: object) -> Accepted:
    assert isinstance(outcome, Accepted), outcome
    return outcome


async def nothing_happened(rig: Rig) -> None:
    assert rig.creates() == [], "no paid call"
    assert await rig.rows() == [], "no task row"
    assert rig.board.posted == [], "no status message"


# ---- the order of the checks -------------------------------------------------------------------------------


async def test_a_request_wrong_in_every_way_gets_the_first_refusal_in_the_documented_order(rig: Rig) -> None:
    """Fix one thing at a time: each step reveals the next refusal, in exactly the documented order."""
    pipeline = rig.make()
    await rig.store.save_guild_config(
        GuildConfig(GUILD, paused=True, allowed_channels=(9999,), required_role_id=CREATORS,
                    allowed_models=("grok_video3_pro",))
    )  # fmt: skip
    lacking = ("Attach Files", "Embed Links")
    bad = {"duration": 31}  # grok_video3 takes 6–30 s
    steps: list[tuple[Submission, str]] = [
        (
            submission(where=origin(guild_id=None, missing_permissions=lacking), **bad),
            not_in_a_server().title,
        ),
        (submission(where=origin(missing_permissions=lacking), **bad), "That combination doesn't work"),
        (submission(where=origin(missing_permissions=lacking)), "Video making is paused"),
    ]
    for sub, title in steps:
        assert refused(await pipeline.submit(sub)).title == title, title

    await rig.store.save_guild_config(
        GuildConfig(
            GUILD, allowed_channels=(9999,), required_role_id=CREATORS, allowed_models=("grok_video3_pro",)
        )
    )
    assert refused(await pipeline.submit(submission(where=origin(missing_permissions=lacking)))).title == (
        "Not in this channel"
    )
    in_place = origin(channel_id=9999, missing_permissions=lacking)
    assert refused(await pipeline.submit(submission(where=in_place))).title == "A role is needed"
    with_role = origin(channel_id=9999, role_ids=frozenset({CREATORS}), missing_permissions=lacking)
    assert (
        refused(await pipeline.submit(submission(where=with_role))).title
        == "That model is not available here"
    )
    allowed = await pipeline.submit(submission("grok_video3_pro", where=with_role))
    assert refused(allowed).title == "I can't post videos in this channel"
    assert allowed.problems == ["I'm missing these permissions here: Attach Files, Embed Links."]
    await nothing_happened(rig)


async def test_invalid_and_paused_and_missing_permissions_gives_the_catalogue_refusal(rig: Rig) -> None:
    pipeline = rig.make()
    await rig.store.save_guild_config(GuildConfig(GUILD, paused=True))
    sub = submission("grok_video3_max", duration=8, where=origin(missing_permissions=("Attach Files",)))
    refusal = refused(await pipeline.submit(sub))
    assert refusal.title == "That combination doesn't work"
    assert refusal.problems == ["grok_video3_max takes 6, 10, 12, 16, 20 or 30 seconds (you asked for 8)."]
    assert not any("paused" in p or "permission" in p for p in refusal.problems)
    await nothing_happened(rig)


async def test_valid_but_paused_and_missing_permissions_gives_paused(rig: Rig) -> None:
    pipeline = rig.make()
    await rig.store.save_guild_config(GuildConfig(GUILD, paused=True))
    sub = submission(where=origin(missing_permissions=("Send Messages",)))
    refusal = refused(await pipeline.submit(sub))
    assert (refusal.title, refusal.problems) == (
        "Video making is paused",
        ["The server's admins paused video making for now."],
    )
    await nothing_happened(rig)


async def test_valid_and_allowed_but_missing_permissions_gives_the_permissions_refusal(rig: Rig) -> None:
    pipeline = rig.make()
    sub = submission(where=origin(missing_permissions=("View Channel", "Attach Files")))
    refusal = refused(await pipeline.submit(sub))
    assert refusal == Refused(
        "I can't post videos in this channel",
        ["I'm missing these permissions here: View Channel, Attach Files."],
        "Ask a server admin to grant them, or use another channel.",
    )
    await nothing_happened(rig)


async def test_surface_and_image_problems_are_listed_with_the_catalogue_problems(rig: Rig) -> None:
    pipeline = rig.make()
    surface = "I don't know the option --foo. I know --model, --duration, --ar and --res."
    images = (
        ImageFile("notes.txt", "https://cdn.example/notes.txt", 10, "text/plain"),
        ImageFile("huge.png", "https://cdn.example/huge.png", 2 * MAX_IMAGE_BYTES, "image/png"),
    )
    urls = tuple(i.url for i in images)
    sub = submission("grok_video3_max", duration=8, aspect_ratio="3:2", image_urls=urls, images=images,
                     problems=(surface,))  # fmt: skip
    refusal = refused(await pipeline.submit(sub))
    assert refusal.title == "That combination doesn't work"
    assert refusal.problems == [
        surface,
        "notes.txt is not an image I can use (PNG, JPEG, WebP or GIF).",
        "huge.png is 1.91 MB; images can be at most 0.95 MB.",
        "grok_video3_max takes 6, 10, 12, 16, 20 or 30 seconds (you asked for 8).",
        "grok_video3_max makes 16:9, 9:16 or 1:1 videos (you asked for “3:2”).",
    ]
    spec = Catalogue.default().models["grok_video3_max"]
    assert refusal.hint == f"Grok Video 3 Max: {spec.description}."

    # Without a catalogue problem, the surface and image problems alone, under their own title.
    alone = refused(
        await pipeline.submit(submission(images=images[:1], image_urls=urls[:1], problems=(surface,)))
    )
    assert alone == Refused(
        "That request doesn't work",
        [surface, "notes.txt is not an image I can use (PNG, JPEG, WebP or GIF)."],
    )
    # An unknown model has no model to describe in the hint; the listing names every model.
    unknown = refused(await pipeline.submit(submission("grok_video9", problems=(surface,))))
    assert unknown.problems == [
        surface,
        "There is no model called “grok_video9”. Choose one of: grok_video3, grok_video3_pro, grok_video3_max "
        "or grok_video3_stable.",
    ]
    assert unknown.hint is None
    await nothing_happened(rig)


# ---- access ------------------------------------------------------------------------------------------------


async def test_allowed_channels_include_threads_of_an_allowed_channel(rig: Rig) -> None:
    pipeline = rig.make()
    await rig.store.save_guild_config(GuildConfig(GUILD, allowed_channels=(CHANNEL, 4004)))
    elsewhere = refused(await pipeline.submit(submission(where=origin(channel_id=5005))))
    assert elsewhere.problems == [f"Videos can be made in <#{CHANNEL}>, <#4004> on this server."]
    thread_elsewhere = origin(channel_id=6006, parent_channel_id=5005)
    assert refused(await pipeline.submit(submission(where=thread_elsewhere))).title == "Not in this channel"
    assert rig.creates() == [] and await rig.rows() == []

    accepted(await pipeline.submit(submission(where=origin())))
    thread = origin(channel_id=7007, parent_channel_id=4004)
    task = accepted(await pipeline.submit(submission(where=thread))).task
    assert task.channel_id == 7007
    assert len(rig.creates()) == 2


async def test_a_required_role_is_named_in_the_refusal(rig: Rig) -> None:
    pipeline = rig.make()
    await rig.store.save_guild_config(GuildConfig(GUILD, required_role_id=CREATORS))
    names = {CREATORS: "Creators", 1: "@everyone"}
    refusal = refused(
        await pipeline.submit(submission(where=origin(role_names=names, role_ids=frozenset({1}))))
    )
    assert refusal == Refused("A role is needed", ["Making videos here needs the Creators role."])
    assert rig.creates() == []
    accepted(
        await pipeline.submit(submission(where=origin(role_ids=frozenset({CREATORS}), role_names=names)))
    )


async def test_a_required_role_whose_name_is_unknown_is_still_refused_in_a_sentence(rig: Rig) -> None:
    pipeline = rig.make()
    await rig.store.save_guild_config(GuildConfig(GUILD, required_role_id=CREATORS))
    # The role was deleted from the server: the names the Discord side gathers no longer include it.
    refusal = refused(await pipeline.submit(submission(where=origin(role_names={1: "@everyone"}))))
    assert refusal.title == "A role is needed"
    assert refusal.problems == ["Making videos here needs a role that no longer exists on this server."]
    assert refusal.hint == "Ask a server admin to choose another one with /videoadmin role."


async def test_a_model_the_server_does_not_allow_is_refused(rig: Rig) -> None:
    pipeline = rig.make()
    await rig.store.save_guild_config(GuildConfig(GUILD, allowed_models=("grok_video3", "grok_video3_pro")))
    refusal = refused(await pipeline.submit(submission("grok_video3_max", duration=6)))
    assert refusal == Refused(
        "That model is not available here", ["This server allows these models: grok_video3, grok_video3_pro."]
    )
    await rig.store.save_guild_config(GuildConfig(GUILD, allowed_models=()))
    none = refused(await pipeline.submit(submission()))
    assert none.problems == ["This server allows these models: none."]
    assert rig.creates() == []
    await rig.store.save_guild_config(GuildConfig(GUILD, allowed_models=("grok_video3",)))
    accepted(await pipeline.submit(submission()))


@pytest.mark.parametrize(
    "who",
    [origin(manages_server=True), origin(role_ids=frozenset({BYPASS}))],
    ids=["manages_server", "bypass_role"],
)
async def test_server_managers_and_the_bypass_role_skip_access_and_fair_use(rig: Rig, who: Origin) -> None:
    limits = Limits(max_active=1, cooldown_seconds=600, member_daily_seconds=10, server_daily_seconds=10)
    pipeline = rig.make(limits)
    await rig.store.save_guild_config(
        GuildConfig(GUILD, paused=True, allowed_channels=(9999,), required_role_id=CREATORS)
    )
    for n in range(3):  # over max_active, within the cooldown, past both daily allowances
        accepted(await pipeline.submit(submission(prompt=f"boss {n}", duration=30, where=who)))
    assert len(rig.creates()) == 3
    assert [state for _, state in await rig.rows()] == ["queued"] * 3
    # An ordinary member in the same place is still stopped, and the bypass role means nothing without the rule.
    assert refused(await pipeline.submit(submission(where=origin()))).title == "Video making is paused"
    no_bypass = rig.make(limits, bypass_role_id=None)
    outcome = await no_bypass.submit(submission(where=origin(role_ids=frozenset({BYPASS}))))
    assert refused(outcome).title == "Video making is paused"
    assert len(rig.creates()) == 3


# ---- admission -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit,attempts", [(1, 8), (3, 12)])
async def test_concurrent_submissions_admit_exactly_the_max_active_limit(
    rig: Rig, limit: int, attempts: int
) -> None:
    pipeline = rig.make(
        Limits(max_active=limit, cooldown_seconds=0, member_daily_seconds=0, server_daily_seconds=0)
    )
    outcomes = await asyncio.gather(
        *(pipeline.submit(submission(prompt=f"race {n}")) for n in range(attempts))
    )
    wins = [o for o in outcomes if isinstance(o, Accepted)]
    losses = [o for o in outcomes if isinstance(o, Refused)]
    assert (len(wins), len(losses)) == (limit, attempts - limit)
    assert all(
        r.title == "Too many videos at once" and f"(the limit is {limit})" in r.problems[0] for r in losses
    )
    assert len(rig.creates()) == limit
    assert len(await rig.rows()) == limit
    assert len(rig.board.posted) == limit
    assert sorted(t.id for t, _ in rig.board.posted) == sorted(w.task.id for w in wins)


async def test_cooldown_and_daily_allowance_follow_the_injected_clock(rig: Rig) -> None:
    limits = Limits(max_active=0, cooldown_seconds=60, member_daily_seconds=20, server_daily_seconds=0)
    pipeline = rig.make(limits)
    accepted(await pipeline.submit(submission(duration=10)))
    rig.clock.now += 59
    cooling = refused(await pipeline.submit(submission(duration=6)))
    assert cooling.title == "Cooling down"
    assert cooling.problems == [f"You can ask for another video <t:{int(START + 60)}:R> (one every 1 min)."]
    rig.clock.now += 1
    accepted(await pipeline.submit(submission(duration=10)))
    rig.clock.now += 60
    spent = refused(await pipeline.submit(submission(duration=6)))
    assert spent.title == "Daily allowance reached"
    assert "you have 0 s of your 20 s left today" in spent.problems[0]
    rig.clock.now += 86_400  # the next UTC day
    accepted(await pipeline.submit(submission(duration=6)))
    assert len(rig.creates()) == 3


# ---- the paid call ---------------------------------------------------------------------------------------------


async def test_the_create_body_fills_defaults_and_sends_only_what_the_model_takes(rig: Rig) -> None:
    pipeline = rig.make()
    pro = accepted(await pipeline.submit(submission("grok_video3_pro", "  city at night  "))).task
    plain = accepted(await pipeline.submit(submission(resolution="480p"))).task
    with_images = accepted(
        await pipeline.submit(
            submission("grok_video3_max", "waves", duration=20, aspect_ratio="9:16", image_urls=(PNG_URL,))
        )
    ).task
    assert [r.json for r in rig.creates()] == [
        {"model": "grok_video3_pro", "prompt": "city at night", "aspect_ratio": "16:9", "resolution": "720p"},
        {"model": "grok_video3", "prompt": "a red fox running through snow", "duration": 10,
         "aspect_ratio": "16:9", "resolution": "480p"},
        {"model": "grok_video3_max", "prompt": "waves", "duration": 20, "aspect_ratio": "9:16",
         "resolution": "720p", "image_urls": [PNG_URL]},
    ]  # fmt: skip
    # The row keeps what was asked, as the provider will make it (pro: its fixed 10 s, billed per call).
    assert pro.request == VideoRequest("grok_video3_pro", "city at night", 10, "16:9", "720p")
    assert pro.billed_seconds == 10
    assert plain.request == VideoRequest("grok_video3", "a red fox running through snow", 10, "16:9", "480p")
    assert plain.billed_seconds == 10
    assert (with_images.request.image_urls, with_images.billed_seconds) == ((PNG_URL,), 20)


CREATE_REFUSALS = [
    (401, {}, "The bot's Grok API key was refused.", "Please tell the server owner."),
    (402, {}, "The bot's Grok account is out of credit.", "Please tell the server owner."),
    (
        400,
        {},
        "Grok refused it: Prompt rejected by the safety system.",
        "Check the prompt and images and try again.",
    ),
]


@pytest.mark.parametrize(
    "status,headers,problem,hint", CREATE_REFUSALS, ids=[str(c[0]) for c in CREATE_REFUSALS]
)
async def test_a_refused_create_call_is_explained_and_the_row_ends_rejected(
    rig: Rig, status: int, headers: dict[str, str], problem: str, hint: str
) -> None:
    pipeline = rig.make(
        Limits(max_active=1, cooldown_seconds=300, member_daily_seconds=10, server_daily_seconds=0)
    )
    body = {"error": {"message": "Prompt rejected by the safety system.", "type": "x", "code": "y"}}
    rig.api.fail_next("create", status=status, body=body, headers=headers)
    refusal = refused(await pipeline.submit(submission(duration=10)))
    assert refusal == Refused("Grok did not accept the request", [problem], hint)
    assert GROK_KEY not in repr(refusal)
    assert len(rig.creates()) == 1, "tried once, never retried"
    [(task_id, state)] = await rig.rows()
    assert state == "rejected"
    task = await rig.store.get(task_id)
    assert task is not None
    assert (task.api_id, task.failure_reason, task.finished_at, task.next_poll_at) == (
        None,
        problem,
        START,
        None,
    )
    assert rig.board.posted == [] and rig.queued_wakeups == []
    # A rejected request does not count: not against max_active, the cooldown or the daily allowance.
    accepted(await pipeline.submit(submission(duration=10)))
    assert len(rig.creates()) == 2


async def test_a_create_answered_429_goes_back_in_line_until_its_retry_after(rig: Rig) -> None:
    """Not refused: the row waits (with its turn) until the Retry-After, and it counts like any request."""
    pipeline = rig.make(
        Limits(max_active=1, cooldown_seconds=0, member_daily_seconds=0, server_daily_seconds=0)
    )
    rig.api.fail_next("create", status=429, headers={"Retry-After": "7"})
    outcome = accepted(await pipeline.submit(submission(duration=10)))
    task = outcome.task
    assert (task.state, task.api_id, task.next_poll_at, task.turn) == (State.WAITING, None, START + 7, 0)
    assert "#1 in line" in outcome.notices[0] and "not before <t:" in outcome.notices[0]
    assert rig.board.posted == [(task, None)] and len(rig.creates()) == 1
    assert await rig.store.dispatch_next(0, START + 12, now=START + 6) is None, "not before the Retry-After"
    again = await rig.store.dispatch_next(0, START + 19, now=START + 7)
    assert again is not None and (again.id, again.state) == (task.id, State.SUBMITTING)
    refused(await pipeline.submit(submission(duration=10)))  # it counts against max_active meanwhile


async def test_an_accepted_request_is_queued_and_its_status_posted_once_as_a_reply(rig: Rig) -> None:
    pipeline = rig.make()
    where = origin(source="reply", origin_message_id=5555, reply_to=6666)
    outcome = accepted(await pipeline.submit(submission(where=where, image_urls=(PNG_URL,))))
    [provider_id] = rig.api.tasks
    task = outcome.task
    assert (task.state, task.api_id, task.provider_status) == (State.QUEUED, provider_id, "queued")
    assert (task.source, task.origin_message_id, task.requester_id) == ("reply", 5555, MEMBER)
    assert task.submitted_at == START
    assert task.next_poll_at is not None and START + 27 <= task.next_poll_at <= START + 33
    assert rig.board.posted == [(task, 6666)]
    assert await rig.store.get(task.id) == task
    assert outcome.notices == ()
    assert rig.queued_wakeups == [1], "the poller is woken once"
    slash = accepted(await pipeline.submit(submission()))
    assert rig.board.posted[1] == (slash.task, None), "a slash request posts a plain channel message"


async def test_notices_name_the_requesters_owed_tasks_only(rig: Rig) -> None:
    pipeline = rig.make()
    first = accepted(await pipeline.submit(submission(prompt="owed"))).task
    other = accepted(
        await pipeline.submit(submission(prompt="not mine", where=origin(requester_id=4242)))
    ).task
    for task in (first, other):
        assert await rig.store.transition(task.id, State.QUEUED, State.DOWNLOADED, notify_requester=True)
    outcome = accepted(await pipeline.submit(submission(prompt="again")))
    assert len(outcome.notices) == 1
    assert outcome.notices[0].startswith(f"📬 I still owe you task #{first.id}:")
    assert f"#{other.id}" not in outcome.notices[0]
    assert await pipeline.notices(4242) == (
        f"📬 I still owe you task #{other.id}: I couldn't post it in its channel or send it by DM. "
        "I'll keep trying; make sure I can post there or DM you.",
    )


# ---- before the form opens -------------------------------------------------------------------------------------


async def test_precheck_refuses_outside_a_server_without_permissions_and_for_bad_images(rig: Rig) -> None:
    pipeline = rig.make()
    good = (
        ImageFile("cat.png", PNG_URL, 1000, "image/png"),
        ImageFile("b.jpg", PNG_URL, 1000, "image/jpeg; q=1"),
    )
    bad = (
        ImageFile("clip.mp4", PNG_URL, 1000, "video/mp4"),
        ImageFile("big.webp", PNG_URL, 3_000_000, "image/webp"),
    )
    assert await pipeline.precheck(origin(), good) is None
    assert await pipeline.precheck(origin(guild_id=None), bad) == not_in_a_server()
    lacking = refused(await pipeline.precheck(origin(missing_permissions=("Send Messages",)), good))
    assert lacking.problems == ["I'm missing these permissions here: Send Messages."]
    # The server's rules come before the form too (the model is not chosen yet, so it is not judged).
    await rig.store.save_guild_config(GuildConfig(GUILD, paused=True, allowed_models=("grok_video3_max",)))
    paused = refused(await pipeline.precheck(origin(missing_permissions=("Send Messages",)), good))
    assert paused.title == "Video making is paused"
    await rig.store.save_guild_config(GuildConfig(GUILD, allowed_models=("grok_video3_max",)))
    assert await pipeline.precheck(origin(), good) is None
    images = refused(await pipeline.precheck(origin(), bad))
    assert images == Refused(
        "I can't use those images",
        ["clip.mp4 is not an image I can use (PNG, JPEG, WebP or GIF).",
         "big.webp is 2.86 MB; images can be at most 0.95 MB."],
    )  # fmt: skip
    assert rig.api.requests == []
    assert await rig.rows() == []


# ---- found in review ----------------------------------------------------------------------------------------


async def test_a_task_given_up_as_lost_during_a_slow_create_is_followed_after_all(rig: Rig) -> None:
    """If the poller reports the row lost while the create call is still out (it outlived its grace), the
    provider's answer brings it back: the video is being made and paid for, so it is followed."""
    pipeline = rig.make()
    rig.api.slow_next("create", 1.0)
    outcome = asyncio.create_task(pipeline.submit(submission()))
    await rig.api.wait_for_requests(lambda r: r.endpoint == "create")
    # The create call is out (its answer is held back): act as the poller does once the grace has passed.
    [(task_id, _)] = await rig.rows()
    assert await rig.store.transition(
        task_id, State.SUBMITTING, State.LOST, failure_reason="lost", next_poll_at=1
    )
    task = accepted(await outcome).task
    assert (task.state, task.failure_reason, task.finished_at) == (State.QUEUED, None, None)
    assert task.api_id is not None and task.api_id in rig.api.tasks
    assert len(rig.board.posted) == 1 and rig.queued_wakeups == [1]


async def test_an_origin_with_no_channel_is_refused_before_anything_is_spent(rig: Rig) -> None:
    pipeline = rig.make()
    assert await pipeline.submit(submission(where=origin(channel_id=0))) == not_in_a_server()
    assert await pipeline.precheck(origin(channel_id=0), ()) == not_in_a_server()
    await nothing_happened(rig)
