"""The line: MAX_IN_FLIGHT, fair order, places shown and moving, restarts, a 429 on create, Cancel."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_admin import admin
from tests.test_e2e_resilience import BotProcess, spawn  # noqa: F401  (spawn: the fixture)
from tests.test_e2e_video import bot_messages, footer_ids, wait_result

LINE_ENV = {"MAX_IN_FLIGHT": "2", "MAX_ACTIVE_PER_MEMBER": "3", "COOLDOWN_SECONDS": "0"}


def status_message(emu: DiscordEmulator, task_id: int) -> dict[str, Any] | None:
    """The task's status message (the bot's message with its footer that mentions nobody)."""
    for message in bot_messages(emu, emu.channel):
        if not message["content"].startswith("<@") and any(
            f.startswith(f"Task #{task_id} ") for f in footer_ids(message)
        ):
            return message
    return None


def title(message: dict[str, Any] | None) -> str:
    return "" if message is None else str(message["embeds"][0].get("title", ""))


async def wait_title(emu: DiscordEmulator, task_id: int, wanted: str, timeout: float = 5.0) -> None:
    await emu.wait_for(lambda: title(status_message(emu, task_id)) == wanted, timeout=timeout)


async def ask(emu: DiscordEmulator, prompt: str, user: Any) -> str:
    handle = await emu.slash_command("video", {"prompt": prompt}, user=user)
    await handle.wait_followup(timeout=10)
    assert handle.ephemeral
    return handle.text()


def created_prompts(api: FakeGrokAPI) -> list[str]:
    return [str(body.get("prompt")) for body in api.creates]


async def creates(api: FakeGrokAPI, count: int, timeout: float = 10.0) -> None:
    await api.wait_for_requests(lambda r: r.endpoint == "create", count=count, timeout=timeout)


def unfinished(api: FakeGrokAPI) -> list[str]:
    return [task_id for task_id, task in api.tasks.items() if task.completed_at is None]


def most_at_once(api: FakeGrokAPI) -> int:
    """At the provider: the most tasks created and not yet found finished by the bot at any instant (from the
    stand-in's request log: a task is with the provider from its create until the bot's last poll of it)."""
    last_poll = {r.task_id: r.time for r in api.requests if r.endpoint == "result"}
    spans = [(task.created_at, last_poll[task_id]) for task_id, task in api.tasks.items()]
    return max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)


async def test_two_at_a_time_in_a_fair_order_with_places_that_move(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)  # finished by hand, one at a time
    await start_bot(**LINE_ENV)
    a, b, c = emu.default_user, emu.add_user("bea"), emu.add_user("cy")
    for member in (b, c):
        emu.add_member(emu.guild, member)
    answers = {}
    for prompt, member in [("A1", a), ("A2", a), ("A3", a), ("B1", b), ("B2", b), ("C1", c)]:
        answers[prompt] = await ask(emu, prompt, member)
    # A1 and A2 took the two free slots; then the line, round-robin by member: B1 and C1 go before B2 and A3.
    assert "in line" not in answers["A1"] + answers["A2"]
    places = {p: re.search(r"#(\d+) in line", answers[p]) for p in ("A3", "B1", "B2", "C1")}
    assert {p: m and int(m.group(1)) for p, m in places.items()} == {"A3": 1, "B1": 1, "B2": 2, "C1": 2}
    assert created_prompts(grok_api) == ["A1", "A2"]
    # A3 (task 3) went back as others joined before it; its status message says where it stands now.
    await wait_title(emu, 3, "🎬 Waiting in line: #4")
    h = await admin(emu, "config")
    assert "Waiting: **4** from this server" in h.text() and "MAX_IN_FLIGHT: 2" in h.text()
    quota = await emu.slash_command("videos", subcommand="quota", user=a)
    assert "**In line:** #4 (task #3)" in await quota.wait_text("In line")
    [cancel] = [c for row in status_message(emu, 3)["components"] for c in row["components"]]  # type: ignore[index]
    assert cancel["custom_id"] == "grokvideo:cancel:3"

    # Each finished video frees a slot: the next of the line is sent, and the places move up.
    expected_places = [3, 2, 1]
    for sent in range(3, 7):
        grok_api.complete(unfinished(grok_api)[0])
        await creates(grok_api, sent)
        if expected_places:
            await wait_title(emu, 3, f"🎬 Waiting in line: #{expected_places.pop(0)}")
    assert created_prompts(grok_api) == ["A1", "A2", "B1", "C1", "B2", "A3"]
    for task_id in unfinished(grok_api):
        grok_api.complete(task_id)
    await emu.wait_for(
        lambda: len([m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]) == 6,
        timeout=10,
    )
    await asyncio.sleep(0.3)  # nothing more comes
    posted = [m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]
    assert sorted(f.split(" ")[1] for m in posted for f in footer_ids(m)) == [f"#{n}" for n in range(1, 7)]
    assert most_at_once(grok_api) == 2, "never more than MAX_IN_FLIGHT with the provider, and it was used"
    await wait_title(emu, 3, "🎬 Done")


async def test_the_line_keeps_its_order_across_a_sigkill_and_restart(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Callable[..., Awaitable[BotProcess]],  # noqa: F811
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    # GROK_TIMEOUT_SECONDS: a poll killed in hand waits out its lease (that + 2 s) before the next life.
    env = {**LINE_ENV, "MAX_IN_FLIGHT": "1", "GROK_TIMEOUT_SECONDS": "3"}
    first = await spawn(**env)
    a, b, c = emu.default_user, emu.add_user("bea"), emu.add_user("cy")
    for member in (b, c):
        emu.add_member(emu.guild, member)
    for prompt, member in [("A1", a), ("A2", a), ("A3", a), ("B1", b), ("C1", c)]:
        await ask(emu, prompt, member)
    await wait_title(emu, 5, "🎬 Waiting in line: #2")  # C1: after B1, before A2 and A3
    assert created_prompts(grok_api) == ["A1"]
    await first.kill()

    second = await spawn(**env)
    for sent in range(2, 6):
        grok_api.complete(unfinished(grok_api)[0])
        await creates(grok_api, sent, timeout=20)
    assert created_prompts(grok_api) == ["A1", "B1", "C1", "A2", "A3"], "the line's order, not arrival"
    grok_api.complete(unfinished(grok_api)[0])
    await emu.wait_for(
        lambda: len([m for m in bot_messages(emu, emu.channel) if m["content"].startswith("<@")]) == 5,
        timeout=20,
    )
    assert most_at_once(grok_api) == 1
    assert await second.stop() == 0


async def test_a_create_answered_429_is_sent_again_after_its_retry_after(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    await start_bot()
    grok_api.fail_next("create", status=429, headers={"Retry-After": "2"})
    answer = await ask(emu, "patience", emu.default_user)
    assert "#1 in line" in answer and "Grok asked me to wait" in answer and "busy" not in answer
    await wait_title(emu, 1, "🎬 Waiting in line: #1")
    result = await wait_result(emu, emu.channel, timeout=15)
    assert result["attachments"] and result["content"].startswith(f"<@{emu.default_user.id}>")
    first, second = [r.time for r in grok_api.requests if r.endpoint == "create"]
    assert second - first >= 2.0, "not before the Retry-After"
    assert created_prompts(grok_api) == ["patience", "patience"]


async def test_cancel_takes_a_request_out_of_the_line_and_gives_the_allowance_back(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot(**{**LINE_ENV, "MAX_IN_FLIGHT": "1", "MEMBER_DAILY_SECONDS": "30"})
    member, other = emu.default_user, emu.add_user("bea")
    emu.add_member(emu.guild, other)
    await ask(emu, "blocker", other)
    assert "#1 in line" in await ask(emu, "not now", member)

    async def quota() -> str:
        h = await emu.slash_command("videos", subcommand="quota", user=member)
        return await h.wait_text("In line")

    before = await quota()
    assert "20 s of 30 s left" in before and "**In line:** #1 (task #2)" in before
    await wait_title(emu, 2, "🎬 Waiting in line: #1")
    status = status_message(emu, 2)
    h = await emu.click_button(status, "grokvideo:cancel:2", user=other)
    assert "Not yours to cancel" in await h.wait_text("Not yours") and h.ephemeral
    h = await emu.click_button(status, "grokvideo:cancel:2", user=member)
    await h.wait_text("Nothing was sent to Grok")
    assert [body.get("flags", 0) & 64 for body in h.followup_bodies] == [64], "the answer is private"
    await wait_title(emu, 2, "🎬 Cancelled")
    assert status_message(emu, 2)["components"] == []  # type: ignore[index]
    after = await quota()
    assert "30 s of 30 s left" in after and "**In line:** none" in after

    # The slot frees; the line's stage runs and sends the next request, never the cancelled one.
    grok_api.complete(unfinished(grok_api)[0])
    await wait_result(emu, emu.channel)
    await ask(emu, "later", member)
    await creates(grok_api, 2)
    assert created_prompts(grok_api) == ["blocker", "later"]


async def test_a_servers_own_max_in_flight_bounds_it(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot
) -> None:
    grok_api.default_script = TaskScript(complete_after=None)
    await start_bot()  # MAX_IN_FLIGHT=0: no limit for all servers
    h = await admin(emu, "limits", {"max_in_flight": 1})
    assert "Videos with Grok at once: **1** (server setting; no limit for all servers)" in h.text()
    await ask(emu, "first", emu.default_user)
    assert "#1 in line" in await ask(emu, "second", emu.default_user)
    await asyncio.sleep(0.3)
    assert created_prompts(grok_api) == ["first"]
    grok_api.complete(unfinished(grok_api)[0])
    await creates(grok_api, 2)
    assert created_prompts(grok_api) == ["first", "second"]
