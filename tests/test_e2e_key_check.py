"""The GROK_API_KEY check at start: `python -m bot` asks the video service once, before Discord, with a poll for a
task that cannot exist. A refused key stops the bot at once (status 3, one ERROR line saying what to do) before
any member could ask for a video; an accepted key costs one request and nothing else; a check that cannot tell
(the provider down) is a warning and the bot starts anyway."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bot.core.grok import (
    AuthenticationError,
    GrokClient,
    GrokConnectionError,
    GrokError,
    RateLimitedError,
    UnavailableError,
)
from tests.conftest import GROK_KEY
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import AUTH_OK, AUTH_WRONG, FakeGrokAPI, RecordedRequest
from tests.test_e2e_resilience import BotProcess
from tests.test_e2e_service import (  # noqa: F401  (spawn: the fixture)
    STOP_WITHIN,
    Spawn,
    assert_no_traceback,
    serves_video,
    sigterm,
    spawn,
)

WRONG_KEY = "sk-xai-console-key-0123456789"


def key_checks(api: FakeGrokAPI) -> list[RecordedRequest]:
    return [r for r in api.requests if r.endpoint == "result" and r.path.startswith("/v1/result/keycheck-")]


def lines_at(bot: BotProcess, level: str) -> list[str]:
    return [line for line in bot.lines if f" {level} " in line]


# ---- the real bot -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", ["wrong key (401)", "403"])
async def test_a_refused_key_stops_the_bot_at_start_with_one_clear_line(
    refusal: str,
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Spawn,  # noqa: F811
) -> None:
    if refusal == "403":
        grok_api.fail_next("result", status=403, body={"error": {"message": "Forbidden", "code": "403"}})
        bot = await spawn()
    else:
        bot = await spawn(GROK_API_KEY=WRONG_KEY)
    await asyncio.wait_for(bot.proc.wait(), 20)
    await bot.stop()
    text = "\n".join(bot.lines)
    assert bot.proc.returncode == 3, text
    [error] = lines_at(bot, "ERROR")
    status = "403" if refusal == "403" else "401"
    assert f"the video service refused GROK_API_KEY (HTTP {status}" in error, error
    assert "not an xAI console key" in error and "stopping" in error
    assert WRONG_KEY not in text and GROK_KEY not in text
    assert_no_traceback(bot)
    # Exactly one request, the free poll; no video was asked for, and Discord was never joined, so no member
    # could have tried.
    [check] = grok_api.requests
    assert check.method == "GET" and check == key_checks(grok_api)[0]
    assert check.headers["Authorization"] == (AUTH_OK if refusal == "403" else AUTH_WRONG)
    assert grok_api.creates == []
    assert emu.identify_count == 0 and "logged in as" not in text


async def test_an_accepted_key_is_checked_once_and_the_bot_serves(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Spawn,  # noqa: F811
) -> None:
    bot = await spawn()
    await bot.wait_log("logged in as", timeout=20)
    await serves_video(emu)
    [check] = key_checks(grok_api)
    assert check.headers["Authorization"] == AUTH_OK and grok_api.requests[0] == check, (
        "first, before Discord"
    )
    assert len(grok_api.creates) == 1
    assert "the video service accepted GROK_API_KEY" in "\n".join(bot.lines)
    assert lines_at(bot, "ERROR") == []
    assert not [line for line in lines_at(bot, "WARNING") if "GROK_API_KEY" in line]
    await sigterm(bot)
    assert len(key_checks(grok_api)) == 1


async def test_a_check_that_cannot_tell_warns_and_starts_anyway(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Spawn,  # noqa: F811
) -> None:
    grok_api.fail_next("result", status=503)
    bot = await spawn()
    await bot.wait_log("logged in as", timeout=20)
    [warning] = [line for line in lines_at(bot, "WARNING") if "GROK_API_KEY" in line]
    assert "could not check GROK_API_KEY at start" in warning and "HTTP 503" in warning, warning
    assert lines_at(bot, "ERROR") == []
    await serves_video(emu)
    assert len(key_checks(grok_api)) == 1
    await sigterm(bot)


# ---- GrokClient.check_key against the loopback provider -----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (None, None, None),  # accepted: the fake's own answer, 404 "Task not found."
        (200, {}, None),  # accepted: any 2xx, the key got through
        (200, {"code": 401, "msg": "invalid token"}, AuthenticationError),  # an error envelope carrying a 401
        (401, None, AuthenticationError),
        (403, {"error": {"message": "Forbidden"}}, AuthenticationError),
        (500, None, UnavailableError),  # cannot tell
        (429, None, RateLimitedError),  # cannot tell
    ],
)
async def test_check_key_reads_each_answer(
    status: int | None, body: dict[str, object] | None, raised: type[GrokError] | None, grok_api: FakeGrokAPI
) -> None:
    if status is not None:
        grok_api.fail_next("result", status=status, body=body)
    async with GrokClient(base_url=grok_api.base_url, api_key=GROK_KEY) as grok:
        if raised is None:
            await grok.check_key()
        else:
            with pytest.raises(raised):
                await grok.check_key()
    assert len(key_checks(grok_api)) == 1 and grok_api.creates == []


async def test_check_key_with_the_provider_unreachable_cannot_tell() -> None:
    with socket.socket() as probe:  # a free port, closed again: connecting to it is refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with GrokClient(base_url=f"http://127.0.0.1:{port}/api", api_key=GROK_KEY) as grok:
        with pytest.raises(GrokConnectionError):
            await grok.check_key()


async def test_a_signal_during_a_slow_key_check_exits_promptly(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Spawn,  # noqa: F811
) -> None:
    grok_api.slow_next("result", delay=30)  # the provider hangs on the check
    bot = await spawn()
    await grok_api.wait_for_requests(lambda r: r.endpoint == "result", count=1, timeout=15)
    assert await sigterm(bot) < STOP_WITHIN  # status 0 (asserted there), long before the check's time limit
    assert emu.identify_count == 0 and grok_api.creates == []
