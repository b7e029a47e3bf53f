"""Settings: environment over .env, every problem in one message, secrets never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.core.config import ConfigError, RedactingFilter, Secret, load_settings

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "fake-discord-token-for-config-tests-0123456789"
KEY = "grok-secret-key-0123456789"


def test_defaults_and_env_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN={TOKEN}\nGROK_API_KEY=from-file\nPOLL_INTERVAL_SECONDS=5\n")
    settings = load_settings(env_file, {"GROK_API_KEY": KEY, "POLL_INTERVAL_SECONDS": "0.25"})
    assert settings.discord_token.get() == TOKEN
    assert settings.grok_api_key.get() == KEY
    assert settings.poll_interval_seconds == 0.25
    assert settings.grok_api_base_url == "https://zcbservice.aizfw.cn/kyyReactApiServer"
    assert settings.database_path == Path("data/bot.sqlite3")
    assert settings.task_timeout_seconds == 3600
    assert settings.dev_guild_id is None
    assert TOKEN not in repr(settings) and KEY not in repr(settings) and "***" in repr(settings)
    assert TOKEN not in f"{settings.discord_token}"


def test_every_problem_in_one_error() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(None, {"POLL_INTERVAL_SECONDS": "soon", "DEV_GUILD_ID": "abc", "LOG_LEVEL": "LOUD",
                             "GROK_API_BASE_URL": "ftp://x"})  # fmt: skip
    text = str(info.value)
    for name in ("DISCORD_TOKEN", "GROK_API_KEY", "POLL_INTERVAL_SECONDS", "DEV_GUILD_ID", "LOG_LEVEL",
                 "GROK_API_BASE_URL"):  # fmt: skip
        assert name in text
    assert len(info.value.problems) == 6


def test_python_m_bot_without_settings_exits_with_one_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "GROK_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode != 0
    assert "DISCORD_TOKEN is missing" in proc.stderr and "GROK_API_KEY is missing" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_invalid_secret_value_is_never_echoed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "GROK_"))}
    env.update(PYTHONPATH=str(ROOT), DISCORD_TOKEN=TOKEN, GROK_API_KEY=KEY, POLL_INTERVAL_SECONDS="-1")
    proc = subprocess.run([sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode != 0
    assert "POLL_INTERVAL_SECONDS" in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout and KEY not in proc.stderr + proc.stdout


def test_redacting_filter_covers_messages_args_and_tracebacks() -> None:
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.redaction")
    handler = Collect()
    handler.addFilter(RedactingFilter([TOKEN, KEY]))
    logger.addHandler(handler)
    try:
        logger.warning("token %s key %s", TOKEN, Secret(KEY))
        try:
            raise RuntimeError(f"Authorization: Bearer {KEY}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert TOKEN not in joined and KEY not in joined
    assert "Bearer ***" in joined
