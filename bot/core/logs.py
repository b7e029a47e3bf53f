"""Logging set-up: readable text (the default) or one JSON object per line (LOG_FORMAT=json), secrets redacted
in both (config.RedactingFilter runs before either format).

A JSON line has `time` (ISO-8601, UTC, milliseconds), `level`, `logger`, `message`, and when known `task_id`,
`guild_id` and `member_id`: given with `extra=task_fields(task)` at a log site, or taken from the task the
current asyncio task is handling (`bind_task`, set by the poller for each task it works on, so whatever logs
meanwhile, delivery included, names it). A traceback is one string field, `exc`.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

from bot.core.config import RedactingFilter, Settings, url_passwords
from bot.core.store import Task

TEXT_FORMAT: Final = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
#: The ids a line may carry, from `extra=` or from the task in hand.
ID_FIELDS: Final = ("task_id", "guild_id", "member_id")

_TASK_IDS: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("task_ids", default=None)


def task_fields(task: Task) -> dict[str, int]:
    """`extra=` for a log line about `task`."""
    fields = {"task_id": task.id, "member_id": task.requester_id}
    if task.guild_id is not None:
        fields["guild_id"] = task.guild_id
    return fields


def bind_task(task: Task) -> None:
    """Name `task` in every line logged from the current asyncio task on (a worker handles one task)."""
    _TASK_IDS.set(task_fields(task))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        bound = _TASK_IDS.get() or {}
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value is None:
                value = bound.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:  # only without the RedactingFilter (it renders it)
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


def make_handler(settings: Settings) -> logging.Handler:
    """A stderr handler in LOG_FORMAT, redacting DISCORD_TOKEN and GROK_API_KEY."""
    handler = logging.StreamHandler()
    formatter = JsonFormatter() if settings.log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    secrets = [settings.discord_token.get(), settings.grok_api_key.get()]
    if settings.database_url is not None:  # the PostgreSQL password, and the whole URL that carries it
        url = settings.database_url.get()
        secrets += [url, *url_passwords(url)]
    handler.addFilter(RedactingFilter(secrets))
    return handler


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler(settings)]
    root.setLevel(settings.log_level)
    # discord.py's gateway chatter at DEBUG is noise for an owner; keep it at INFO unless asked.
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
