"""Every setting in one typed place, read once at start-up.

Values come from the process environment and from a `.env` file; the environment wins. A missing or
invalid value never surfaces as a traceback: `load_config` collects every problem, MODELS_FILE's included,
and raises one `ConfigError` whose message names them all (and never prints a secret). Names that look
like a misspelt setting are reported as warnings, never as errors.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import string
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from bot import i18n
from bot.core.catalogue import Catalogue, CatalogueError
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
    """Raised with every configuration problem at once, and the misspelt names that may explain some."""

    def __init__(self, problems: list[str], warnings: list[str] | None = None) -> None:
        self.problems = problems
        self.warnings = list(warnings or [])
        message = "The bot cannot start; fix these settings (in the environment or .env):\n"
        message += "\n".join(f"  - {p}" for p in problems)
        if self.warnings:
            message += "\nAlso check these names, which the bot does not read:\n"
            message += "\n".join(f"  - {w}" for w in self.warnings)
        super().__init__(message)


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


def _parse_log_format(raw: str) -> str:
    if raw.lower() not in ("text", "json"):
        raise ValueError("must be text or json")
    return raw.lower()


def _parse_shard_ids(raw: str) -> tuple[int, ...]:
    ids: list[int] = []
    for part in raw.split(","):
        text = part.strip()
        if not text.isdigit():
            raise ValueError("must be shard numbers separated by commas, such as 0,1")
        if int(text) in ids:
            raise ValueError(f"names shard {int(text)} twice")
        ids.append(int(text))
    return tuple(ids)


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


# Far below any real credential (a Discord bot token is about 70 characters, provider API keys are dozens of
# random characters), far above placeholders and slips ("x", "changeme", "token"): a value this short is a
# mistake, and redacting it from logs would also hide ordinary words.
MIN_SECRET_LENGTH = 12


def _parse_secret(raw: str) -> Secret:
    if len(raw) < MIN_SECRET_LENGTH:
        raise ValueError(
            f"is too short to be real (at least {MIN_SECRET_LENGTH} characters); paste the whole value, "
            "not a placeholder"
        )
    return Secret(raw)


def _parse_database_url(raw: str) -> Secret:
    # store_pg.POSTGRES_SCHEMES: config.py cannot import the store (the store imports Secret from here).
    if not raw.startswith(("postgresql://", "postgres://")) or raw.endswith("://"):
        raise ValueError(
            "must be a PostgreSQL URL, postgresql://user:password@host:5432/database (leave it unset to "
            "keep the SQLite file at DATABASE_PATH)"
        )
    return Secret(raw)


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

    discord_token: Secret = _setting("DISCORD_TOKEN", _NO_SECRET, _parse_secret, required=True, secret=True)
    grok_api_key: Secret = _setting("GROK_API_KEY", _NO_SECRET, _parse_secret, required=True, secret=True)
    grok_api_base_url: str = _setting("GROK_API_BASE_URL", DEFAULT_GROK_API_BASE_URL, _parse_url)
    database_path: Path = _setting("DATABASE_PATH", Path("data/bot.sqlite3"), Path)
    # PostgreSQL instead of the SQLite file, for several bot processes sharing one store. A Secret: the URL
    # may carry the password, so it never shows in a repr, a log line or a configuration error.
    database_url: Secret | None = _setting("DATABASE_URL", None, _parse_database_url, secret=True)
    video_dir: Path = _setting("VIDEO_DIR", Path("data/videos"), Path)
    poll_interval_seconds: float = _setting("POLL_INTERVAL_SECONDS", 30.0, _parse_float(0.01, 3600))
    task_timeout_seconds: float = _setting("TASK_TIMEOUT_SECONDS", 3600.0, _parse_float(1, 7 * 24 * 3600))
    dev_guild_id: int | None = _setting("DEV_GUILD_ID", None, _parse_snowflake)
    log_level: str = _setting("LOG_LEVEL", "INFO", _parse_log_level)
    models_file: Path | None = _setting("MODELS_FILE", None, Path)
    reply_mode: bool = _setting("REPLY_MODE", True, _parse_bool)
    # The background work runs in stages, each with its own bound, so a slow one never holds up another:
    # provider polls in flight (cheap coroutines; the request budget below sets their pace), video
    # downloads, ffmpeg shrinks (CPU-heavy, run at a lower priority) and Discord posts.
    poll_concurrency: int = _setting("POLL_CONCURRENCY", 16, _parse_int(1, 1024))
    download_concurrency: int = _setting("DOWNLOAD_CONCURRENCY", 3, _parse_int(1, 64))
    shrink_concurrency: int = _setting("SHRINK_CONCURRENCY", 1, _parse_int(1, 16))
    post_concurrency: int = _setting("POST_CONCURRENCY", 4, _parse_int(1, 64))
    # A download ends after this long in all, or as soon as the host sends less than 64 KiB over
    # DOWNLOAD_STALL_SECONDS (a link that trickles); either way it is retried until the task's deadline.
    download_timeout_seconds: float = _setting("DOWNLOAD_TIMEOUT_SECONDS", 300.0, _parse_float(1, 3600))
    download_stall_seconds: float = _setting("DOWNLOAD_STALL_SECONDS", 30.0, _parse_float(0.1, 3600))
    grok_timeout_seconds: float = _setting("GROK_TIMEOUT_SECONDS", 60.0, _parse_float(0.1, 600))
    # A task being worked on is leased to the process working on it, which renews the lease every third of
    # this; a task whose process died (a crash, a kill, a lost machine) is taken up by another process, or
    # the next start, within this long.
    task_lease_seconds: float = _setting("TASK_LEASE_SECONDS", 60.0, _parse_float(1, 3600))
    # Requests per second to the Grok API, creates and polls together (downloads are not counted). The
    # provider advises polling each task every 30-60 s and warns that polling more often may be rate
    # limited: 5/s serves 150-300 pending tasks at that pace, far more than a community bot has in flight,
    # and works off a restart's backlog of overdue tasks at a steady pace (1,000 in under 4 minutes).
    provider_max_rps: float = _setting("PROVIDER_MAX_RPS", 5.0, _parse_float(0.1, 1000))
    max_video_bytes: int = _setting("MAX_VIDEO_MB", 500 * MiB, _parse_megabytes)
    max_image_bytes: int = _setting("MAX_IMAGE_MB", 20 * MiB, _parse_megabytes)
    status_edit_seconds: float = _setting("STATUS_EDIT_SECONDS", 5.0, _parse_float(0, 3600))
    # Fair use (per-server overrides: /videoadmin limits). 0 means no limit.
    max_active_per_member: int = _setting("MAX_ACTIVE_PER_MEMBER", 2, _parse_int(0, 100))
    cooldown_seconds: float = _setting("COOLDOWN_SECONDS", 30.0, _parse_float(0, 7 * 24 * 3600))
    member_daily_seconds: int = _setting("MEMBER_DAILY_SECONDS", 0, _parse_int(0, 10_000_000))
    server_daily_seconds: int = _setting("SERVER_DAILY_SECONDS", 0, _parse_int(0, 10_000_000))
    bypass_role_id: int | None = _setting("BYPASS_ROLE_ID", None, _parse_snowflake)
    # The line: most videos with the provider at once across all servers (0 = no limit; a server can bound
    # its own with /videoadmin limits max_in_flight). Requests beyond it wait in the store, served fairly.
    max_in_flight: int = _setting("MAX_IN_FLIGHT", 0, _parse_int(0, 10_000))
    # Money: the owner's price per video-second (per-second models) or per video (per-call models).
    prices: dict[str, float] | None = _setting("PRICES", None, parse_prices)
    currency: str = _setting("CURRENCY", "USD", _parse_currency)
    # The language for members whose Discord language has no catalogue, and for messages meant for no one
    # member (a Discord locale code: en-US, de, zh-CN, ...; bot/i18n).
    default_locale: str = _setting("DEFAULT_LOCALE", "en-US", i18n.parse_locale)
    # Operations: /healthz and /metrics on HEALTH_HOST:HEALTH_PORT (no port: off; 0: any free port), and
    # the log format (text for people, json for a log collector: one object per line).
    health_host: str = _setting("HEALTH_HOST", "127.0.0.1", str)
    health_port: int | None = _setting("HEALTH_PORT", None, _parse_int(0, 65535))
    log_format: str = _setting("LOG_FORMAT", "text", _parse_log_format)
    # Gateway shards: how many in all (unset: Discord's recommendation) and which this process runs (unset:
    # all of them). Several processes on one database each run their own SHARD_IDS of one SHARD_COUNT.
    shard_count: int | None = _setting("SHARD_COUNT", None, _parse_int(1, 100_000))
    shard_ids: tuple[int, ...] | None = _setting("SHARD_IDS", None, _parse_shard_ids)
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


def _read_sources(
    env_file: Path | None, environ: Mapping[str, str] | None
) -> tuple[dict[str, str], Mapping[str, str]]:
    """The `.env` file's values and the process environment, apart."""
    from_file: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        from_file = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return from_file, os.environ if environ is None else environ


def _parse_settings(raw: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Each setting's parsed value, and a sentence for each one that is missing or invalid."""
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
    return values, problems


def _shard_problems(values: Mapping[str, Any], raw: Mapping[str, str]) -> list[str]:
    """SHARD_IDS against SHARD_COUNT (each parsed alone first; an invalid SHARD_COUNT is reported already)."""
    ids: tuple[int, ...] | None = values.get("shard_ids")
    if ids is None:
        return []
    shown = repr(raw.get("SHARD_IDS", "").strip())
    count: int | None = values.get("shard_count")
    if count is None:
        if raw.get("SHARD_COUNT", "").strip():
            return []
        return [
            f"SHARD_IDS={shown} needs SHARD_COUNT: set it to the number of shards all the processes run "
            "together (the same in each)"
        ]
    beyond = [i for i in ids if i >= count]
    if beyond:
        listed = ", ".join(map(str, beyond))
        last = count - 1
        return [
            f"SHARD_IDS={shown} is invalid: with SHARD_COUNT={count} the shards are 0 to {last}, not {listed}"
        ]
    return []


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    catalogue: Catalogue
    warnings: tuple[str, ...]  # possibly misspelt names, for the log at start


def load_config(env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None) -> Config:
    """Settings and the model catalogue (MODELS_FILE) together; one ConfigError names all their problems."""
    from_file, from_env = _read_sources(env_file, environ)
    values, problems = _parse_settings({**from_file, **from_env})
    problems.extend(_shard_problems(values, {**from_file, **from_env}))
    catalogue: Catalogue | None = None
    try:
        catalogue = Catalogue.load(values.get("models_file"))
    except CatalogueError as exc:
        problems.extend(f"MODELS_FILE {exc.path}: {p}" for p in exc.problems)
    warnings = misspelt_settings(from_file, from_env)
    if problems or catalogue is None:
        raise ConfigError(problems, warnings)
    return Config(Settings(**values), catalogue, tuple(warnings))


# ---- names that look like a misspelt setting -------------------------------------------------------------

SETTING_NAMES: tuple[str, ...] = tuple(f.metadata["env"] for f in fields(Settings))
_SETTING_WORDS = frozenset(word for name in SETTING_NAMES for word in name.split("_"))
# Every name in .env was written for this bot, so a looser likeness is worth a word there; the environment
# holds everything else on the machine, so it must look much more like a setting before we speak up.
_DOTENV_CUTOFF = 0.7
_ENVIRON_CUTOFF = 0.8


def _resembles(name: str, cutoff: float) -> str | None:
    """The setting `name` was probably meant to be: written in another case, a close spelling, or a
    setting's name cut short at a word (POLL_INTERVAL for POLL_INTERVAL_SECONDS)."""
    upper = name.upper()
    close = difflib.get_close_matches(upper, SETTING_NAMES, n=1, cutoff=cutoff)
    if close:
        return close[0]
    if "_" in upper:  # two words at least: "MAX" alone says too little
        return next((s for s in SETTING_NAMES if s.startswith(upper + "_")), None)
    return None


def misspelt_settings(from_file: Mapping[str, str], from_env: Mapping[str, str]) -> list[str]:
    """A warning for each name in `.env`, or each setting-like name in the environment, that the bot does
    not read but that resembles one of its settings. Names only: a value may be a secret."""
    # The environment holds PATH, HOME, LANG…: only a name sharing a word with a setting is looked at.
    env_names = [n for n in from_env if not _SETTING_WORDS.isdisjoint(n.upper().split("_"))]
    sources = ((from_file, "in .env", _DOTENV_CUTOFF), (env_names, "in the environment", _ENVIRON_CUTOFF))
    warnings: list[str] = []
    seen: set[str] = set(SETTING_NAMES)
    for names, where, cutoff in sources:
        for name in sorted(set(names) - seen):
            if meant := _resembles(name, cutoff):
                seen.add(name)
                case = " (names are case-sensitive)" if meant == name.upper() else ""
                warning = f"{name} ({where}) is not a setting and is ignored; did you mean {meant}?"
                warnings.append(warning + case)
    return warnings


_REQUIRED_HINTS = {
    "DISCORD_TOKEN": "the bot token from the Discord Developer Portal (Bot → Reset Token).",
    "GROK_API_KEY": "the API key from your Grok video API provider.",
}


_ALNUM = frozenset(string.ascii_letters + string.digits)
_JOINERS = frozenset("._-")


def _inside_longer_token(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is part of a longer run of token characters [A-Za-z0-9._-].

    A letter or digit next to it, or reached through '.', '_' or '-', makes it part of a longer word
    ("Traceback" holds "ace"). A run of '.', '_' or '-' that reaches no letter or digit is punctuation, so
    "key KEY." at the end of a sentence and "KEY..." still count as the whole KEY.
    """
    after = end
    while after < len(text) and text[after] in _JOINERS:
        after += 1
    before = start - 1
    while before >= 0 and text[before] in _JOINERS:
        before -= 1
    return (after < len(text) and text[after] in _ALNUM) or (before >= 0 and text[before] in _ALNUM)


def url_passwords(url: str) -> list[str]:
    """The password a database URL carries (in its user part, or as ?password=), as written and
    percent-decoded (as the driver uses it): what must never be shown."""
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(url)
        found = parts.password or next(iter(urllib.parse.parse_qs(parts.query).get("password", [])), None)
        if found:
            return sorted({found, urllib.parse.unquote(found)})
    return []


def url_location(url: str) -> str:
    """A database URL without its user, password and options: which server and database, for messages.
    Cut after the last "@" first: a password written raw may hold "?" or "/" (a host never holds "@");
    any password form still left is masked."""
    scheme, _, rest = url.partition("://")
    shown = f"{scheme}://{rest.rpartition('@')[2].split('?', 1)[0]}"
    for secret in url_passwords(url):
        shown = shown.replace(secret, "***")
    return shown


def redact(text: str, secret: str) -> str:
    """`text` with each whole-token occurrence of `secret` replaced by `***` (see _inside_longer_token)."""
    parts: list[str] = []
    done = 0
    found = text.find(secret)
    while found != -1:
        end = found + len(secret)
        if _inside_longer_token(text, found, end):
            found = text.find(secret, found + 1)
            continue
        parts += [text[done:found], "***"]
        done = end
        found = text.find(secret, end)
    parts.append(text[done:])
    return "".join(parts)


class RedactingFilter(logging.Filter):
    """Replaces every known secret in log records by `***`, whatever logged it (discord.py, aiohttp, us).

    Only a whole token is replaced: the secret with no letter or digit joined to it, directly or through '.',
    '_' or '-'. So it is caught after `Bearer `, `?api_key=`, `token:`, inside quotes or JSON and before a
    full stop, while a short value never eats pieces of ordinary words. (The settings also refuse secrets
    shorter than MIN_SECRET_LENGTH.)
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = redact(text, secret)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            # Render the traceback now so the redaction covers it too. Kept apart in exc_text: the text
            # format appends it to the message, the JSON format gives it a field of its own.
            record.exc_text = self._redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        record.msg, record.args = self._redact(record.getMessage()), None
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        return True
