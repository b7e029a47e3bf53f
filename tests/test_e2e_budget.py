"""One request budget toward the provider, end to end: the real bot against the loopback stand-ins, judged
on the times at which the Grok stand-in received each request."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import StartBot
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, RecordedRequest, TaskScript
from tests.overdue import peak_in_window, seed_overdue

PROVIDER_CALLS = ("create", "result")


def provider_calls(api: FakeGrokAPI, since: int = 0) -> list[RecordedRequest]:
    return [r for r in api.requests[since:] if r.endpoint in PROVIDER_CALLS]


async def seed(emu: DiscordEmulator, api: FakeGrokAPI, env: dict[str, str], count: int) -> list[str]:
    """`count` tasks overdue in the bot's store (and pending at the stand-in) before the bot starts."""
    where = {"guild_id": emu.guild.id, "channel_id": emu.channel.id, "requester_id": emu.default_user.id}
    return await seed_overdue(Path(env["DATABASE_PATH"]), api, count, **where)


async def polled_all(api: FakeGrokAPI, ids: list[str], since: int, timeout: float) -> float:
    """Wait until every task in `ids` has been polled once; the stand-in's time of the last first poll."""
    async with asyncio.timeout(timeout):
        while True:
            firsts: dict[str, float] = {}
            for r in api.requests[since:]:
                if r.endpoint == "result" and r.task_id is not None:
                    firsts.setdefault(r.task_id, r.time)
            if set(ids) <= set(firsts):
                return max(firsts[i] for i in ids)
            await asyncio.sleep(0.05)


async def test_overdue_tasks_after_a_restart_are_caught_up_at_the_rate(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    rate, count = 10, 40
    grok_api.default_script = TaskScript(complete_after=None)  # all still pending: every poll is a request
    ids = await seed(emu, grok_api, bot_env, count)
    since = len(grok_api.requests)
    # A short poll interval and wide concurrency: left alone, the poller would ask as fast as it can.
    await start_bot(PROVIDER_MAX_RPS=str(rate), POLL_INTERVAL_SECONDS="0.05", POLL_CONCURRENCY="16")
    started = grok_api.clock()
    last_first_poll = await polled_all(grok_api, ids, since, timeout=20)
    await asyncio.sleep(1.0)  # and a further second of steady polling

    times = [r.time for r in provider_calls(grok_api, since)]
    peak = peak_in_window(times)
    # Departures are at least 1/rate apart in the bot; one more is allowed for the trip to the stand-in (a
    # request held up on its way by a busy machine arrives closer to the next).
    assert peak <= rate + 1, f"{peak} requests in one second at PROVIDER_MAX_RPS={rate}"
    # Smoothed, not starved: the backlog is worked off close to the rate.
    assert last_first_poll - started < count / rate * 1.5 + 1.0
    assert peak >= rate * 0.8


async def test_a_429_pauses_every_provider_request_until_its_retry_after(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    retry_after = 1.5
    grok_api.default_script = TaskScript(complete_after=None)
    ids = await seed(emu, grok_api, bot_env, 8)
    await start_bot(PROVIDER_MAX_RPS="10", POLL_INTERVAL_SECONDS="0.05", POLL_CONCURRENCY="8")
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=5, since=len(grok_api.requests))
    since = len(grok_api.requests)
    grok_api.fail_next("result", status=429, headers={"Retry-After": str(retry_after)})
    [limited] = await grok_api.wait_for_requests(lambda r: r.endpoint == "result", since=since)
    ends = limited.time + retry_after

    # A member asks for a video during the pause: the create waits for the pause to end, then goes out.
    h = await emu.slash_command("video", {"prompt": "during the pause"})
    assert grok_api.clock() < ends, "asked while the pause was on"
    await h.wait_text("queued", timeout=10)

    resumed = await grok_api.wait_for_requests(
        lambda r: r.endpoint == "result" and r is not limited, since=since, count=3, timeout=10
    )
    after = [r for r in provider_calls(grok_api, since) if r is not limited]
    inside = [f"{r.method} {r.path} at +{r.time - limited.time:.3f}s" for r in after if r.time < ends]
    assert inside == [], f"requests during the {retry_after}s pause: {inside}"
    assert [r.endpoint for r in after].count("create") == 1, "the create went out once, after the pause"
    assert resumed[0].time - ends < 1.0, "polling resumed soon after the pause"
    assert {r.task_id for r in resumed} <= set(ids)


async def test_a_create_answered_429_waits_in_line_and_pauses_polling_too(
    emu: DiscordEmulator, grok_api: FakeGrokAPI, start_bot: StartBot, bot_env: dict[str, str]
) -> None:
    """A create answered 429 is not refused: the member is told it waits in line until the Retry-After. A
    request after it joins the line behind it without being sent; polls wait too."""
    grok_api.default_script = TaskScript(complete_after=None)
    await seed(emu, grok_api, bot_env, 3)
    await start_bot(PROVIDER_MAX_RPS="10", POLL_INTERVAL_SECONDS="0.05", GROK_TIMEOUT_SECONDS="2")
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=3, since=len(grok_api.requests))
    since = len(grok_api.requests)
    grok_api.fail_next("create", status=429, headers={"Retry-After": "30"})
    first = await emu.slash_command("video", {"prompt": "one"})
    assert "#1 in line" in await first.wait_text("in line", timeout=5)
    [limited] = [r for r in grok_api.requests[since:] if r.endpoint == "create"]

    second = await emu.slash_command("video", {"prompt": "two"})
    assert "#2 in line" in await second.wait_text("in line", timeout=5)
    await asyncio.sleep(1.0)  # polls were due every 0.05 s all along
    inside = [f"{r.method} {r.path}" for r in provider_calls(grok_api, since) if r.time > limited.time]
    assert inside == [], f"requests during the 30 s pause: {inside}"
