"""Every setting in one typed place, read once at start-up.

Values come from the process environment and from a `.env` file; the environment wins. A missing or
invalid value never surfaces as a traceback: `load_settings` collects every problem and raises one
`ConfigError` whose message names them all (and never prints a secret).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bot.core.policy import Limits, parse_prices

DEFAULT_GROK_API_BASE_URL = "https://zcbservice.aizfw.cn/kyyReactApiServer"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Secret:
    """A string that never shows itself in a repr, a log line or an f-string."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConfigError(Exception):
    """Raised with every configuration problem at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"The bot cannot start; fix these settings (in the environment or .env):\n{lines}")


def _parse_float(minimum: float, maximum: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if not (minimum <= value <= maximum):
            raise ValueError(f"must be between {minimum:g} and {maximum:g}")
        return value

    return parse


def _parse_int(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not (minimum <= value <= maximum):
            raise ValueError(f"must be between {minimum} and {maximum}")
        return value

    return parse


def _parse_snowflake(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be a Discord id (right-click → Copy ID)") from None
    if value <= 0:
        raise ValueError("must be a Discord id (right-click → Copy ID)")
    return value


def _parse_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


def _parse_ws_url(raw: str) -> str:
    if not raw.startswith(("ws://", "wss://")):
        raise ValueError("must start with ws:// or wss://")
    return raw.rstrip("/")


def _parse_megabytes(raw: str) -> int:
    return int(_parse_float(0.001, 100_000)(raw) * MiB)


def _parse_currency(raw: str) -> str:
    if not (1 <= len(raw) <= 8) or not raw.replace("$", "").replace("€", "").isalnum():
        raise ValueError("must be a short currency name such as USD, EUR or credits")
    return raw


def _parse_log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _setting(
    name: str, default: Any, parse: Callable[[str], Any], *, required: bool = False, secret: bool = False
) -> Any:
    metadata = {"env": name, "parse": parse, "required": required, "secret": secret}
    return field(default=default, metadata=metadata)


_NO_SECRET = Secret("")
MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """One attribute per environment variable; README's settings table lists the same names."""

    discord_token: Secret = _setting("DISCORD_TOKEN", _NO_SECRET, Secret, required=True, secret=True)
    grok_api_key: Secret = _setting("GROK_API_KEY", _NO_SECRET, Secret, required=True, secret=True)
    grok_api_base_url: str = _setting("GROK_API_BASE_URL", DEFAULT_GROK_API_BASE_URL, _parse_url)
    database_path: Path = _setting("DATABASE_PATH", Path("data/bot.sqlite3"), Path)
    video_dir: Path = _setting("VIDEO_DIR", Path("data/videos"), Path)
    poll_interval_seconds: float = _setting("POLL_INTERVAL_SECONDS", 30.0, _parse_float(0.01, 3600))
    task_timeout_seconds: float = _setting("TASK_TIMEOUT_SECONDS", 3600.0, _parse_float(1, 7 * 24 * 3600))
    dev_guild_id: int | None = _setting("DEV_GUILD_ID", None, _parse_snowflake)
    log_level: str = _setting("LOG_LEVEL", "INFO", _parse_log_level)
    models_file: Path | None = _setting("MODELS_FILE", None, Path)
    reply_mode: bool = _setting("REPLY_MODE", True, _parse_bool)
    poll_concurrency: int = _setting("POLL_CONCURRENCY", 4, _parse_int(1, 64))
    grok_timeout_seconds: float = _setting("GROK_TIMEOUT_SECONDS", 60.0, _parse_float(0.1, 600))
    max_video_bytes: int = _setting("MAX_VIDEO_MB", 500 * MiB, _parse_megabytes)
    max_image_bytes: int = _setting("MAX_IMAGE_MB", 20 * MiB, _parse_megabytes)
    status_edit_seconds: float = _setting("STATUS_EDIT_SECONDS", 5.0, _parse_float(0, 3600))
    # Fair use (per-server overrides: /videoadmin limits). 0 means no limit.
    max_active_per_member: int = _setting("MAX_ACTIVE_PER_MEMBER", 2, _parse_int(0, 100))
    cooldown_seconds: float = _setting("COOLDOWN_SECONDS", 30.0, _parse_float(0, 7 * 24 * 3600))
    member_daily_seconds: int = _setting("MEMBER_DAILY_SECONDS", 0, _parse_int(0, 10_000_000))
    server_daily_seconds: int = _setting("SERVER_DAILY_SECONDS", 0, _parse_int(0, 10_000_000))
    bypass_role_id: int | None = _setting("BYPASS_ROLE_ID", None, _parse_snowflake)
    # Money: the owner's price per video-second (per-second models) or per video (per-call models).
    prices: dict[str, float] | None = _setting("PRICES", None, parse_prices)
    currency: str = _setting("CURRENCY", "USD", _parse_currency)
    # Advanced: where discord.py connects. Only for tests (the loopback emulator) or an API proxy.
    discord_api_base_url: str | None = _setting("DISCORD_API_BASE_URL", None, _parse_url)
    discord_gateway_url: str | None = _setting("DISCORD_GATEWAY_URL", None, _parse_ws_url)

    @property
    def default_limits(self) -> Limits:
        return Limits(
            max_active=self.max_active_per_member,
            cooldown_seconds=self.cooldown_seconds,
            member_daily_seconds=self.member_daily_seconds,
            server_daily_seconds=self.server_daily_seconds,
        )

    @property
    def price_table(self) -> dict[str, float]:
        return self.prices or {}

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"Settings({shown})"


def read_environment(
    env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The `.env` file's values overlaid by the real environment (which wins)."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def load_settings(env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None) -> Settings:
    raw = read_environment(env_file, environ)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in fields(Settings):
        name = f.metadata["env"]
        text = raw.get(name, "").strip()
        if not text:
            if f.metadata["required"]:
                problems.append(f"{name} is missing: {_REQUIRED_HINTS[name]}")
            continue
        try:
            values[f.name] = f.metadata["parse"](text)
        except ValueError as exc:
            shown = "***" if f.metadata["secret"] else repr(text)
            problems.append(f"{name}={shown} is invalid: {exc}")
    if problems:
        raise ConfigError(problems)
    return Settings(**values)


_REQUIRED_HINTS = {
    "DISCORD_TOKEN": "the bot token from the Discord Developer Portal (Bot → Reset Token).",
    "GROK_API_KEY": "the API key from your Grok video API provider.",
}


class RedactingFilter(logging.Filter):
    """Replaces every known secret in log records by `***`, whatever logged it (discord.py, aiohttp, us)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now so the redaction covers it too.
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info = None
            record.exc_text = None
        redacted = message
        for secret in self._secrets:
            redacted = redacted.replace(secret, "***")
        record.msg, record.args = redacted, None
        return True


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter([settings.discord_token.get(), settings.grok_api_key.get()]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    # discord.py's gateway chatter at DEBUG is noise for an owner; keep it at INFO unless asked.
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
