"""LOG_FORMAT=json: `python -m bot` writes one JSON object per line, with the task's ids where there is one; the
secrets are redacted from it as from the text format, tracebacks included."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bot.core.config import ConfigError, load_config
from bot.core.logs import setup_logging
from tests.conftest import BOT_TOKEN, GROK_KEY
from tests.fakes.discord import DiscordEmulator
from tests.fakes.grok_api import FakeGrokAPI, TaskScript
from tests.test_e2e_resilience import BotProcess
from tests.test_e2e_service import Spawn, spawn  # noqa: F401  (the fixture)

FIELDS = {"time", "level", "logger", "message"}


def parse(lines: list[str]) -> list[dict[str, Any]]:
    """Every line as a JSON object with the four fields (an assertion names the first that is not)."""
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict) and record.keys() >= FIELDS, line
        assert datetime.fromisoformat(record["time"]).utcoffset() is not None, "ISO-8601 with its offset"
        records.append(record)
    return records


async def test_python_m_bot_logs_json_lines_naming_the_task(
    emu: DiscordEmulator,
    grok_api: FakeGrokAPI,
    spawn: Spawn,  # noqa: F811
) -> None:
    # The file host fails: the poller's download worker logs about the task, and retries.
    grok_api.default_script = TaskScript(link_status=503)
    bot: BotProcess = await spawn(LOG_FORMAT="json")
    await bot.wait_log("logged in as")
    handle = await emu.slash_command("video", {"prompt": "a fox"}, user=emu.default_user)
    await handle.wait_text("queued")
    await bot.wait_log("download failed")
    await bot.stop()

    records = parse(bot.lines)
    assert {"INFO", "WARNING"} <= {r["level"] for r in records}
    queued = next(r for r in records if "queued at the provider" in r["message"])  # pipeline: extra=
    failed = next(r for r in records if "download failed" in r["message"])  # poller worker: bound task
    for record in (queued, failed):
        assert record["task_id"] == 1
        assert record["guild_id"] == emu.guild.id and record["member_id"] == emu.default_user.id
    assert queued["logger"] == "bot.core.pipeline" and failed["logger"] == "bot.core.poller"
    # Lines about no task carry no ids.
    ready = next(r for r in records if "logged in as" in r["message"])
    assert not {"task_id", "guild_id", "member_id"} & ready.keys()
    text = "\n".join(bot.lines)
    assert GROK_KEY not in text and BOT_TOKEN not in text


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_redact_the_key_in_messages_and_tracebacks(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    settings = load_config(
        None, {"DISCORD_TOKEN": BOT_TOKEN, "GROK_API_KEY": GROK_KEY, "LOG_FORMAT": "json"}
    ).settings
    setup_logging(settings)  # the handler writes to stderr as captured now
    log = logging.getLogger("bot.core.grok")
    log.warning("calling with Authorization: Bearer %s", GROK_KEY, extra={"task_id": 7})
    try:
        raise RuntimeError(f"the provider echoed {GROK_KEY}")
    except RuntimeError:
        log.exception("request failed for token %s", BOT_TOKEN)

    lines = capsys.readouterr().err.splitlines()
    first, second = parse(lines)
    assert len(lines) == 2, "a traceback stays inside its line"
    assert first["message"] == "calling with Authorization: Bearer ***" and first["task_id"] == 7
    assert first["level"] == "WARNING" and first["logger"] == "bot.core.grok"
    assert second["message"] == "request failed for token ***" and "exc" not in first
    assert second["exc"].startswith("Traceback (most recent call last)")
    assert "RuntimeError: the provider echoed ***" in second["exc"]
    assert GROK_KEY not in "\n".join(lines) and BOT_TOKEN not in "\n".join(lines)


def test_text_stays_the_default_and_keeps_tracebacks_after_the_message(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    settings = load_config(None, {"DISCORD_TOKEN": BOT_TOKEN, "GROK_API_KEY": GROK_KEY}).settings
    setup_logging(settings)
    try:
        raise RuntimeError(f"key {GROK_KEY}")
    except RuntimeError:
        logging.getLogger("bot").exception("boom")
    err = capsys.readouterr().err
    assert "ERROR   bot: boom\nTraceback (most recent call last)" in err
    assert "RuntimeError: key ***" in err and GROK_KEY not in err
    with pytest.raises(ConfigError, match="LOG_FORMAT='xml' is invalid: must be text or json"):
        load_config(None, {"DISCORD_TOKEN": BOT_TOKEN, "GROK_API_KEY": GROK_KEY, "LOG_FORMAT": "xml"})


def test_the_database_urls_password_is_redacted_like_the_key(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    url = "postgresql://grokbot:pg-secret-pass-42@db.internal:5432/grokbot"
    settings = load_config(
        None, {"DISCORD_TOKEN": BOT_TOKEN, "GROK_API_KEY": GROK_KEY, "DATABASE_URL": url}
    ).settings
    setup_logging(settings)
    log = logging.getLogger("bot.core.store")
    log.error("cannot connect to %s", url)
    log.error("authentication failed with password pg-secret-pass-42")
    err = capsys.readouterr().err
    assert "pg-secret-pass-42" not in err and "db.internal" not in err
    assert "cannot connect to ***" in err and "with password ***" in err


def test_a_password_given_as_an_option_or_percent_encoded_is_redacted_too(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    for url, forms in (
        ("postgresql://grokbot@db/grokbot?password=opt-pass-77", ["opt-pass-77"]),
        ("postgresql://grokbot:p%40ss-word-9@db/grokbot", ["p%40ss-word-9", "p@ss-word-9"]),
    ):
        settings = load_config(
            None, {"DISCORD_TOKEN": BOT_TOKEN, "GROK_API_KEY": GROK_KEY, "DATABASE_URL": url}
        ).settings
        setup_logging(settings)
        for form in forms:
            logging.getLogger("bot.core.store").error("the server said: password %s was refused", form)
        err = capsys.readouterr().err
        assert all(form not in err for form in forms) and err.count("password *** was refused") == len(forms)
