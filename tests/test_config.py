"""Settings: environment over .env, every problem in one message, secrets never shown, misspellings named."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.config import (
    MIN_SECRET_LENGTH,
    ConfigError,
    RedactingFilter,
    Secret,
    load_config,
    redact,
)
from tests.conftest import BOT_TOKEN, GROK_KEY

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "fake-discord-token-for-config-tests-0123456789"
KEY = "grok-secret-key-0123456789"
REQUIRED = {"DISCORD_TOKEN": TOKEN, "GROK_API_KEY": KEY}
BROKEN_MODELS = "[models.grok_video3]\ndurations = []\n"


def _child_env(**settings: str) -> dict[str, str]:
    """The test runner's environment without our settings, plus `settings`, for a `python -m bot` child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "GROK_"))}
    env.update(PYTHONPATH=str(ROOT), **settings)
    return env


def _python_m_bot(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip


def _logged(handler_filter: logging.Filter, emit: Callable[[logging.Logger], None]) -> str:
    """What `emit` logs, as a handler with `handler_filter` writes it."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    logger = logging.getLogger("test.redaction")
    handler = Collect()
    handler.addFilter(handler_filter)
    logger.addHandler(handler)
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return "\n".join(records)


def test_defaults_and_env_wins_over_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN={TOKEN}\nGROK_API_KEY=from-file\nPOLL_INTERVAL_SECONDS=5\n")
    settings = load_config(env_file, {"GROK_API_KEY": KEY, "POLL_INTERVAL_SECONDS": "0.25"}).settings
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
        load_config(None, {"POLL_INTERVAL_SECONDS": "soon", "DEV_GUILD_ID": "abc", "LOG_LEVEL": "LOUD",
                             "GROK_API_BASE_URL": "ftp://x"})  # fmt: skip
    text = str(info.value)
    for name in ("DISCORD_TOKEN", "GROK_API_KEY", "POLL_INTERVAL_SECONDS", "DEV_GUILD_ID", "LOG_LEVEL",
                 "GROK_API_BASE_URL"):  # fmt: skip
        assert name in text
    assert len(info.value.problems) == 6


def test_python_m_bot_without_settings_exits_with_one_clear_message(tmp_path: Path) -> None:
    proc = _python_m_bot(tmp_path, _child_env())
    assert proc.returncode == 2
    assert "DISCORD_TOKEN is missing" in proc.stderr and "GROK_API_KEY is missing" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_invalid_secret_value_is_never_echoed(tmp_path: Path) -> None:
    proc = _python_m_bot(tmp_path, _child_env(**REQUIRED, POLL_INTERVAL_SECONDS="-1"))
    assert proc.returncode == 2
    assert "POLL_INTERVAL_SECONDS" in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout and KEY not in proc.stderr + proc.stdout


def test_redacting_filter_covers_messages_args_and_tracebacks() -> None:
    def emit(logger: logging.Logger) -> None:
        logger.warning("token %s key %s", TOKEN, Secret(KEY))
        try:
            raise RuntimeError(f"Authorization: Bearer {KEY}")
        except RuntimeError:
            logger.exception("boom")

    joined = _logged(RedactingFilter([TOKEN, KEY]), emit)
    assert TOKEN not in joined and KEY not in joined
    assert "Bearer ***" in joined


def test_redaction_takes_the_secret_only_as_a_whole_token() -> None:
    """A short secret used to be replaced inside every word: the key "k" turned Traceback into Tracebac***."""

    def emit(logger: logging.Logger) -> None:
        logger.warning("key=%s", "k")
        try:
            raise KeyError("k")
        except KeyError:
            logger.exception("lookup failed")

    text = _logged(RedactingFilter(["k"]), emit)
    assert "Traceback (most recent call last)" in text and "Tracebac***" not in text
    assert "key=***" in text and "KeyError: '***'" in text


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        # Where a real key shows up: each is the whole key, so each is redacted.
        ("GET /v1/result/1?api_key={}&x=1", "GET /v1/result/1?api_key=***&x=1"),
        ("Authorization: Bearer {}", "Authorization: Bearer ***"),
        ("{}", "***"),
        ("'{}'", "'***'"),
        ('{{"key": "{}"}}', '{{"key": "***"}}'),
        ("token={}, key={}", "token=***, key=***"),
        ("the key {}.", "the key ***."),  # sentence punctuation is not part of the token
        ("({})...", "(***)..."),
        ("https://h/{}/x", "https://h/***/x"),
        # Part of a longer run of [A-Za-z0-9._-]: another word, left alone.
        ("x{}", "x{}"),
        ("{}0", "{}0"),
        ("{}.tar", "{}.tar"),
        ("v1-{}", "v1-{}"),
        ("{}__a", "{}__a"),
    ],
)
def test_redaction_boundaries(template: str, expected: str) -> None:
    assert redact(template.format(KEY, KEY), KEY) == expected.format(KEY, KEY)


def test_redaction_never_cuts_words_for_a_short_secret() -> None:
    line = "Traceback: surface ace_of_spades ace. (ace) ace-"
    assert redact(line, "ace") == "Traceback: surface ace_of_spades ***. (***) ***-"


def test_secrets_too_short_to_be_real_are_refused_by_name() -> None:
    short_token, short_key = "x7", "q" * (MIN_SECRET_LENGTH - 1)
    with pytest.raises(ConfigError) as info:
        load_config(None, {"DISCORD_TOKEN": short_token, "GROK_API_KEY": short_key})
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("DISCORD_TOKEN=*** is invalid: is too short")
    assert problems[1].startswith("GROK_API_KEY=*** is invalid: is too short")
    assert short_token not in str(info.value) and short_key not in str(info.value)
    # The shortest accepted length, and every key the tests themselves use, still pass.
    for token, key in [
        ("t" * MIN_SECRET_LENGTH, "k" * MIN_SECRET_LENGTH),
        (BOT_TOKEN, GROK_KEY),
        (TOKEN, KEY),
    ]:
        settings = load_config(None, {"DISCORD_TOKEN": token, "GROK_API_KEY": key}).settings
        assert settings.discord_token.get() == token and settings.grok_api_key.get() == key


def test_models_file_problems_come_with_the_other_settings_problems(tmp_path: Path) -> None:
    models = tmp_path / "models.toml"
    models.write_text(BROKEN_MODELS)
    with pytest.raises(ConfigError) as info:
        load_config(
            None, {"DISCORD_TOKEN": TOKEN, "POLL_INTERVAL_SECONDS": "soon", "MODELS_FILE": str(models)}
        )
    assert info.value.problems == [
        "GROK_API_KEY is missing: the API key from your Grok video API provider.",
        "POLL_INTERVAL_SECONDS='soon' is invalid: must be a number",
        f"MODELS_FILE {models}: [models.grok_video3]: durations must not be empty",
    ]
    # Alone, a broken MODELS_FILE is a ConfigError too; a good one is loaded with the settings.
    with pytest.raises(ConfigError, match="durations must not be empty"):
        load_config(None, {**REQUIRED, "MODELS_FILE": str(models)})
    models.write_text("[models.grok_video3_max]\nenabled = false\n")
    config = load_config(None, {**REQUIRED, "MODELS_FILE": str(models)})
    assert "grok_video3_max" not in config.catalogue.models and config.settings.models_file == models


def test_python_m_bot_reports_models_file_with_the_settings(tmp_path: Path) -> None:
    (tmp_path / "models.toml").write_text(BROKEN_MODELS)
    proc = _python_m_bot(
        tmp_path, _child_env(**REQUIRED, POLL_INTERVAL_SECONDS="-1", MODELS_FILE="models.toml")
    )
    assert proc.returncode == 2
    assert "POLL_INTERVAL_SECONDS" in proc.stderr and "durations must not be empty" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_misspelt_names_are_named_from_dotenv_and_environment(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"DISCORD_TOKEN={TOKEN}\nPOLL_INTERVAL=5\nGROK_APIKEY={KEY}\nlog_level=DEBUG\n")
    # The real environment of this test run (PATH, HOME…) plus look-alikes that are not ours.
    environ = {**_child_env(), "GROK_API_KEY": KEY, "MAX_ACTIVE_PER_USER": "1", "PATH": "/usr/bin", "HOME": "/h",
               "LOGNAME": "me", "DATABASE_HOST": "x", "XAI_API_KEY": "other", "SERVER_PORT": "80"}  # fmt: skip
    config = load_config(env_file, environ)
    assert list(config.warnings) == [
        "GROK_APIKEY (in .env) is not a setting and is ignored; did you mean GROK_API_KEY?",
        "POLL_INTERVAL (in .env) is not a setting and is ignored; did you mean POLL_INTERVAL_SECONDS?",
        "log_level (in .env) is not a setting and is ignored; did you mean LOG_LEVEL? (names are case-sensitive)",
        "MAX_ACTIVE_PER_USER (in the environment) is not a setting and is ignored; "
        "did you mean MAX_ACTIVE_PER_MEMBER?",
    ]
    assert config.settings.poll_interval_seconds == 30  # still the default: the misspelt name is not read
    # Every name in .env is checked, even one the environment would not be: DATABASE_HOST there is ours.
    env_file.write_text("DATABASE_HOST=x\n")
    assert load_config(env_file, REQUIRED).warnings == (
        "DATABASE_HOST (in .env) is not a setting and is ignored; did you mean DATABASE_PATH?",
    )


def test_python_m_bot_logs_misspellings_once_and_lists_them_with_errors(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nGROK_API_KEY={KEY}\nPOLL_INTERVAL=5\n")
    env = _child_env(MAX_ACTIVE_PER_USER="1")
    # Everything of `python -m bot` but connecting to Discord.
    starts = "import sys, bot.discord.runner as runner; runner.run = lambda settings, catalogue: 0; " \
             "from bot.__main__ import main; sys.exit(main())"  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", starts], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, proc.stderr
    assert "POLL_INTERVAL (in .env)" in warnings[0] and "did you mean POLL_INTERVAL_SECONDS?" in warnings[0]
    assert (
        "MAX_ACTIVE_PER_USER (in the environment)" in warnings[1] and "MAX_ACTIVE_PER_MEMBER" in warnings[1]
    )

    # When the bot cannot start, the same names come with the problems they may explain; never a value.
    (tmp_path / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nGROK_APIKEY={KEY}\n")
    proc = _python_m_bot(tmp_path, env)
    assert proc.returncode == 2
    assert "GROK_API_KEY is missing" in proc.stderr and "GROK_APIKEY (in .env)" in proc.stderr
    assert KEY not in proc.stderr and TOKEN not in proc.stderr


# ---- gateway shards: SHARD_COUNT and SHARD_IDS ---------------------------------------------------------------


def test_shards_default_to_discords_recommendation_and_every_shard() -> None:
    settings = load_config(None, REQUIRED).settings
    assert settings.shard_count is None and settings.shard_ids is None
    settings = load_config(None, {**REQUIRED, "SHARD_COUNT": "4"}).settings
    assert settings.shard_count == 4 and settings.shard_ids is None  # one process runs all four
    settings = load_config(None, {**REQUIRED, "SHARD_COUNT": "4", "SHARD_IDS": " 3, 1 "}).settings
    assert settings.shard_count == 4 and settings.shard_ids == (3, 1)


@pytest.mark.parametrize(
    ("shards", "problem"),
    [
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT='0' is invalid: must be between 1 and 100000"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT='two' is invalid: must be a whole number"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0;1"},
            "SHARD_IDS='0;1' is invalid: must be shard numbers separated by commas, such as 0,1",
        ),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "SHARD_IDS='1,1' is invalid: names shard 1 twice"),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0,2,3"},
            "SHARD_IDS='0,2,3' is invalid: with SHARD_COUNT=2 the shards are 0 to 1, not 2, 3",
        ),
        (
            {"SHARD_IDS": "0"},
            "SHARD_IDS='0' needs SHARD_COUNT: set it to the number of shards all the processes run together "
            "(the same in each)",
        ),
    ],
)
def test_invalid_shard_settings_are_named(shards: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {**REQUIRED, **shards})
    assert caught.value.problems == [problem]


def test_shard_problems_come_with_the_other_problems() -> None:
    # An unreadable SHARD_COUNT is named once; SHARD_IDS is not also blamed for lacking it.
    with pytest.raises(ConfigError) as caught:
        load_config(None, {**REQUIRED, "SHARD_COUNT": "x", "SHARD_IDS": "1", "POLL_INTERVAL_SECONDS": "-1"})
    assert caught.value.problems == [
        "POLL_INTERVAL_SECONDS='-1' is invalid: must be between 0.01 and 3600",
        "SHARD_COUNT='x' is invalid: must be a whole number",
    ]


def test_database_url_is_a_secret_postgresql_url() -> None:
    """DATABASE_URL may carry the PostgreSQL password: it is kept as a Secret (never in a repr or an error),
    and anything but a postgresql:// or postgres:// URL is refused by name."""
    assert load_config(None, REQUIRED).settings.database_url is None, "unset: the SQLite file"
    url = "postgresql://bot:pg-password-0123@db.internal:5432/grokbot"
    settings = load_config(None, {**REQUIRED, "DATABASE_URL": url}).settings
    assert settings.database_url == Secret(url) and "pg-password-0123" not in repr(settings)
    short = load_config(None, {**REQUIRED, "DATABASE_URL": "postgres:///grokbot"}).settings
    assert short.database_url is not None and short.database_url.get() == "postgres:///grokbot"
    for wrong in ("mysql://bot:pg-password-0123@db/grokbot", "db.internal:5432", "postgresql://"):
        with pytest.raises(ConfigError) as info:
            load_config(None, {**REQUIRED, "DATABASE_URL": wrong})
        assert info.value.problems == [
            "DATABASE_URL=*** is invalid: must be a PostgreSQL URL, postgresql://user:password@host:5432/database "
            "(leave it unset to keep the SQLite file at DATABASE_PATH)"
        ]
        assert "pg-password-0123" not in str(info.value)
