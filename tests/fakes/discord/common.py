"""What every part of the emulator shares: snowflake ids, id coercion, and Discord's error answers.

new_snowflake(shard=None) -> int   a real-looking, strictly increasing snowflake (discord.py's created_at
                              works); shard=(k, n): one that, as a guild id, lands on shard k of n
shard_of(guild_id, shard_count) -> int   Discord's rule: (guild_id >> 22) % shard_count
id_of(obj) -> int             an id from an int, a numeric str, a world object, a payload dict or a
                              discord.py object
DiscordError(status, code, message, errors=None)     an error answer; .body() is Discord's JSON shape
form_error(field_path, code, message) -> DiscordError  400 50035 "Invalid Form Body" naming one field
iso_time(ts=None) -> str      an ISO 8601 timestamp (now, or the epoch seconds `ts`), as Discord writes them
DISCORD_EPOCH, API_VERSION, MiB
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

DISCORD_EPOCH = 1420070400000
API_VERSION = 10
MiB = 1024 * 1024

_id_lock = threading.Lock()
_last_id = 0


def new_snowflake(shard: tuple[int, int] | None = None) -> int:
    """A real-looking, strictly increasing snowflake (so discord.py's created_at is meaningful).

    With `shard=(k, n)`, a guild with this id belongs to shard k of n: its timestamp is moved on by at most
    n - 1 milliseconds until `shard_of(id, n) == k`."""
    global _last_id
    if shard is not None and not 0 <= shard[0] < shard[1]:
        raise ValueError(f"no shard {shard[0]} among {shard[1]}")
    with _id_lock:
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH) << 22
        _last_id = max(candidate, _last_id + 1)
        if shard is not None and shard_of(_last_id, shard[1]) != shard[0]:
            millis = _last_id >> 22
            _last_id = (millis + (shard[0] - millis) % shard[1]) << 22
        return _last_id


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard a guild's events go to (Discord's rule); DMs go to shard 0."""
    return (guild_id >> 22) % shard_count


def iso_time(ts: float | None = None) -> str:
    when = dt.datetime.now(dt.UTC) if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)
    return when.isoformat()


def id_of(obj: Any) -> int:
    """An id from an int, a numeric str, a world object, a payload dict or a discord.py object."""
    if isinstance(obj, bool):
        raise TypeError(f"not an id: {obj!r}")
    if isinstance(obj, int):
        return obj
    if isinstance(obj, str):
        return int(obj)
    if isinstance(obj, dict):
        return int(obj["id"])
    if hasattr(obj, "id"):
        return int(obj.id)
    raise TypeError(f"not an id: {obj!r}")


class DiscordError(Exception):
    """An error answer in Discord's shape: {"code": int, "message": str[, "errors": {...}]}."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def form_error(field_path: str, code: str, message: str) -> DiscordError:
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        errors = {part: errors}
    return DiscordError(400, 50035, "Invalid Form Body", errors)
